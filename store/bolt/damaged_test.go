package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// TestReadOfPageDamagedWhileOpenIsAnError (issue 14, finding 5): a page
// overwritten after Open (bbolt maps the file, so the damage is seen at
// once) makes bbolt panic on the read; the store answers an error wrapping
// bolt.ErrDamaged instead, on whatever goroutine reads.
func TestReadOfPageDamagedWhileOpenIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), bolt.FileName)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 50 {
		name := fmt.Sprintf("svc-%02d", i)
		if err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: name, Name: name, Email: name + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	var root uint64
	_ = s.DB().View(func(tx *bbolt.Tx) error {
		root = uint64(tx.Bucket([]byte("service_accounts")).Root())
		return nil
	})
	if root == 0 {
		t.Fatal("service_accounts is inline; add more accounts")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, s.DB().Info().PageSize)
	for i := range garbage {
		garbage[i] = 0xA5
	}
	if _, err := f.WriteAt(garbage, int64(root)*int64(len(garbage))); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	errc := make(chan error, 1)
	go func() { // a background job's goroutine: a panic here would kill the test binary
		_, err := s.ListServiceAccounts(ctx)
		errc <- err
	}()
	if err := <-errc; !errors.Is(err, bolt.ErrDamaged) {
		t.Fatalf("reading a damaged page: %v, want an error wrapping bolt.ErrDamaged", err)
	}
}

// A file truncated anywhere below the pages its meta page claims is
// refused with ErrDamaged by Open, never faulted on: bbolt maps the
// missing pages and would die of SIGSEGV/SIGBUS (no recover catches it)
// when the freelist or a root page lies past the end. Every page-aligned
// length from the full one down to the two meta pages is tried.
func TestTruncatedFileRefusedAtEveryLength(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, bolt.FileName)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 200 {
		name := fmt.Sprintf("svc-%03d", i)
		if err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: name, Name: name, Email: name + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	var size int64
	_ = s.DB().View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil })
	pageSize := int64(s.DB().Info().PageSize)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for n := size - pageSize; n >= 2*pageSize; n -= pageSize {
		cut := filepath.Join(dir, fmt.Sprintf("cut-%d.db", n))
		if err := os.WriteFile(cut, full[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := bolt.Open(cut, bolt.Options{}); !errors.Is(err, bolt.ErrDamaged) {
			if db != nil {
				_ = db.Close()
			}
			t.Fatalf("truncated to %d of %d bytes: %v, want ErrDamaged", n, size, err)
		}
	}
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("the whole file: %v", err)
	}
	_ = db.Close()
}
