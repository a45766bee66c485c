package bolt_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFileModeAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, bolt.FileName)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com"}); err != nil {
		t.Fatal(err)
	}
	// A second opener is refused while the file is locked.
	if _, err := bolt.Open(path, bolt.Options{Timeout: 50e6}); err == nil {
		t.Fatal("second open of a locked database succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", p, got, want)
		}
	}
	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetServiceAccount(ctx, "svc"); err != nil {
		t.Fatalf("account lost across reopen: %v", err)
	}
}

// A file from before the expiry index gets it built when opened, so that
// the expiry-range query finds its keys.
func TestOpenBuildsMissingExpiryIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), bolt.FileName)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc"}))
	must(s.CreateKey(ctx, store.Key{ID: "k1", Kind: store.KindServiceKey, Owner: "svc", ExpiresAt: expires}))
	must(s.CreateKey(ctx, store.Key{ID: "k2", Kind: store.KindServiceKey, Owner: "svc"})) // never expires
	must(s.DB().Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("keys_by_expiry")) }))
	must(s.Close())
	s, err = bolt.Open(path, bolt.Options{})
	must(err)
	defer s.Close()
	keys, err := s.ListKeys(ctx, store.KeyQuery{ExpiresAfter: expires.Add(-time.Hour), ExpiresBefore: expires})
	must(err)
	if len(keys) != 1 || keys[0].ID != "k1" {
		t.Fatalf("expiry query after reopen = %+v, want k1", keys)
	}
}
