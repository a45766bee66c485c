package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/cache"
	"github.com/tokenwright/tokenwright/store/etcd"
)

// openStore opens the configured backend. raw is the backend itself (for
// the signing manager); served is what the request path reads: bbolt is
// wrapped in the single-writer read-through cache, etcd never is (it keeps
// its own watched index, and other replicas write to it).
func openStore(ctx context.Context, cfg config.Config) (raw, served store.Store, err error) {
	switch cfg.Store {
	case config.StoreEtcd:
		opts, err := cfg.Etcd.Options()
		if err != nil {
			return nil, nil, err
		}
		s, err := etcd.Open(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	case config.StoreBolt:
		db, err := bolt.Open(filepath.Join(cfg.DataDir, bolt.FileName), bolt.Options{})
		if err != nil {
			return nil, nil, withRestoreHint(err, cfg.DataDir)
		}
		// This process makes every write to the bbolt file, so a
		// read-through cache (invalidated by those writes) is exact.
		return db, cache.New(db), nil
	}
	return nil, nil, errors.New("store: unknown backend " + cfg.Store)
}

// withRestoreHint adds what to do to bolt's refusal of a damaged or
// foreign database file (the error names the file).
func withRestoreHint(err error, dataDir string) error {
	if !errors.Is(err, bolt.ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w\nThe server will not start on it, and nothing was written. Restore the last good backup "+
		"with `tokenwright restore BACKUP --data %s` (the refused file is kept beside it), "+
		"or move the file away to start an empty installation", err, dataDir)
}

// followSigningKeys republishes the signing key set as soon as another
// replica changes it (instead of at the next periodic re-read), so every
// replica serves the same JWKS.
func (s *Server) followSigningKeys(ctx context.Context, raw store.Store) {
	w, ok := raw.(store.Watcher)
	if !ok {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.SigningKeyChanges():
		}
		if _, err := s.signing.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error().Err(err).Msg("reloading signing keys changed by another replica failed")
		}
	}
}

// snapshot streams a consistent copy of the database (GET /api/v1/backup).
func (s *Server) snapshot(_ context.Context, w http.ResponseWriter, size func(int64)) (int64, error) {
	return s.db.Snapshot(w, size)
}
