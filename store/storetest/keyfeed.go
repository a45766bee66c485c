package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/store"
)

// keyMirror is what a follower of a store.KeyFeed can rebuild: every key,
// from the snapshot and the changes.
type keyMirror struct {
	mu     sync.Mutex
	keys   map[string]store.Key
	resets int
}

func (m *keyMirror) reset(keys []store.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resets++
	m.keys = map[string]store.Key{}
	for _, k := range keys {
		m.keys[k.ID] = k
	}
}

func (m *keyMirror) changed(c store.KeyChange) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.New == nil {
		delete(m.keys, c.Old.ID)
		return
	}
	m.keys[c.New.ID] = *c.New
}

// summary is each key's id with what its status depends on.
func summary(keys []store.Key) string {
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s/%s/%s revoked=%v expires=%s used=%s", k.ID, k.Kind, k.Owner, k.Revoked(),
			k.ExpiresAt.Format(time.RFC3339), k.LastUsedAt.Format(time.RFC3339)))
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// testKeyFeed: a follower of a backend's key feed rebuilds exactly the
// stored keys from the snapshot and the changes, through creations,
// updates (revocation, usage, UpdateKeys), deletions and the cascades of
// deleting an account or a user; after stop it hears nothing more.
func testKeyFeed(t *testing.T, s store.Store) {
	feed, ok := s.(store.KeyFeed)
	if !ok {
		t.Skip("the backend has no key feed")
	}
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateKey(ctx, key("before", store.KindServiceKey, "svc")))

	m := &keyMirror{}
	stop, err := feed.FollowKeys(ctx, m.reset, m.changed)
	must(t, err)
	same := func(step string) {
		t.Helper()
		eventually.Nil(t, 10*time.Second, "the follower's keys after "+step, func() error {
			stored, err := s.ListKeys(ctx, store.KeyQuery{})
			if err != nil {
				return err
			}
			m.mu.Lock()
			followed := slices.Collect(maps.Values(m.keys))
			m.mu.Unlock()
			if got, want := summary(followed), summary(stored); got != want {
				return fmt.Errorf("follower has %s, store has %s", got, want)
			}
			return nil
		})
	}
	same("the snapshot")

	must(t, s.CreateKey(ctx, key("k2", store.KindServiceKey, "svc")))
	must(t, s.CreateKey(ctx, pat("p1", "alice", "laptop")))
	same("creations")
	_, err = s.UpdateKey(ctx, "before", func(k store.Key) (store.Key, error) { k.RevokedAt = t0; return k, nil })
	must(t, err)
	same("a revocation")
	_, err = s.UpdateKeys(ctx, store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"}, func(k store.Key) (store.Key, error) {
		k.ExpiresAt = t0.Add(48 * time.Hour)
		return k, nil
	})
	must(t, err)
	same("UpdateKeys")
	must(t, s.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "k2", At: t0.Add(time.Hour), IP: "10.0.0.1"}}))
	same("a usage merge")
	must(t, s.DeleteKey(ctx, "k2"))
	same("a deletion")
	must(t, s.CreateKey(ctx, key("k3", store.KindServiceKey, "svc")))
	must(t, s.DeleteServiceAccount(ctx, "svc"))
	same("deleting the account")
	must(t, s.DeleteUser(ctx, "alice"))
	same("deleting the user")

	stop()
	m.mu.Lock()
	resets := m.resets
	m.mu.Unlock()
	if resets != 1 {
		t.Errorf("reset %d times, want once", resets)
	}
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateKey(ctx, key("after", store.KindServiceKey, "svc")))
	// A follower that was stopped hears nothing: a second follower, whose
	// snapshot comes after the creation, proves that it has been
	// announced to anyone still listening.
	m2 := &keyMirror{}
	stop2, err := feed.FollowKeys(ctx, m2.reset, m2.changed)
	must(t, err)
	defer stop2()
	must(t, s.CreateKey(ctx, key("later", store.KindServiceKey, "svc")))
	eventually.True(t, 10*time.Second, "the second follower hears of a creation", func() bool {
		m2.mu.Lock()
		defer m2.mu.Unlock()
		_, ok := m2.keys["later"]
		return ok
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys["later"]; ok || len(m.keys) != 0 {
		t.Fatalf("a stopped follower was told of changes: %v", slices.Collect(maps.Keys(m.keys)))
	}
}
