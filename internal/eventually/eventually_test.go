package eventually

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A wait in a Cleanup function, after the test's context has ended, still
// waits for its condition.
func TestPollInCleanup(t *testing.T) {
	t.Parallel()
	t.Run("cleanup", func(t *testing.T) {
		t.Cleanup(func() {
			var calls atomic.Int32
			if err := poll(t, 5*time.Second, func() error {
				if calls.Add(1) < 3 {
					return errors.New("not yet")
				}
				return nil
			}); err != nil {
				t.Errorf("poll in a Cleanup: %v", err)
			}
		})
	})
}

func TestPoll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		okAfter int32 // calls until check succeeds; -1 never
		timeout time.Duration
		wantErr bool
	}{
		{"at once", 0, time.Second, false},
		{"after a few", 3, 5 * time.Second, false},
		{"never", -1, 50 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			boom := errors.New("boom")
			start := time.Now()
			err := poll(t, tc.timeout, func() error {
				if n := calls.Add(1) - 1; tc.okAfter >= 0 && n >= tc.okAfter {
					return nil
				}
				return boom
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("poll = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, boom) {
				t.Fatalf("poll = %v, want the check's last error", err)
			}
			if !tc.wantErr && time.Since(start) > tc.timeout {
				t.Fatalf("poll took %v, longer than its timeout %v", time.Since(start), tc.timeout)
			}
			if tc.okAfter > 0 && calls.Load() != tc.okAfter+1 {
				t.Fatalf("check called %d times, want %d", calls.Load(), tc.okAfter+1)
			}
		})
	}
}
