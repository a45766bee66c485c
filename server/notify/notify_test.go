package notify_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/notify"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// rules are the account rules the server gives the notifier: the default
// policy, whose expiring-soon window (7 days) holds the keys expiring in
// 48 hours and not the one expiring in 30 days.
func rules(db store.Store) *accounts.Service {
	return accounts.New(db, accounts.Options{Policy: accounts.DefaultPolicy(), Logger: zerolog.Nop()})
}

func openStore(t *testing.T, n int) (*bolt.Store, []string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "tokenwright.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	now := time.Now().UTC()
	if err := db.CreateServiceAccount(ctx, store.ServiceAccount{ID: "sa1", Name: "svc", Email: "svc@example.com",
		Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		id := string(rune('a'+i)) + "000000000000000"
		if err := db.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", Name: id,
			SecretHash: []byte("x"), CreatedAt: now, ExpiresAt: now.Add(48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// One that is not expiring yet.
	if err := db.CreateKey(ctx, store.Key{ID: "zzzzzzzzzzzzzzzz", Kind: store.KindServiceKey, Owner: "svc", Name: "later",
		SecretHash: []byte("x"), CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return db, ids
}

// hook counts accepted deliveries per key, answering with status().
func hook(t *testing.T, status func() int) (string, *sync.Map, *atomic.Int32) {
	t.Helper()
	var perKey sync.Map
	var attempts atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		code := status()
		if code == 200 {
			v, _ := perKey.LoadOrStore(r.Header.Get(notify.HeaderDelivery), new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
		}
		w.WriteHeader(code)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), &perKey, &attempts
}

// Two notifiers on one store (two runs, or two replicas sharing a backend)
// racing over the same keys send each notice once.
func TestConcurrentRunsNotifyOnce(t *testing.T) {
	db, ids := openStore(t, 8)
	url, deliveries, _ := hook(t, func() int { return 200 })
	var wg sync.WaitGroup
	var total atomic.Int32
	for range 4 {
		n := notify.New(db, rules(db), notify.Options{WebhookURL: url, Secret: []byte("s"), Logger: zerolog.Nop()})
		wg.Go(func() {
			sent, err := n.RunOnce(context.Background())
			if err != nil {
				t.Error(err)
			}
			total.Add(int32(sent))
		})
	}
	wg.Wait()
	deliveryCount := 0
	deliveries.Range(func(_, v any) bool { deliveryCount += int(v.(*atomic.Int32).Load()); return true })
	if total.Load() != int32(len(ids)) || deliveryCount != len(ids) {
		t.Fatalf("4 concurrent runs sent %d notices, receiver accepted %d; want %d", total.Load(), deliveryCount, len(ids))
	}
	events, _ := db.ListAudit(context.Background(), store.AuditQuery{Action: notify.EventKeyExpiringSoon})
	if len(events) != len(ids) {
		t.Fatalf("%d audit events, want %d", len(events), len(ids))
	}
}

// A notice that cannot be delivered is given back and sent by a later run;
// a failing webhook ends the run instead of burning every notice's retries.
func TestFailedDeliveryIsRetriedLater(t *testing.T) {
	db, ids := openStore(t, 2)
	var up atomic.Bool
	url, deliveries, attempts := hook(t, func() int {
		if up.Load() {
			return 200
		}
		return 500
	})
	n := notify.New(db, rules(db), notify.Options{WebhookURL: url, Secret: []byte("s"), Logger: zerolog.Nop(),
		MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond})
	sent, err := n.RunOnce(context.Background())
	if err == nil || sent != 0 || attempts.Load() != 3 {
		t.Fatalf("down receiver: sent %d, err %v, attempts %d (want 0, an error, 3)", sent, err, attempts.Load())
	}
	for _, id := range ids {
		if k, _ := db.GetKey(context.Background(), id); !k.ExpiryNoticeAt.IsZero() {
			t.Fatal("a claim was kept after delivery failed")
		}
	}
	up.Store(true)
	if sent, err := n.RunOnce(context.Background()); err != nil || sent != 2 {
		t.Fatalf("after recovery: sent %d, %v", sent, err)
	}
	if sent, err := n.RunOnce(context.Background()); err != nil || sent != 0 {
		t.Fatalf("third run: sent %d, %v", sent, err)
	}
	count := 0
	deliveries.Range(func(_, v any) bool { count += int(v.(*atomic.Int32).Load()); return true })
	if count != 2 {
		t.Fatalf("receiver accepted %d notices, want 2", count)
	}
	events, _ := db.ListAudit(context.Background(), store.AuditQuery{Action: notify.EventKeyExpiringSoon})
	if len(events) != 3 || events[0].Result != "success" || events[1].Result != "success" || events[2].Result != "failure" {
		t.Fatalf("audit trail %+v", events)
	}
}

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"event":"key.expiring_soon"}`)
	now := time.Unix(1_700_000_000, 0)
	sig := notify.Sign([]byte("secret"), "1700000000", body)
	// Computed independently: printf '1700000000.{"event":"key.expiring_soon"}' | openssl dgst -sha256 -hmac secret
	if sig != "sha256=332b128c0bdd17795623037c22136b049e6aef0a5aba359d17cb9241090827f0" {
		t.Fatalf("signature %q", sig)
	}
	if err := notify.Verify([]byte("secret"), "1700000000", sig, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"wrong secret": notify.Verify([]byte("other"), "1700000000", sig, body, now, time.Minute),
		"changed body": notify.Verify([]byte("secret"), "1700000000", sig, append(body, ' '), now, time.Minute),
		"stale":        notify.Verify([]byte("secret"), "1700000000", sig, body, now.Add(time.Hour), time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func setAuditBucket(t *testing.T, db *bolt.Store, present bool) {
	t.Helper()
	err := db.DB().Update(func(tx *bbolt.Tx) error {
		if present {
			_, err := tx.CreateBucket([]byte("audit"))
			return err
		}
		return tx.DeleteBucket([]byte("audit"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A notice is settled together with its audit event (finding 4): when the
// event cannot be stored, no claim is kept, so a later run sends the
// notice again and records it.
func TestNoticeIsNotSettledWithoutItsAuditEvent(t *testing.T) {
	ctx := context.Background()
	claims := func(db *bolt.Store, ids []string) int {
		n := 0
		for _, id := range ids {
			if k, _ := db.GetKey(ctx, id); !k.ExpiryNoticeAt.IsZero() {
				n++
			}
		}
		return n
	}
	t.Run("log only", func(t *testing.T) {
		db, ids := openStore(t, 2)
		n := notify.New(db, rules(db), notify.Options{Logger: zerolog.Nop()})
		setAuditBucket(t, db, false)
		if sent, err := n.RunOnce(ctx); err == nil || sent != 0 || claims(db, ids) != 0 {
			t.Fatalf("audit append failing: sent %d, err %v, %d claims kept (want 0, an error, 0)", sent, err, claims(db, ids))
		}
		setAuditBucket(t, db, true)
		if sent, err := n.RunOnce(ctx); err != nil || sent != 2 || claims(db, ids) != 2 {
			t.Fatalf("after recovery: sent %d, err %v, %d claims", sent, err, claims(db, ids))
		}
		if events, _ := db.ListAudit(ctx, store.AuditQuery{}); len(events) != 2 {
			t.Fatalf("%d audit events, want 2", len(events))
		}
	})
	t.Run("webhook", func(t *testing.T) {
		db, ids := openStore(t, 1)
		var broken atomic.Bool
		url, deliveries, _ := hook(t, func() int {
			if broken.CompareAndSwap(false, true) {
				setAuditBucket(t, db, false) // fails the confirmation of this delivery
			}
			return 200
		})
		n := notify.New(db, rules(db), notify.Options{WebhookURL: url, Secret: []byte("s"), Logger: zerolog.Nop()})
		if sent, err := n.RunOnce(ctx); err == nil || sent != 0 || claims(db, ids) != 0 {
			t.Fatalf("confirmation failing: sent %d, err %v, %d claims kept (want 0, an error, 0)", sent, err, claims(db, ids))
		}
		setAuditBucket(t, db, true)
		if sent, err := n.RunOnce(ctx); err != nil || sent != 1 || claims(db, ids) != 1 {
			t.Fatalf("after recovery: sent %d, err %v, %d claims", sent, err, claims(db, ids))
		}
		count := 0
		deliveries.Range(func(_, v any) bool { count += int(v.(*atomic.Int32).Load()); return true })
		events, _ := db.ListAudit(ctx, store.AuditQuery{})
		if count != 2 || len(events) != 1 || events[0].Result != store.ResultSuccess || events[0].Details["webhook"] != "delivered" {
			t.Fatalf("deliveries %d (want 2: the unrecorded one is sent again), events %+v (want one delivered)", count, events)
		}
	})
}
