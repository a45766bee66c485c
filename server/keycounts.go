package server

import (
	"context"
	"sync"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/store"
)

// keyCounts caches the number of API keys and PATs by status for the
// tokenwright_keys gauges. A scrape reads the cache and never the store:
// counting means reading every key, which on a store of a million keys
// must not happen every 15 seconds per Prometheus server. The counts are
// recomputed on the expiry-notice job's schedule (notifications.interval),
// whose question (what expires soon?) they answer for dashboards and
// alerts; tokenwright_keys_counted_timestamp_seconds says how old they are.
//
// Why not maintained incrementally on writes: the statuses expiring_soon
// and expired change with time, not with writes, and on etcd other
// replicas write too, so per-process counters would drift and still need
// a periodic recount to be right.
type keyCounts struct {
	mu     sync.Mutex
	counts []metrics.KeyCount
	at     time.Time
}

// snapshot is what the metrics collector reads.
func (c *keyCounts) snapshot() ([]metrics.KeyCount, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts, c.at
}

// refresh recounts the keys in st with the account rules' statuses.
func (c *keyCounts) refresh(ctx context.Context, st store.Store, rules *accounts.Service, now time.Time) error {
	keys, err := st.ListKeys(ctx, store.KeyQuery{})
	if err != nil {
		return err
	}
	type kindStatus struct{ kind, status string }
	n := map[kindStatus]int{}
	for _, k := range keys {
		n[kindStatus{string(k.Kind), string(rules.KeyStatus(k))}]++
	}
	var out []metrics.KeyCount
	// Every kind and status is reported, 0 included, so that an alert on
	// expiring_soon sees 0 rather than a missing series.
	for _, kind := range []store.KeyKind{store.KindServiceKey, store.KindPersonalToken} {
		for _, status := range []accounts.KeyStatus{accounts.KeyActive, accounts.KeyExpiringSoon, accounts.KeyExpired, accounts.KeyRevoked} {
			out = append(out, metrics.KeyCount{Kind: string(kind), Status: string(status), N: n[kindStatus{string(kind), string(status)}]})
		}
	}
	c.mu.Lock()
	c.counts, c.at = out, now
	c.mu.Unlock()
	return nil
}

// runKeyCounts recounts now and then every interval until ctx ends.
func (s *Server) runKeyCounts(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.keyCounts.refresh(ctx, s.store, s.accounts, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error().Err(err).Msg("counting keys for the metrics failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
