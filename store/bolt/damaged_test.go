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
