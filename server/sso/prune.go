package sso

import (
	"context"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// PruneEvery is how often the server deletes expired sessions. A session
// is refused the moment it expires whatever this says (live checks the
// timeouts on every request); pruning only removes the records of
// sessions never presented again, and audits their end.
const PruneEvery = 10 * time.Minute

// PruneExpired deletes the sessions expired now and audits the end of
// each (session.expire, with which timeout ended it). A session presented
// after it expired is deleted and audited by live instead; the store
// deletes each session once, so no end is audited twice.
func (m *Manager) PruneExpired(ctx context.Context) (int, error) {
	now := m.opts.Now()
	pruned, err := m.opts.Store.PruneSessions(ctx, now)
	if err != nil {
		return 0, err
	}
	for _, se := range pruned {
		if se.Kind == store.SessionCLICode || se.Kind == store.SessionCLIDevice {
			// A code never exchanged, or the mark of a redeemed device
			// code: records of a sign-in, not sessions anyone had.
			continue
		}
		timeout := "idle"
		if !now.Before(se.ExpiresAt) {
			timeout = "absolute"
		}
		m.audit(ctx, se.User, "session.expire", store.ResultSuccess, "", map[string]string{"timeout": timeout, "by": "prune", "kind": string(se.Kind)})
	}
	return len(pruned), nil
}

// RunPruner prunes expired sessions at every tick until ctx ends (the
// server runs it with a PruneEvery ticker and joins it at shutdown).
func (m *Manager) RunPruner(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if n, err := m.PruneExpired(ctx); err != nil {
				m.opts.Log.Warn().Err(err).Msg("pruning expired console sessions failed; will retry")
			} else if n > 0 {
				m.opts.Log.Debug().Int("sessions", n).Msg("pruned expired console sessions")
			}
		}
	}
}
