package etcd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// TestStoredFormat: a new prefix is stamped with store.FormatVersion (and
// so is one from before stamps); a prefix stamped by a newer build is
// refused, naming the prefix, rather than misread.
func TestStoredFormat(t *testing.T) { etcdtest.Each(t, testStoredFormat) }

func testStoredFormat(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	ctx := context.Background()
	s := open(t, c, "/fmt/")
	if err := s.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Email: "svc@example.com"}); err != nil {
		t.Fatal(err)
	}
	cli := s.Client()
	get := func() string {
		resp, err := cli.Get(ctx, "/fmt/meta/format")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			return ""
		}
		return string(resp.Kvs[0].Value)
	}
	if got := get(); got != string(store.FormatStamp()) {
		t.Fatalf("a new prefix is stamped %q, want %q", got, store.FormatStamp())
	}

	// From before stamps: stamped at the next start, records intact.
	if _, err := cli.Delete(ctx, "/fmt/meta/format"); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, c, "/fmt/")
	if _, err := s2.GetServiceAccount(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != string(store.FormatStamp()) {
		t.Fatalf("a prefix from before stamps was stamped %q, want %q", got, store.FormatStamp())
	}

	if _, err := cli.Put(ctx, "/fmt/meta/format", "99"); err != nil {
		t.Fatal(err)
	}
	_, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints(), Prefix: "/fmt/", RequestTimeout: 3 * time.Second})
	var fe *store.FormatError
	if !errors.As(err, &fe) || !errors.Is(err, store.ErrFormat) || !strings.Contains(err.Error(), "/fmt/") {
		t.Fatalf("open of a newer format: %v, want a FormatError naming the prefix", err)
	}
	if got := get(); got != "99" {
		t.Fatalf("the refused prefix was changed: stamp %q", got)
	}
}
