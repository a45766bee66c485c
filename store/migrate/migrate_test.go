package migrate_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/migrate"
)

// A source written before DeleteUser cleaned owner lists may name deleted
// users as owners; the copy drops them (the target's contract refuses
// owners that are not users) instead of failing.
func TestCopyDropsOwnersThatAreNotUsers(t *testing.T) {
	ctx := context.Background()
	open := func(name string) *bolt.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), name), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	src, dst := open("src.db"), open("dst.db")
	now := time.Now().UTC()
	if err := src.CreateUser(ctx, store.User{ID: "u1", Name: "bob", Email: "bob@example.com", Status: store.StatusActive, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := src.CreateServiceAccount(ctx, store.ServiceAccount{ID: "s1", Name: "svc", Email: "svc@example.com", Owners: []string{"bob"},
		Status: store.StatusActive, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	err := src.DB().Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("service_accounts"))
		var sa store.ServiceAccount
		if err := json.Unmarshal(b.Get([]byte("svc")), &sa); err != nil {
			return err
		}
		sa.Owners = []string{"ghost", "bob"}
		data, _ := json.Marshal(sa)
		return b.Put([]byte("svc"), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Copy(ctx, src, dst, migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	sa, err := dst.GetServiceAccount(ctx, "svc")
	if err != nil || !slices.Equal(sa.Owners, []string{"bob"}) {
		t.Fatalf("copied owners %v (%v), want [bob]", sa.Owners, err)
	}
}
