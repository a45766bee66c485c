package etcd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// TestKeyFeedAcrossReload: a key feed follower of replica A hears B's
// writes; when A's mirror is reloaded in full (as after its watch fell
// behind a compaction), the follower is given the new state, and the
// events A's watch still delivers from before it are not counted again.
func TestKeyFeedAcrossReload(t *testing.T) { etcdtest.Each(t, testKeyFeedAcrossReload) }

func testKeyFeedAcrossReload(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	a, b := open(t, c, "/feed/"), open(t, c, "/feed/")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()

	var mu sync.Mutex
	ids := map[string]int{} // key id → how many times the follower holds it
	resets := 0
	stop, err := a.FollowKeys(ctx, func(keys []store.Key) {
		mu.Lock()
		defer mu.Unlock()
		resets++
		clear(ids)
		for _, k := range keys {
			ids[k.ID]++
		}
	}, func(ch store.KeyChange) {
		mu.Lock()
		defer mu.Unlock()
		if ch.Old != nil {
			ids[ch.Old.ID]--
		}
		if ch.New != nil {
			ids[ch.New.ID]++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	held := func() string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for id, n := range ids {
			if n != 0 {
				out = append(out, fmt.Sprintf("%s×%d", id, n))
			}
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}
	wait := func(want string) {
		t.Helper()
		eventually.True(t, 10*time.Second, "the follower holds "+want, func() bool { return held() == want })
	}

	if err := b.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateKey(ctx, store.Key{ID: "k1", Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	wait("[k1×1]")

	// B's next writes reach A's watch but are held from its mirror; A
	// reloads meanwhile; then the held events are applied.
	// Released on every way out: a store whose watch is held cannot close.
	release := sync.OnceFunc(a.HoldEvents())
	defer release()
	if err := b.CreateKey(ctx, store.Key{ID: "k2", Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := held(); got != "[k2×1]" {
		t.Fatalf("after the reload the follower holds %s, want [k2×1]", got)
	}
	release()
	_, rev := b.Mirror()
	if !a.WaitApplied(rev, 10*time.Second) {
		t.Fatal("A's watch did not apply the held events")
	}
	if err := b.CreateKey(ctx, store.Key{ID: "k3", Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	wait("[k2×1 k3×1]")
	mu.Lock()
	defer mu.Unlock()
	if resets != 2 {
		t.Fatalf("%d resets, want 2 (the start and the reload)", resets)
	}
}
