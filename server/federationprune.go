package server

import (
	"context"
	"time"

	"github.com/tokenwright/tokenwright/server/federation"
)

// runReplayPruner deletes expired replay records of foreign tokens every
// federation.ReplayPruneEvery until bg ends (a background job, joined by
// Close).
func (s *Server) runReplayPruner(bg context.Context) {
	tick := time.NewTicker(federation.ReplayPruneEvery)
	s.background.Go(func() {
		defer tick.Stop()
		federation.PruneReplays(bg, s.store, s.now, tick.C, s.log)
	})
}
