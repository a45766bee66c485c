package server

import (
	"context"
	"time"
)

// pruneForeignTokensEvery is how often the replay records of foreign
// tokens (federation: one per exchanged issuer and jti, kept until the
// foreign token's exp) are swept once expired. Expired records protect
// nothing (ConsumeForeignToken replaces one it meets), so the sweep only
// bounds the store's size; foreign tokens live minutes, so an hourly
// sweep keeps at most an hour of exchanges.
const pruneForeignTokensEvery = time.Hour

// runForeignTokenPruner starts the sweep (joined at shutdown).
func (s *Server) runForeignTokenPruner(bg context.Context) {
	tick := time.NewTicker(pruneForeignTokensEvery)
	s.background.Go(func() {
		defer tick.Stop()
		s.pruneForeignTokens(bg, tick.C)
	})
}

// pruneForeignTokens deletes the expired replay records at every tick
// until ctx ends. On etcd every replica sweeps; the deletes are
// idempotent and re-check each record in their own transaction.
func (s *Server) pruneForeignTokens(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if n, err := s.store.PruneForeignTokens(ctx, s.now()); err != nil {
				s.log.Warn().Err(err).Msg("pruning expired foreign-token replay records failed; will retry")
			} else if n > 0 {
				s.log.Debug().Int("records", n).Msg("pruned expired foreign-token replay records")
			}
		}
	}
}
