package accounts_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/cache"
)

// BenchmarkAuthenticateClient is the secret verification of every token
// request: parse and checksum the key, look it up (bbolt behind the
// read-through cache, as served), SHA-256 and constant-time compare, and
// the owner and CIDR checks.
func BenchmarkAuthenticateClient(b *testing.B) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st := cache.New(db)
	admin := accounts.Actor{User: store.User{Name: "admin", Admin: true, Status: store.StatusActive}}
	svc := accounts.New(st, accounts.Options{Policy: accounts.DefaultPolicy()})
	if _, err := svc.CreateServiceAccount(ctx, admin, accounts.NewServiceAccount{Name: "bench", Email: "bench@example.com",
		AllowedCIDRs: []string{"127.0.0.0/8"}}); err != nil {
		b.Fatal(err)
	}
	_, secret, err := svc.CreateKey(ctx, admin, "bench", accounts.NewKey{Name: "k"})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.AuthenticateClient(ctx, "bench", secret, ip); err != nil {
			b.Fatal(err)
		}
	}
}
