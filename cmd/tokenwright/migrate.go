package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/migrate"
)

// newMigrateCommand copies a whole installation between backends.
func newMigrateCommand() *cobra.Command {
	var from, to string
	var force bool
	ec := config.Default().Etcd
	cmd := &cobra.Command{
		Use:   "migrate --from bolt:PATH|etcd:ENDPOINTS --to bolt:PATH|etcd:ENDPOINTS",
		Short: "Copy everything from one store to another (single node to etcd cluster, and back)",
		Long: `Copy every service account, user, API key, personal access token, signing
key (still sealed under the KEK, which the target's servers must share),
audit event and revoked token from one store to another, then verify that
the target holds exactly what the source holds.

PATH is a data directory (or the tokenwright.db file in it); ENDPOINTS is a
comma-separated list of etcd client URLs. Stop the servers writing to the
source first. A non-empty target is refused unless --force, which replaces
its contents (its audit trail is kept, the source's events are appended).
Audit events get new IDs in the target but keep their order and contents.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			src, err := openSpec(ctx, "--from", from, ec, true)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := openSpec(ctx, "--to", to, ec, false)
			if err != nil {
				return err
			}
			defer dst.Close()
			counts, err := migrate.Copy(ctx, src, dst, migrate.Options{Force: force})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Copied and verified %s.\n", counts)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source: bolt:PATH or etcd:ENDPOINTS")
	f.StringVar(&to, "to", "", "target: bolt:PATH or etcd:ENDPOINTS")
	f.BoolVar(&force, "force", false, "replace the contents of a non-empty target")
	f.StringVar(&ec.Prefix, "etcd-prefix", ec.Prefix, "etcd key prefix (etcd.prefix)")
	f.StringVar(&ec.TLS.CA, "etcd-ca", "", "PEM file verifying the etcd servers (etcd.tls.ca)")
	f.StringVar(&ec.TLS.Cert, "etcd-cert", "", "client certificate for etcd (etcd.tls.cert)")
	f.StringVar(&ec.TLS.Key, "etcd-key", "", "client key for etcd (etcd.tls.key)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// openSpec opens "bolt:PATH" or "etcd:ENDPOINTS". A bolt source must
// already exist: a typo must not migrate an empty, freshly created file.
func openSpec(ctx context.Context, flag, spec string, ec config.Etcd, mustExist bool) (store.Store, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("%s: want bolt:PATH or etcd:ENDPOINTS, got %q", flag, spec)
	}
	switch kind {
	case "bolt":
		path := arg
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			path = filepath.Join(path, bolt.FileName)
		}
		if mustExist {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("%s: %w", flag, err)
			}
		}
		return bolt.Open(path, bolt.Options{})
	case "etcd":
		ec.Endpoints = strings.Split(arg, ",")
		cfg := config.Default()
		cfg.Store, cfg.Etcd = config.StoreEtcd, ec
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		opts, err := ec.Options()
		if err != nil {
			return nil, err
		}
		return etcd.Open(ctx, opts)
	}
	return nil, errors.New(flag + ": the store must be bolt:PATH or etcd:ENDPOINTS")
}
