package accounts

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// usageRecorder remembers the latest use of each key in memory and writes
// them to the store in one batch per interval, so the token path never
// waits for a disk write. A crash loses at most one interval of
// lastUsedAt/lastUsedIp updates and nothing else.
type usageRecorder struct {
	mu      sync.Mutex
	pending map[string]store.KeyUsage
}

func (r *usageRecorder) record(keyID string, at time.Time, ip netip.Addr) {
	u := store.KeyUsage{KeyID: keyID, At: at.UTC()}
	if ip.IsValid() {
		u.IP = ip.String()
	}
	r.mu.Lock()
	if prev, ok := r.pending[keyID]; !ok || u.At.After(prev.At) {
		if r.pending == nil {
			r.pending = map[string]store.KeyUsage{}
		}
		r.pending[keyID] = u
	}
	r.mu.Unlock()
}

func (r *usageRecorder) take() []store.KeyUsage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return nil
	}
	out := make([]store.KeyUsage, 0, len(r.pending))
	for _, u := range r.pending {
		out = append(out, u)
	}
	r.pending = nil
	return out
}

// FlushUsage writes the buffered last-used observations now.
func (s *Service) FlushUsage(ctx context.Context) error {
	batch := s.usage.take()
	if len(batch) == 0 {
		return nil
	}
	if err := s.store.RecordKeyUsage(ctx, batch); err != nil {
		// Put them back so the next flush retries; newer uses win anyway.
		for _, u := range batch {
			ip, _ := netip.ParseAddr(u.IP)
			s.usage.record(u.KeyID, u.At, ip)
		}
		return err
	}
	return nil
}

// RunUsageFlusher flushes every interval until ctx ends, then once more.
func (s *Service) RunUsageFlusher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.FlushUsage(context.WithoutCancel(ctx)); err != nil {
				s.log.Error().Err(err).Msg("final flush of key usage failed")
			}
			return
		case <-t.C:
			if err := s.FlushUsage(ctx); err != nil {
				s.log.Warn().Err(err).Msg("flushing key usage failed; will retry")
			}
		}
	}
}
