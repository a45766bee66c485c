// Package eventually waits, in tests, for something another goroutine or
// process makes true: a listener that starts accepting, a watch that
// delivers, a log line that appears. It is the one polling loop of the test
// suite, so that no test synchronises by sleeping a guessed duration: a
// condition checked often returns as soon as it holds, and one that never
// holds fails with what was last seen instead of hanging.
package eventually

import (
	"fmt"
	"testing"
	"time"
)

// first and most are the bounds of the interval between checks: short at
// first, because most conditions hold within milliseconds, then backing
// off so that a slow one does not spin the (shared, 2-core) CI machine.
const (
	first = 5 * time.Millisecond
	most  = 100 * time.Millisecond
)

// Nil calls check until it returns nil and fails t (Fatal) if that has not
// happened within timeout, reporting the last error and what, which names
// the awaited condition. It also stops when t's context ends, unless it had
// ended already (a wait in a t.Cleanup function).
func Nil(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	if err := poll(t, timeout, check); err != nil {
		t.Fatalf("%s: not within %v: %v", what, timeout, err)
	}
}

// True calls cond until it returns true and fails t (Fatal) if that has
// not happened within timeout; what names the awaited condition.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Nil(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = fmt.Errorf("condition still false")

// poll returns nil once check does, or check's last error when timeout
// passes or t's context ends.
func poll(t testing.TB, timeout time.Duration, check func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ended := t.Context().Done()
	if t.Context().Err() != nil {
		ended = nil // in a Cleanup: only the timeout ends the wait
	}
	wait := first
	for {
		err := check()
		if err == nil {
			return nil
		}
		tick := time.NewTimer(wait)
		select {
		case <-tick.C:
		case <-deadline.C:
			tick.Stop()
			// One last look: the condition may have become true while
			// waiting, and a timeout shorter than the interval still gets
			// a second check.
			if err := check(); err != nil {
				return err
			}
			return nil
		case <-ended:
			tick.Stop()
			return fmt.Errorf("%w (test ended)", err)
		}
		wait = min(2*wait, most)
	}
}
