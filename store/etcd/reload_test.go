package etcd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// The mirror is loaded in pages (a million keys do not fit one response).
// Every page must be read at the first page's revision, so that the mirror
// is the state of one revision even when writes land between pages, and
// the watch must resume right after that revision, so that those writes
// arrive through it. Pages of 7 records and writes between them: one into
// the range already read, a delete and an update of records not read yet.
func TestPagedReloadIsOneSnapshot(t *testing.T) { etcdtest.Each(t, testPagedReloadIsOneSnapshot) }

func testPagedReloadIsOneSnapshot(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	ctx := context.Background()
	const prefix = "/paged/"
	a := open(t, c, prefix)
	defer a.Close()
	must(t, a.CreateServiceAccount(ctx, store.ServiceAccount{ID: "1", Name: "svc", Status: store.StatusActive}))
	for i := range 40 {
		must(t, a.CreateKey(ctx, store.Key{ID: fmt.Sprintf("k%02d", i), Kind: store.KindServiceKey, Owner: "svc",
			Name: fmt.Sprintf("key %d", i), SecretHash: []byte("h")}))
	}
	cli := client(t, c)
	record := func(id, name string) string {
		data, err := json.Marshal(store.Key{ID: id, Kind: store.KindServiceKey, Owner: "svc", Name: name, SecretHash: []byte("h")})
		must(t, err)
		return string(data)
	}
	// writeBetween writes once, after the first page: a key that sorts
	// into the first page, a delete and an update of keys in later pages.
	// It returns the revisions it wrote at.
	var wrote []int64
	writeBetween := func() {
		if wrote != nil {
			return
		}
		for _, op := range []clientv3.Op{
			clientv3.OpPut(prefix+"key/k00a", record("k00a", "written during the reload")),
			clientv3.OpDelete(prefix + "key/k20"),
			clientv3.OpPut(prefix+"key/k30", record("k30", "updated during the reload")),
		} {
			resp, err := cli.Do(ctx, op)
			must(t, err)
			var rev int64
			switch {
			case resp.Put() != nil:
				rev = resp.Put().Header.Revision
			default:
				rev = resp.Del().Header.Revision
			}
			wrote = append(wrote, rev)
		}
	}

	// The snapshot is etcd's state at its revision, however many pages.
	got, rev, err := a.ReadSnapshot(ctx, 7, writeBetween)
	must(t, err)
	if len(wrote) != 3 || wrote[0] <= rev {
		t.Fatalf("the writes (at %v) did not land between the pages of the snapshot at %d", wrote, rev)
	}
	if want := stateAt(t, a, cli, prefix, rev); !maps.Equal(got, want) {
		t.Errorf("paged snapshot at revision %d differs from etcd's state at that revision:\n got %d records %v\nwant %d records %v",
			rev, len(got), got, len(want), want)
	}

	// A replica opened the same way holds, once the watch has delivered
	// the writes made during its reload, exactly what etcd holds.
	wrote = nil
	b, err := etcd.OpenPaged(ctx, etcd.Options{Endpoints: c.Endpoints(), Prefix: prefix, RequestTimeout: 3 * time.Second}, 7, writeBetween)
	must(t, err)
	defer b.Close()
	if len(wrote) != 3 {
		t.Fatalf("the reload read only one page")
	}
	if !b.WaitApplied(wrote[2], 10*time.Second) {
		t.Fatalf("the watch did not deliver the writes made during the reload (revisions %v)", wrote)
	}
	got, applied := b.Mirror()
	if want := stateAt(t, b, cli, prefix, applied); !maps.Equal(got, want) {
		t.Errorf("mirror at revision %d differs from etcd's state:\n got %d records %v\nwant %d records %v",
			applied, len(got), got, len(want), want)
	}
	for _, q := range []store.KeyQuery{{}, {Kind: store.KindServiceKey, Owner: "svc"}} {
		keys, err := b.ListKeys(ctx, q)
		must(t, err)
		if len(keys) != 40 { // 40, plus k00a, less k20
			t.Errorf("ListKeys(%+v) lists %d keys, want 40", q, len(keys))
		}
	}
}

// stateAt reads the mirrored records under prefix at rev in one request.
func stateAt(t *testing.T, s *etcd.Store, cli *clientv3.Client, prefix string, rev int64) map[string]string {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	must(t, err)
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		if s.Mirrored(string(kv.Key)) {
			out[string(kv.Key)] = string(kv.Value)
		}
	}
	return out
}
