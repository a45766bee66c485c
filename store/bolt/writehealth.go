package bolt

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// classifyWrite turns the operating system's "the disk cannot take this"
// errors into a *store.WriteError (an ErrUnavailable: the API answers 503
// with the reason), and leaves every other error alone.
func classifyWrite(err error) error {
	if err == nil {
		return nil
	}
	var reason string
	switch {
	case errors.Is(err, syscall.ENOSPC):
		reason = "the database's filesystem is full"
	case errors.Is(err, syscall.EDQUOT):
		reason = "the disk quota of the database's filesystem is exhausted"
	case errors.Is(err, syscall.EROFS):
		reason = "the database's filesystem is read-only"
	case errors.Is(err, syscall.EIO):
		reason = "the database's disk reports an I/O error"
	default:
		return err
	}
	return &store.WriteError{Reason: reason, Err: err}
}

// probeInterval is how often, at most, Health re-tests a filesystem that
// refused a write: /readyz stays cheap however often it is polled.
const probeInterval = time.Second

// probeSize is written (and synced, then removed) by the probe: a
// filesystem that cannot take it cannot take a transaction either.
const probeSize = 64 << 10

// writeHealth remembers the last write the filesystem refused, so that
// Health (and so /readyz) reports not ready while writes fail. Only a probe
// ends that state, not the next write that happens to succeed: on a nearly
// full disk small writes (an audit event, usage times) fit in pages bbolt
// freed while bigger ones keep failing, and readiness must not flap with
// them. Health probes at most once per probeInterval while the failure
// stands, so it recovers within about a second of the next /readyz after
// the operator frees space.
type writeHealth struct {
	dir string

	mu        sync.Mutex
	failure   error     // nil: no write has failed since the last good probe
	lastProbe time.Time // monotonic
}

// observe records the outcome of a write transaction; err is classified.
func (h *writeHealth) observe(err error) {
	we := (*store.WriteError)(nil)
	if !errors.As(err, &we) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failure, h.lastProbe = err, time.Now()
}

// check returns the standing write failure, re-probing the filesystem when
// the last probe is older than probeInterval.
func (h *writeHealth) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failure == nil {
		return nil
	}
	if time.Since(h.lastProbe) < probeInterval {
		return h.failure
	}
	h.lastProbe = time.Now()
	if err := classifyWrite(probe(h.dir)); err != nil {
		var we *store.WriteError
		if errors.As(err, &we) {
			h.failure = err
		} else {
			h.failure = fmt.Errorf("bolt: write probe: %v: %w", err, store.ErrUnavailable)
		}
		return h.failure
	}
	h.failure = nil
	return nil
}

// probe writes, syncs and removes a probeSize file in dir.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	defer os.Remove(name)
	_, werr := f.Write(make([]byte, probeSize))
	return errors.Join(werr, f.Sync(), f.Close())
}
