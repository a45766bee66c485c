package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// RotateKEK re-encrypts every signing key in cfg's data directory from the
// configured KEK to the one in newFile (created first when generate is
// set), in one transaction. It opens the database exclusively, so the
// server must be stopped; afterwards it must be started with the new KEK.
func RotateKEK(ctx context.Context, cfg config.Config, environ func(string) string, newFile string, generate bool) (int, error) {
	if newFile == "" {
		return 0, errors.New("the new key-encryption key file is required")
	}
	defaultPath := filepath.Join(cfg.DataDir, "kek")
	// FindKEK never generates one: a new KEK here would not be the one the
	// signing keys are sealed with.
	oldKEK, _, err := signing.FindKEK(environ("TOKENWRIGHT_KEK"), firstNonEmpty(environ("TOKENWRIGHT_KEK_FILE"), cfg.KEK.File), defaultPath)
	if errors.Is(err, signing.ErrNoKEK) {
		return 0, fmt.Errorf("no key-encryption key configured and none at %s", defaultPath)
	}
	if err != nil {
		return 0, err
	}
	var db store.Store
	if cfg.Store == config.StoreEtcd {
		// The whole set is replaced in one etcd transaction; every replica
		// must be stopped first and restarted with the new KEK.
		if db, _, err = openStore(ctx, cfg); err != nil {
			return 0, err
		}
	} else {
		dbPath := filepath.Join(cfg.DataDir, bolt.FileName)
		if _, err := os.Stat(dbPath); err != nil {
			return 0, fmt.Errorf("no database in %s: %w", cfg.DataDir, err)
		}
		if db, err = bolt.Open(dbPath, bolt.Options{}); err != nil {
			return 0, fmt.Errorf("opening the database (is the server still running?): %w", withRestoreHint(err, cfg.DataDir))
		}
	}
	defer db.Close()
	var newKEK *signing.KEK
	if generate {
		newKEK, err = signing.GenerateKEKFile(newFile)
	} else {
		newKEK, err = signing.ReadKEKFile(newFile)
	}
	if err != nil {
		return 0, err
	}
	return signing.RotateKEK(ctx, db, oldKEK, newKEK)
}
