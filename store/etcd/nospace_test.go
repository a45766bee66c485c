package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// A cluster over its storage quota (alarm NOSPACE) refuses every write: the
// store says so as a typed write error whose reason tells the operator what
// to do, at once (no resends until the request timeout), instead of the
// generic "cannot be reached". Issue 14: clean failures.
func TestStorageQuotaExceeded(t *testing.T) { etcdtest.Each(t, testStorageQuotaExceeded) }

func testStorageQuotaExceeded(t *testing.T, v etcdtest.Version) {
	c := v.StartWith(t, 1, "--quota-backend-bytes", fmt.Sprint(4<<20))
	s := open(t, c, "/tw/")
	defer s.Close()
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com"}))

	// Another client fills the quota with 1 MiB values until etcd raises
	// the alarm.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	filler := strings.Repeat("x", 1<<20)
	full := false
	for i := 0; i < 64 && !full; i++ {
		_, err := cli.Put(ctx, fmt.Sprintf("/filler/%d", i), filler)
		full = err != nil && strings.Contains(err.Error(), "space exceeded")
		if err != nil && !full {
			t.Fatalf("filling etcd: %v", err)
		}
	}
	if !full {
		t.Fatal("etcd never reported its quota exceeded")
	}

	start := time.Now()
	err = s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "2", Name: "svc2", Email: "svc2@example.com"})
	var we *store.WriteError
	if !errors.As(err, &we) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write over quota: %v, want a store.WriteError that is ErrUnavailable", err)
	}
	if reason := store.UnavailableReason(err); !strings.Contains(reason, "NOSPACE") || !strings.Contains(reason, "quota") {
		t.Fatalf("503 message %q does not say the quota is exceeded", reason)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refused after %v: a NOSPACE refusal is definitive and needs no resends", d)
	}
}
