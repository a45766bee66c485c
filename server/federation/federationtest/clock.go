package federationtest

import (
	"sync"
	"time"
)

// Clock is a settable clock for tests that inject time into a verifier
// and into the issuer's claim sets; it starts at the real time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at time.Now.
func NewClock() *Clock { return &Clock{now: time.Now()} }

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
