package server

import (
	"context"
	"time"

	"github.com/tokenwright/tokenwright/server/keycounts"
	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/store"
)

// followKeyCounts keeps s.keyCounts (the tokenwright_keys gauges) up to
// date from the store's key feed until ctx ends: one full count now, then
// every change, including, on etcd, those of the other replicas (see
// server/keycounts). A scrape reads the counts and never the store. A
// store without a feed has no key gauges.
func (s *Server) followKeyCounts(ctx context.Context, db store.Store) {
	feed, ok := db.(store.KeyFeed)
	if !ok {
		return
	}
	stop, err := feed.FollowKeys(ctx, s.keyCounts.Reset, s.keyCounts.Changed)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error().Err(err).Msg("counting keys for the metrics failed; tokenwright_keys is not exported")
		}
		return
	}
	<-ctx.Done()
	stop()
}

// keyCountsForMetrics is the counts as the metrics report them.
func (s *Server) keyCountsForMetrics() ([]metrics.KeyCount, time.Time) {
	counts, at := s.keyCounts.Snapshot()
	out := make([]metrics.KeyCount, 0, len(counts))
	for _, c := range counts {
		out = append(out, metrics.KeyCount{Kind: string(c.Kind), Status: string(c.Status), N: c.N})
	}
	return out, at
}

// newKeyCounts applies the account rules' key statuses on the server's
// clock.
func (s *Server) newKeyCounts() *keycounts.Counts {
	return keycounts.New(s.accounts.KeyStatusUntil, s.now)
}
