package federation

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// ReplayPruneEvery is how often the server deletes expired replay records
// of foreign tokens. A record protects only until its token expires (an
// expired token is refused by verification anyway); pruning keeps the
// store from growing by one record per exchange for ever.
const ReplayPruneEvery = 10 * time.Minute

// ReplayStore is the part of the store the pruner uses.
type ReplayStore interface {
	PruneForeignTokens(ctx context.Context, now time.Time) (int, error)
}

// PruneReplays deletes the replay records expired at now() on every tick
// until ctx ends (the server runs it with a ReplayPruneEvery ticker and
// joins it at shutdown). Every replica may run it: a record is deleted
// once, and one consumed again meanwhile is kept (store contract).
func PruneReplays(ctx context.Context, st ReplayStore, now func() time.Time, tick <-chan time.Time, log zerolog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			n, err := st.PruneForeignTokens(ctx, now())
			if err != nil {
				if ctx.Err() == nil {
					log.Warn().Err(err).Msg("pruning expired foreign-token replay records failed; will retry")
				}
				continue
			}
			if n > 0 {
				log.Debug().Int("records", n).Msg("pruned expired foreign-token replay records")
			}
		}
	}
}
