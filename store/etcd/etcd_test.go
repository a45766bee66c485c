package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
	"github.com/tokenwright/tokenwright/store/storetest"
)

func open(t *testing.T, c *etcdtest.Cluster, prefix string) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints(), Prefix: prefix, RequestTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { etcdtest.Each(t, testConformance) }

func testConformance(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	n := 0
	storetest.RunTests(t, func(t *testing.T) store.Store {
		n++ // a fresh prefix per subtest is an empty store
		return open(t, c, fmt.Sprintf("/conformance-%d/", n))
	})
}

// Two stores on one prefix are two replicas: each sees the other's writes
// through its watch, and the shared namespace holds across them.
func TestTwoReplicas(t *testing.T) { etcdtest.Each(t, testTwoReplicas) }

func testTwoReplicas(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	a, b := open(t, c, "/tw/"), open(t, c, "/tw/")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	sa := store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com", Status: store.StatusActive}
	if err := a.CreateServiceAccount(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateUser(ctx, store.User{ID: "2", Name: "svc", Email: "x@example.com"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate name through the other replica: %v", err)
	}
	if err := a.CreateKey(ctx, store.Key{ID: "k1", Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { k, err := b.GetKey(ctx, "k1"); return err == nil && !k.Revoked() })
	if _, err := a.UpdateKey(ctx, "k1", func(k store.Key) (store.Key, error) { k.RevokedAt = time.Now(); return k, nil }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, func() bool { k, err := b.GetKey(ctx, "k1"); return err == nil && k.Revoked() })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("revocation reached the other replica after %s", d)
	}

	// Concurrent updates through both replicas lose nothing.
	var wg sync.WaitGroup
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := s.UpdateServiceAccount(ctx, "svc", func(sa store.ServiceAccount) (store.ServiceAccount, error) {
				sa.Roles = append(sa.Roles[:len(sa.Roles):len(sa.Roles)], fmt.Sprintf("r%d", i))
				return sa, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// The last write may have gone through b: a sees it once its watch
	// delivers it. A lost update would never show up.
	for _, s := range []*etcd.Store{a, b} {
		eventually.Nil(t, 2*time.Second, "no lost updates across replicas", func() error {
			if got, _ := s.GetServiceAccount(ctx, "svc"); len(got.Roles) != 20 {
				return fmt.Errorf("%d roles, want 20", len(got.Roles))
			}
			return nil
		})
	}

	// Usage from both replicas merges by max.
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	must(t, a.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "k1", At: later, IP: "10.0.0.1"}}))
	must(t, b.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "k1", At: later.Add(-time.Hour), IP: "10.0.0.2"}}))
	k, _ := b.GetKey(ctx, "k1")
	if !k.LastUsedAt.Equal(later) || k.LastUsedIP != "10.0.0.1" {
		t.Fatalf("usage not merged by max: %v %s", k.LastUsedAt, k.LastUsedIP)
	}

	// A signing key written by one replica is announced on the other.
	drain(b.SigningKeyChanges())
	must(t, a.CreateSigningKey(ctx, store.SigningKey{ID: "kid", Algorithm: "ES256", State: store.SigningActive}))
	select {
	case <-b.SigningKeyChanges():
	case <-time.After(5 * time.Second):
		t.Fatal("no signing-key change notification on the other replica")
	}
	keys, _ := b.ListSigningKeys(ctx)
	if len(keys) != 1 || keys[0].ID != "kid" {
		t.Fatalf("other replica lists %+v", keys)
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// Exclusive admits one holder at a time across replicas.
func TestExclusive(t *testing.T) { etcdtest.Each(t, testExclusive) }

func testExclusive(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	a, b := open(t, c, "/tw/"), open(t, c, "/tw/")
	defer a.Close()
	defer b.Close()
	var inside, maxInside, runs atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			err := s.Exclusive(context.Background(), "rotation", func(ctx context.Context) error {
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
				inside.Add(-1)
				runs.Add(1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if runs.Load() != 6 || maxInside.Load() != 1 {
		t.Fatalf("runs %d, max concurrent holders %d; want 6 and 1", runs.Load(), maxInside.Load())
	}
}

// Without quorum, writes fail with ErrUnavailable while reads are served
// from the mirror until MaxStaleness; with quorum back, writes succeed.
func TestQuorumLoss(t *testing.T) { etcdtest.Each(t, testQuorumLoss) }

func testQuorumLoss(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 3)
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/tw/",
		RequestTimeout: time.Second, MaxStaleness: 3 * time.Second, ProbeInterval: 200 * time.Millisecond})
	must(t, err)
	defer s.Close()
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com"}))
	c.Kill(1)
	c.Kill(2)
	err = s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "2", Name: "svc2", Email: "svc2@example.com"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write without quorum: %v, want ErrUnavailable", err)
	}
	if _, err := s.GetServiceAccount(ctx, "svc"); err != nil {
		t.Fatalf("read from the mirror without quorum: %v", err)
	}
	// The cluster-wide lock cannot be taken, and says so instead of hanging.
	ran := false
	err = s.Exclusive(ctx, "rotation", func(context.Context) error { ran = true; return nil })
	if ran || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Exclusive without quorum: ran %v, err %v; want ErrUnavailable", ran, err)
	}
	waitFor(t, func() bool { return errors.Is(s.Health(ctx), store.ErrUnavailable) })
	if _, err := s.GetServiceAccount(ctx, "svc"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read after MaxStaleness: %v, want ErrUnavailable", err)
	}
	c.Restart(1)
	c.Restart(2)
	c.WaitHealthy(c.Endpoints()...)
	// The write refused during the outage may still have landed when the
	// quorum returned (etcd kept the proposal): then it exists already.
	waitFor(t, func() bool {
		err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "2", Name: "svc2", Email: "svc2@example.com"})
		return err == nil || errors.Is(err, store.ErrAlreadyExists)
	})
	must(t, s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "3", Name: "svc3", Email: "svc3@example.com"}))
	waitFor(t, func() bool { return s.Health(ctx) == nil })
	// svc2 exists (created now, or the outage's write landed late); the
	// mirror shows it once the watch has delivered that revision. Seen
	// once in CI: not yet visible on the first read after recovery.
	waitFor(t, func() bool {
		_, err := s.GetServiceAccount(ctx, "svc2")
		return err == nil
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	eventually.True(t, 30*time.Second, "condition", cond)
}

// A change larger than etcd's --max-txn-ops (128 by default) is refused as
// a whole, with an error that says which setting to raise, and nothing is
// half-deleted; bulk writes that need not be atomic are split and succeed.
func TestTransactionSizeLimit(t *testing.T) { etcdtest.Each(t, testTransactionSizeLimit) }

func testTransactionSizeLimit(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	s := open(t, c, "/tw/")
	defer s.Close()
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com"}))
	var usage []store.KeyUsage
	for i := range 150 {
		id := fmt.Sprintf("k%03d", i)
		must(t, s.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}))
		usage = append(usage, store.KeyUsage{KeyID: id, At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), IP: "10.0.0.1"})
	}
	must(t, s.RecordKeyUsage(ctx, usage))
	keys, _ := s.ListKeys(ctx, store.KeyQuery{})
	for _, k := range keys {
		if k.LastUsedAt.IsZero() {
			t.Fatalf("usage of %s not recorded", k.ID)
		}
	}
	err := s.DeleteServiceAccount(ctx, "svc")
	if err == nil || errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "--max-txn-ops") {
		t.Fatalf("oversized delete: %v", err)
	}
	if keys, _ := s.ListKeys(ctx, store.KeyQuery{}); len(keys) != 150 {
		t.Fatalf("%d keys left after a refused delete, want all 150", len(keys))
	}
}
