package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
	"github.com/tokenwright/tokenwright/store/bolt"
)

func newBackupCommand(getenv env) *cobra.Command {
	var c conn
	var dataDir string
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE",
		Long: `Write a consistent copy of the database to FILE (mode 0600).

Online (default): the running server streams a snapshot taken in one read
transaction through GET /api/v1/backup; administrators only, audited.
Offline: with --data DIR, the stopped server's database file is copied
directly. Either way the copy is verified before FILE appears.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := args[0]
			tmp, err := os.CreateTemp(filepath.Dir(dst), ".tokenwright-backup-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name()) // no-op after the rename
			// The copy holds the sealed signing keys and key hashes:
			// owner-only before it is written (CreateTemp's 0600 on Unix;
			// on Windows it would inherit the backup directory's DACL).
			if err := ownerfile.Restrict(tmp.Name()); err != nil {
				_ = tmp.Close()
				return fmt.Errorf("backup: %w", err)
			}
			var n int64
			if dataDir != "" {
				n, err = offlineBackup(filepath.Join(dataDir, bolt.FileName), tmp)
			} else {
				client, cerr := c.client(getenv)
				if cerr != nil {
					_ = tmp.Close()
					return cerr
				}
				n, err = client.Backup(cmd.Context(), tmp)
			}
			if err := errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if err := bolt.Verify(tmp.Name()); err != nil {
				return fmt.Errorf("backup: the copy does not verify: %w", err)
			}
			if err := os.Rename(tmp.Name(), dst); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes, verified)\n", dst, n)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&dataDir, "data", "", "copy the database of a stopped server from this data directory instead of asking the server")
	return cmd
}

// offlineBackup copies a database that no server holds open.
func offlineBackup(path string, w *os.File) (int64, error) {
	db, err := bolt.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("%w (for a running server, leave out --data)", err)
	}
	defer db.Close()
	return db.Snapshot(w, nil)
}

func newRestoreCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "restore FILE --data DIR",
		Short: "Replace a stopped server's database with a backup",
		Long: `Replace the database in DIR with FILE. The server must be stopped. FILE must
pass bbolt's consistency check and hold tokenwright's buckets; the current
database is kept beside it as tokenwright.db.before-restore-TIMESTAMP.
The signing keys in FILE are sealed with the key-encryption key of the
server that made it: start the server with that KEK.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" {
				return errors.New("restore: --data DIR is required")
			}
			aside, err := bolt.Restore(args[0], filepath.Join(dataDir, bolt.FileName), time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s\n", args[0], dataDir)
			if aside != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "the previous database is kept as %s\n", aside)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory of the stopped server")
	return cmd
}
