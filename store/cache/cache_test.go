package cache_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/cache"
	"github.com/tokenwright/tokenwright/store/storetest"
)

func open(t *testing.T) *cache.Store {
	db, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cache.New(db)
}

// The cached store must behave exactly like the store it wraps.
func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store { return open(t) })
}

// Reads racing with revocations must never leave a stale key cached.
func TestNoStaleEntryAfterConcurrentWrites(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	if err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	for round := range 50 {
		id := "k" + string(rune('a'+round%26)) + string(rune('a'+round/26))
		if err := s.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					_, _ = s.GetKey(ctx, id)
				}
			})
		}
		wg.Go(func() {
			_, err := s.UpdateKey(ctx, id, func(k store.Key) (store.Key, error) { k.RevokedAt = now; return k, nil })
			if err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		k, err := s.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Revoked() {
			t.Fatalf("round %d: the cache serves a key from before its revocation", round)
		}
	}
	// Deleting the owner drops its keys from the cache too.
	if err := s.DeleteServiceAccount(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, "kaa"); err == nil {
		t.Fatal("a key of a deleted account is still served")
	}
	if _, err := s.GetServiceAccount(ctx, "svc"); err == nil {
		t.Fatal("a deleted account is still served")
	}
}
