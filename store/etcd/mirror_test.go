package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// spamProgress issues RequestProgress on s's watch stream until stop is
// closed: etcd 3.4.23 answers it with its current revision even while the
// watch still has undelivered events (etcd-io/etcd#15220).
func spamProgress(s interface {
	RequestProgressOnMirror() error
}, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.RequestProgressOnMirror()
		}
	})
	return &wg
}

// listed reports whether the mirror lists the service account.
func listed(t *testing.T, s store.Store, name string) bool {
	t.Helper()
	all, err := s.ListServiceAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range all {
		if sa.Name == name {
			return true
		}
	}
	return false
}

// Finding 1 of issue 14, deterministic: the watch is broken, other clients
// write, and progress notifications arrive on the mirror's stream while
// the resumed watch still has events to deliver. A create acknowledged by
// the store must be visible on that store the moment it returns.
func TestReadYourWritesDespiteProgressNotifications(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, c, "/tw/")
	defer s.Close()
	other := client(t, c)
	ctx := context.Background()
	for i := range 20 {
		stop := behindWithProgress(t, s, other, i)
		name := fmt.Sprintf("svc%d", i)
		err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: name, Name: name, Status: store.StatusActive})
		stop()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetServiceAccount(ctx, name); err != nil {
			t.Fatalf("round %d: acknowledged create not readable on the same store: %v", i, err)
		}
		if !listed(t, s, name) {
			t.Fatalf("round %d: acknowledged create missing from the same store's mirror", i)
		}
	}
}

// Finding 1, second half: when the watch breaks again while progress
// notifications have run ahead of the delivered events, the watch must
// resume from the last event applied, or the events in between are lost
// from the mirror for good.
func TestWatchResumesFromLastEvent(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, c, "/tw/")
	defer s.Close()
	other := client(t, c)
	ctx := context.Background()
	for i := range 10 {
		stop := behindWithProgress(t, s, other, i)
		name := fmt.Sprintf("svc%d", i)
		err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: name, Name: name, Status: store.StatusActive})
		s.EndWatch()
		stop()
		if err != nil {
			t.Fatal(err)
		}
		eventually.True(t, 5*time.Second, fmt.Sprintf("round %d: acknowledged create reaches the mirror", i), func() bool { return listed(t, s, name) })
	}
}

// behindWithProgress sets up finding 1's window for round i: the mirror's
// watch is ended, another client writes 5 revisions, and progress
// notifications are requested on the mirror's stream until stop is called.
func behindWithProgress(t *testing.T, s *etcd.Store, other *clientv3.Client, i int) (stop func()) {
	t.Helper()
	s.EndWatch()
	for j := range 5 {
		if _, err := other.Put(context.Background(), fmt.Sprintf("/tw/meta/noise-%d", j), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	wg := spamProgress(s, done)
	return func() { close(done); wg.Wait() }
}

// client is a plain etcd client: another writer on the cluster.
func client(t *testing.T, c *etcdtest.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// disruptWatch keeps ending s's watch until the test ends, so that its
// mirror receives nothing: a replica whose watch has stalled.
func disruptWatch(t *testing.T, s interface{ EndWatch() }) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			s.EndWatch()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// A revocation answered by replica A is seen by A at once and by replica B
// for every read that begins more than etcd.FreshnessBound after A
// answered, even when B's watch delivers nothing: B cannot prove its
// mirror fresh, so it reads from etcd.
func TestRevocationBoundAcrossReplicas(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a, b := open(t, c, "/tw/"), open(t, c, "/tw/")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	must(t, a.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Status: store.StatusActive}))
	must(t, a.CreateKey(ctx, store.Key{ID: "k1", Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}))
	waitFor(t, func() bool { k, err := b.GetKey(ctx, "k1"); return err == nil && !k.Revoked() })

	disruptWatch(t, b)
	_, err := a.UpdateKey(ctx, "k1", func(k store.Key) (store.Key, error) { k.RevokedAt = time.Now(); return k, nil })
	must(t, err)
	must(t, a.RevokeToken(ctx, store.RevokedToken{JTI: "jti1", ExpiresAt: time.Now().Add(time.Hour)}))
	answered := time.Now()
	if k, err := a.GetKey(ctx, "k1"); err != nil || !k.Revoked() {
		t.Fatalf("replica A after answering its own revoke: revoked=%v err=%v", k.Revoked(), err)
	}
	if revoked, err := a.IsTokenRevoked(ctx, "jti1"); err != nil || !revoked {
		t.Fatalf("replica A after answering its own token revocation: %v %v", revoked, err)
	}
	late := 0
	for time.Since(answered) < 3*etcd.FreshnessBound {
		began := time.Now()
		k, err := b.GetKey(ctx, "k1")
		must(t, err)
		revoked, err := b.IsTokenRevoked(ctx, "jti1")
		must(t, err)
		if began.Sub(answered) > etcd.FreshnessBound {
			late++
			if !k.Revoked() || !revoked {
				t.Fatalf("replica B %s after the revoke answered: key revoked=%v, token revoked=%v",
					began.Sub(answered).Round(time.Millisecond), k.Revoked(), revoked)
			}
		}
	}
	if late == 0 {
		t.Fatal("no read on B began after the bound")
	}
}

// Finding 3: a record created through A can be updated through B at once,
// even when B's mirror does not show it yet: the existence check is made
// against etcd, not against B's mirror.
func TestCreateOnAUpdateOnB(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a, b := open(t, c, "/tw/"), open(t, c, "/tw/")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	must(t, a.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Status: store.StatusActive}))
	for i := range 10 {
		id := fmt.Sprintf("k%d", i)
		b.EndWatch() // B's mirror falls behind for this round
		must(t, a.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}))
		if _, err := b.UpdateKey(ctx, id, func(k store.Key) (store.Key, error) { k.Name = "renamed"; return k, nil }); err != nil {
			t.Fatalf("round %d: update through B right after the create through A: %v", i, err)
		}
		if k, err := b.GetKey(ctx, id); err != nil || k.Name != "renamed" {
			t.Fatalf("round %d: B reads %+v, %v", i, k, err)
		}
	}
	// A key created through A is found through B at once, even when B's
	// mirror does not show it yet.
	for i := range 10 {
		id := fmt.Sprintf("new%d", i)
		b.EndWatch()
		must(t, a.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}))
		if _, err := b.GetKey(ctx, id); err != nil {
			t.Fatalf("round %d: key created through A, read through B at once: %v", i, err)
		}
	}
}

// Finding 2: with one etcd member paused (quorum intact) and replica B's
// watch carried by that member, B refuses a key revoked through A for
// every read that begins more than a second after A answered: it answers
// "revoked" (from etcd, its mirror being unprovable) or "unavailable",
// never "active".
func TestPausedMemberRevocationBound(t *testing.T) {
	c := etcdtest.Start(t, 3)
	f := (c.Leader() + 1) % 3 // a follower: the quorum stays intact without it
	var others []string
	for i, m := range c.Members {
		if i != f {
			others = append(others, m.ClientURL)
		}
	}
	ctx := context.Background()
	a, err := etcd.Open(ctx, etcd.Options{Endpoints: others, Prefix: "/tw/", RequestTimeout: 3 * time.Second})
	must(t, err)
	defer a.Close()
	// B opens its watch on f alone, then may use every member: its watch
	// stream stays on f.
	b, err := etcd.Open(ctx, etcd.Options{Endpoints: []string{c.Members[f].ClientURL}, Prefix: "/tw/", RequestTimeout: 3 * time.Second})
	must(t, err)
	defer b.Close()
	b.Client().SetEndpoints(c.Endpoints()...)

	must(t, a.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Status: store.StatusActive}))
	must(t, a.CreateKey(ctx, store.Key{ID: "k1", Kind: store.KindServiceKey, Owner: "svc", SecretHash: []byte("h")}))
	waitFor(t, func() bool { k, err := b.GetKey(ctx, "k1"); return err == nil && !k.Revoked() })

	c.Pause(f)
	defer c.Resume(f)
	_, err = a.UpdateKey(ctx, "k1", func(k store.Key) (store.Key, error) { k.RevokedAt = time.Now(); return k, nil })
	must(t, err)
	answered := time.Now()
	seenRevoked := false
	for time.Since(answered) < 3*time.Second {
		began := time.Now()
		k, err := b.GetKey(ctx, "k1")
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Fatal(err)
		}
		if began.Sub(answered) <= time.Second {
			continue
		}
		if err == nil && !k.Revoked() {
			t.Fatalf("replica B %s after the revoke answered, with one member paused: key active",
				began.Sub(answered).Round(time.Millisecond))
		}
		seenRevoked = seenRevoked || err == nil
	}
	if !seenRevoked {
		t.Fatal("replica B never answered from 1 s to 3 s after the revoke (only unavailable)")
	}
}
