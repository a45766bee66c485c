// Package testclock is the settable clock tests inject into servers,
// verifiers and issuers (one type instead of a copy per test package).
package testclock

import (
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use; it starts at the
// real time and moves only when Advance is called.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock at time.Now.
func New() *Clock { return &Clock{now: time.Now()} }

// Now reports the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
