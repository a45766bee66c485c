package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// spamProgress issues RequestProgress on s's watch stream until stop is
// closed: etcd 3.4.23 answers it with its current revision even while the
// watch still has undelivered events (etcd-io/etcd#15220).
func spamProgress(s interface {
	RequestProgressOnMirror(context.Context) error
}, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.RequestProgressOnMirror(context.Background())
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
		s.EndWatch()
		for j := range 5 {
			if _, err := other.Put(ctx, fmt.Sprintf("/tw/meta/noise-%d", j), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		wg := spamProgress(s, stop)
		name := fmt.Sprintf("svc%d", i)
		err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: name, Name: name, Status: store.StatusActive})
		close(stop)
		wg.Wait()
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
		s.EndWatch()
		for j := range 5 {
			if _, err := other.Put(ctx, fmt.Sprintf("/tw/meta/noise-%d", j), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		wg := spamProgress(s, stop)
		name := fmt.Sprintf("svc%d", i)
		err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: name, Name: name, Status: store.StatusActive})
		s.EndWatch()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !listed(t, s, name) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: acknowledged create never reached the mirror", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
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
