package bolt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// stamp reads (or, with set, rewrites; nil removes the meta bucket) the
// format stamp of a closed database file, with bbolt directly.
func stamp(t *testing.T, path string, set *string) string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if b != nil {
			got = string(b.Get([]byte("format")))
		}
		switch {
		case set == nil:
			return nil
		case *set == "":
			return tx.DeleteBucket([]byte("meta")) // a file from before stamps
		default:
			return b.Put([]byte("format"), []byte(*set))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestStoredFormat: a new file is stamped with store.FormatVersion; a file
// from before stamps is brought to it at start with its records intact; a
// file stamped by a newer build is refused, naming the file, rather than
// misread, even read-only.
func TestStoredFormat(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), bolt.FileName)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if got := stamp(t, path, nil); got != string(store.FormatStamp()) {
		t.Fatalf("a new database is stamped %q, want %q", got, store.FormatStamp())
	}

	unstamped := ""
	stamp(t, path, &unstamped)
	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("a database from before stamps: %v", err)
	}
	if _, err := s.GetServiceAccount(ctx, "svc"); err != nil {
		t.Fatalf("after the migration: %v", err)
	}
	_ = s.Close()
	if got := stamp(t, path, nil); got != string(store.FormatStamp()) {
		t.Fatalf("a database from before stamps was stamped %q, want %q", got, store.FormatStamp())
	}

	newer := "99"
	stamp(t, path, &newer)
	for _, opts := range []bolt.Options{{}, {ReadOnly: true}} {
		_, err := bolt.Open(path, opts)
		var fe *store.FormatError
		if !errors.As(err, &fe) || !errors.Is(err, store.ErrFormat) || !strings.Contains(err.Error(), path) {
			t.Fatalf("open (read-only %v) of a newer format: %v, want a FormatError naming %s", opts.ReadOnly, err, path)
		}
	}
	if got := stamp(t, path, nil); got != newer {
		t.Fatalf("the refused file was changed: stamp %q", got)
	}
}
