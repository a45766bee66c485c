package etcd_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// TestMeasureRevocationWindow measures, on a healthy three-member cluster,
// how long after replica A answers a revoke replica B still reads the key
// as active (the figures in docs/high-availability.md). It also requires
// that every key created through A is readable through B at once and that
// A never reads its own revoked key as active. Run with
// TOKENWRIGHT_MEASURE=1 go test ./store/etcd/ -run TestMeasureRevocationWindow -v
func TestMeasureRevocationWindow(t *testing.T) {
	if os.Getenv("TOKENWRIGHT_MEASURE") != "1" {
		t.Skip("set TOKENWRIGHT_MEASURE=1 to measure")
	}
	c := etcdtest.Start(t, 3)
	a, b := open(t, c, "/tw/"), open(t, c, "/tw/")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	must(t, a.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Status: store.StatusActive}))
	var win []time.Duration
	sameStale := 0
	for i := range 300 {
		id := fmt.Sprintf("k%d", i)
		must(t, a.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}))
		if _, err := b.GetKey(ctx, id); err != nil {
			t.Fatalf("create on A not usable on B at once: %v", err)
		}
		_, err := a.UpdateKey(ctx, id, func(k store.Key) (store.Key, error) { k.RevokedAt = time.Now(); return k, nil })
		must(t, err)
		answered := time.Now()
		if k, err := a.GetKey(ctx, id); err != nil || !k.Revoked() {
			sameStale++
		}
		for {
			k, err := b.GetKey(ctx, id)
			must(t, err)
			if k.Revoked() {
				win = append(win, time.Since(answered))
				break
			}
		}
	}
	slices.Sort(win)
	if sameStale > 0 || win[len(win)-1] > etcd.FreshnessBound {
		t.Errorf("A read its own revoked key as active %d times; B's window max %s (bound %s)", sameStale, win[len(win)-1], etcd.FreshnessBound)
	}
	t.Logf("iterations %d, A stale after own revoke: %d, B window p50 %s p99 %s max %s", len(win), sameStale, win[len(win)/2], win[len(win)*99/100], win[len(win)-1])
}
