package bolt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Check runs bbolt's consistency check (every page reachable once, no
// double-freed pages, keys ordered) over the whole file.
func Check(db *bbolt.DB) error {
	return db.View(func(tx *bbolt.Tx) error {
		var errs []error
		// Drain the channel: the check runs in its own goroutine, which
		// must finish before the transaction ends.
		for err := range tx.Check() {
			if len(errs) < 10 {
				// bbolt reports a page it could not even parse as
				// "panic: …" (it recovered): say what it found instead.
				if msg, ok := strings.CutPrefix(err.Error(), "panic: "); ok {
					err = errors.New("unreadable page: " + msg)
				}
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// Verify opens path read-only and checks that it is a consistent
// tokenwright database: bbolt's consistency check passes and all of
// tokenwright's buckets exist. It never modifies the file.
func Verify(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("bolt: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("bolt: %s is not a regular file", path)
	}
	db, err := openChecked(path, bbolt.Options{ReadOnly: true, Timeout: time.Second}, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if !hasAllBuckets(db) {
		return fmt.Errorf("bolt: %s is a tokenwright database from before the current format: open it once with this version first", path)
	}
	return nil
}

// Snapshot writes a consistent copy of the database to w from one read
// transaction, so writers are not blocked. size, if not nil, is called
// with the snapshot's length before the first byte is written.
func (s *Store) Snapshot(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
