package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

func openFast(t *testing.T, c *etcdtest.Cluster) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/outcome/", RequestTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var outcomeSA = store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com", Status: store.StatusActive}

// A write etcd committed but whose every answer was lost (a paused member,
// a broken connection) is answered as the success it is: answering 503
// would make the client retry and duplicate it (issue 14, finding 2).
func TestLostAnswerCommitted(t *testing.T) { etcdtest.Each(t, testLostAnswerCommitted) }

func testLostAnswerCommitted(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	s := openFast(t, c)
	defer s.Close()
	ctx := context.Background()
	s.LoseAnswers(true)
	if err := s.CreateServiceAccount(ctx, outcomeSA); err != nil {
		t.Fatalf("committed write whose answers were lost: %v, want success", err)
	}
	s.DeliverAnswers()
	// Read-your-writes holds, and the change was made exactly once.
	if _, err := s.GetServiceAccount(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateServiceAccount(ctx, outcomeSA); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create: %v, want ErrAlreadyExists", err)
	}
}

// A write none of whose sends reached etcd is answered 503 "not made" only
// once it provably cannot land any more: the delayed requests, delivered
// after the answer, change nothing, and the client's retry succeeds once.
func TestLostRequestNotMade(t *testing.T) { etcdtest.Each(t, testLostRequestNotMade) }

func testLostRequestNotMade(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	s := openFast(t, c)
	defer s.Close()
	ctx := context.Background()
	land := s.LoseAnswers(false)
	err := s.CreateServiceAccount(ctx, outcomeSA)
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatalf("write whose requests were lost: %v, want ErrUnavailable (not made)", err)
	}
	if n, err := land(ctx); err != nil || n != 0 {
		t.Fatalf("late requests: %d committed (%v), want 0", n, err)
	}
	s.DeliverAnswers()
	if _, err := s.GetServiceAccount(ctx, "svc"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a write answered as not made: %v, want ErrNotFound", err)
	}
	if err := s.CreateServiceAccount(ctx, outcomeSA); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

// When etcd answers nothing at all, not even whether the write landed, the
// error says the outcome is unknown.
func TestOutcomeUnknown(t *testing.T) { etcdtest.Each(t, testOutcomeUnknown) }

func testOutcomeUnknown(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	s := openFast(t, c)
	defer s.Close()
	// A first write gives the store its marker lease; without one nothing
	// would be sent, and the answer would be a certain "not made".
	if err := s.CreateUser(context.Background(), store.User{ID: "2", Name: "u", Email: "u@example.com"}); err != nil {
		t.Fatal(err)
	}
	c.Pause(0)
	err := s.CreateServiceAccount(context.Background(), outcomeSA)
	c.Resume(0)
	if !errors.Is(err, store.ErrOutcomeUnknown) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write with etcd paused: %v, want ErrOutcomeUnknown", err)
	}
	if got := store.UnavailableReason(err); got == store.UnavailableReason(store.ErrUnavailable) {
		t.Fatalf("503 message %q does not say the outcome is unknown", got)
	}
}

// A write that committed is answered as a success even when this replica's
// watch does not deliver its event in time: the mirror catches up later.
func TestCommittedUndeliveredIsSuccess(t *testing.T) {
	etcdtest.Each(t, testCommittedUndeliveredIsSuccess)
}

func testCommittedUndeliveredIsSuccess(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	s := openFast(t, c)
	defer s.Close()
	ctx := context.Background()
	release := s.HoldEvents()
	err := s.CreateServiceAccount(ctx, outcomeSA)
	release()
	if err != nil {
		t.Fatalf("committed write whose event was not delivered: %v, want success", err)
	}
	if err := s.CreateServiceAccount(ctx, outcomeSA); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create: %v, want ErrAlreadyExists", err)
	}
}

// Resend markers expire on etcd's clock, through a lease, never by a
// replica's wall clock (a replica whose clock ran ahead used to delete the
// markers other replicas still needed). Every marker, settled ones
// included, is attached to a lease that keeps it at least 10 minutes.
func TestMarkersExpireByLease(t *testing.T) { etcdtest.Each(t, testMarkersExpireByLease) }

func testMarkersExpireByLease(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	s := openFast(t, c)
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateServiceAccount(ctx, outcomeSA); err != nil {
		t.Fatal(err)
	}
	s.LoseAnswers(false) // settled: the marker settle writes
	if err := s.CreateUser(ctx, store.User{ID: "2", Name: "u", Email: "u@example.com"}); err == nil {
		t.Fatal("write whose requests were lost succeeded")
	}
	s.DeliverAnswers()
	resp, err := s.Client().Get(ctx, "/outcome/meta/txn/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 2 {
		t.Fatalf("%d markers, want 2", len(resp.Kvs))
	}
	for _, kv := range resp.Kvs {
		if kv.Lease == 0 {
			t.Fatalf("marker %s has no lease", kv.Key)
		}
		ttl, err := s.Client().TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil {
			t.Fatal(err)
		}
		if ttl.TTL < 10*60 {
			t.Fatalf("marker %s expires in %d s, want at least 10 minutes", kv.Key, ttl.TTL)
		}
	}
}
