package accounts_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

const testIssuer = "https://issuer.example.com"

var (
	inside  = netip.MustParseAddr("127.0.0.1")
	outside = netip.MustParseAddr("10.0.0.1")
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// env is a real service over a real bbolt file: account "svc" (CIDR
// 127.0.0.0/8) with a secret key and a public-key key, and user "alice"
// with a personal access token narrowed to 127.0.0.0/8.
type env struct {
	db                *bolt.Store
	svc               *accounts.Service
	now               time.Time
	secret, pat       string
	secretKey, jwkKey store.Key
	patKey            store.Key
	signer            *ecdsa.PrivateKey
	kid               string // the assertions' kid: the key's id, or its JWK thumbprint
	jti               int
}

var admin = accounts.Actor{User: store.User{Name: "admin", Admin: true, Status: store.StatusActive}}

func newEnv(t *testing.T, wrap func(store.Store) store.Store) *env {
	t.Helper()
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := &env{db: db, now: t0}
	var st store.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	e.svc = accounts.New(st, accounts.Options{Policy: accounts.DefaultPolicy(), Now: func() time.Time { return e.now }})
	// Set up through the real rules, on the unwrapped store.
	setup := accounts.New(db, accounts.Options{Policy: accounts.DefaultPolicy(), Now: func() time.Time { return e.now }})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = setup.CreateServiceAccount(ctx, admin, accounts.NewServiceAccount{Name: "svc", Email: "svc@example.com",
		AllowedCIDRs: []string{"127.0.0.0/8"}})
	must(err)
	e.secretKey, e.secret, err = setup.CreateKey(ctx, admin, "svc", accounts.NewKey{Name: "secret"})
	must(err)
	e.signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	der, err := x509.MarshalPKIXPublicKey(&e.signer.PublicKey)
	must(err)
	e.jwkKey, _, err = setup.CreateKey(ctx, admin, "svc", accounts.NewKey{Name: "jwk",
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	must(err)
	e.kid = e.jwkKey.ID
	_, err = setup.CreateUser(ctx, admin, accounts.NewUser{Name: "alice", Email: "alice@example.com"})
	must(err)
	e.patKey, e.pat, err = setup.CreatePAT(ctx, admin, "alice", accounts.NewPAT{Name: "pat", CIDRs: []string{"127.0.0.0/8"}})
	must(err)
	return e
}

// assertion is a fresh private_key_jwt assertion of svc, signed by the
// registered key.
func (e *env) assertion(t *testing.T) string {
	t.Helper()
	e.jti++
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: e.signer},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), e.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "svc", Subject: "svc", Audience: jwt.Audience{testIssuer},
		Expiry: jwt.NewNumericDate(e.now.Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(e.now), ID: fmt.Sprint("jti-", e.jti)}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) revoke(t *testing.T, id string) {
	t.Helper()
	if _, err := e.db.UpdateKey(context.Background(), id, func(k store.Key) (store.Key, error) {
		k.RevokedAt = e.now
		return k, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// deactivate sets the owners' status in the store itself (the admin rules
// would also revoke a user's tokens, which is another row).
func (e *env) deactivate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.db.UpdateServiceAccount(ctx, "svc", func(sa store.ServiceAccount) (store.ServiceAccount, error) {
		sa.Status = store.StatusInactive
		return sa, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.UpdateUser(ctx, "alice", func(u store.User) (store.User, error) {
		u.Status = store.StatusInactive
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Every way of presenting a credential applies the same checks in the same
// order (revoked, expired, owner inactive, source address) and names the
// same reason; introspection (CredentialActive) applies the same checks
// except the address, which it does not know.
func TestCredentialChecksAreOneRuleInOneOrder(t *testing.T) {
	type method struct {
		name string
		try  func(*testing.T, *env, netip.Addr) error
	}
	methods := []method{
		{"client_secret", func(t *testing.T, e *env, ip netip.Addr) error {
			_, err := e.svc.AuthenticateClient(context.Background(), "svc", e.secret, ip)
			return err
		}},
		{"private_key_jwt", func(t *testing.T, e *env, ip netip.Addr) error {
			_, err := e.svc.AuthenticateAssertion(context.Background(), e.assertion(t), "svc", []string{testIssuer}, ip)
			return err
		}},
		{"admin bearer", func(t *testing.T, e *env, ip netip.Addr) error {
			_, err := e.svc.AuthenticateBearer(context.Background(), e.pat, ip.String())
			return err
		}},
	}
	cases := []struct {
		name string
		set  func(*testing.T, *env)
		ip   netip.Addr
		want accounts.FailureReason
	}{
		{"usable", func(*testing.T, *env) {}, inside, ""},
		{"revoked", func(t *testing.T, e *env) { e.revokeAll(t) }, inside, accounts.ReasonKeyRevoked},
		{"expired", func(t *testing.T, e *env) { e.now = e.now.Add(200 * 24 * time.Hour) }, inside, accounts.ReasonKeyExpired},
		{"revoked and expired", func(t *testing.T, e *env) { e.revokeAll(t); e.now = e.now.Add(200 * 24 * time.Hour) }, inside, accounts.ReasonKeyRevoked},
		{"owner inactive", func(t *testing.T, e *env) { e.deactivate(t) }, inside, accounts.ReasonOwnerInactive},
		{"revoked, owner inactive", func(t *testing.T, e *env) { e.revokeAll(t); e.deactivate(t) }, inside, accounts.ReasonKeyRevoked},
		{"outside the CIDRs", func(*testing.T, *env) {}, outside, accounts.ReasonSourceAddress},
		{"owner inactive, outside", func(t *testing.T, e *env) { e.deactivate(t) }, outside, accounts.ReasonOwnerInactive},
		{"expired, outside", func(t *testing.T, e *env) { e.now = e.now.Add(200 * 24 * time.Hour) }, outside, accounts.ReasonKeyExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c.set(t, e)
			for _, m := range methods {
				err := m.try(t, e, c.ip)
				if got := accounts.ReasonOf(err); got != c.want || (c.want == "") != (err == nil) {
					t.Errorf("%s: reason %q (err %v), want %q", m.name, got, err, c.want)
				}
			}
			// Introspection: the same verdict, the address aside.
			live, err := e.svc.CredentialActive(context.Background(), e.secretKey.ID, nil, nil)
			wantLive := c.want == "" || c.want == accounts.ReasonSourceAddress
			if err != nil || live != wantLive {
				t.Errorf("CredentialActive = %v, %v; want %v", live, err, wantLive)
			}
		})
	}
}

func (e *env) revokeAll(t *testing.T) {
	for _, id := range []string{e.secretKey.ID, e.jwkKey.ID, e.patKey.ID} {
		e.revoke(t, id)
	}
}

// faultyOwners is the real store except that reading an owner (account
// or user) fails with err: an etcd replica that cannot answer for a
// moment, or an owner deleted between the key's read and its own.
type faultyOwners struct {
	store.Store
	err error
}

func (f faultyOwners) GetServiceAccount(context.Context, string) (store.ServiceAccount, error) {
	return store.ServiceAccount{}, f.err
}

func (f faultyOwners) GetUser(context.Context, string) (store.User, error) {
	return store.User{}, f.err
}

// Finding (issue 20, item 1): an outage while reading the credential's
// owner was answered as a bad credential (invalid_client, 401: "try
// another secret") instead of a server failure (503: "try again"); only a
// missing owner is a bad credential.
func TestOwnerLookupOutageIsNotABadCredential(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason accounts.FailureReason
	}{
		{store.ErrUnavailable, ""},
		{store.ErrNotFound, accounts.ReasonOwnerMissing},
	} {
		e := newEnv(t, func(s store.Store) store.Store { return faultyOwners{s, c.err} })
		_, err := e.svc.AuthenticateClient(context.Background(), "svc", e.secret, inside)
		if accounts.ReasonOf(err) != c.reason || errors.Is(err, store.ErrUnavailable) != (c.reason == "") {
			t.Errorf("client secret, owner read fails with %v: got %v (reason %q)", c.err, err, accounts.ReasonOf(err))
		}
		_, err = e.svc.AuthenticateBearer(context.Background(), e.pat, "127.0.0.1")
		if accounts.ReasonOf(err) != c.reason || errors.Is(err, store.ErrUnavailable) != (c.reason == "") {
			t.Errorf("bearer, owner read fails with %v: got %v (reason %q)", c.err, err, accounts.ReasonOf(err))
		}
		live, err := e.svc.CredentialActive(context.Background(), e.secretKey.ID, nil, nil)
		if live || errors.Is(err, store.ErrUnavailable) != (c.reason == "") {
			t.Errorf("introspection, owner read fails with %v: %v, %v", c.err, live, err)
		}
	}
}

// The status of a key at a moment: revoked wins over expired, the
// expiring-soon window is inclusive, a key without expiry stays active.
func TestKeyStatus(t *testing.T) {
	soon := accounts.DefaultPolicy().ExpiringSoon
	cases := []struct {
		name string
		key  store.Key
		want accounts.KeyStatus
	}{
		{"no expiry", store.Key{}, accounts.KeyActive},
		{"far from expiry", store.Key{ExpiresAt: t0.Add(soon + time.Second)}, accounts.KeyActive},
		{"window starts", store.Key{ExpiresAt: t0.Add(soon)}, accounts.KeyExpiringSoon},
		{"last second", store.Key{ExpiresAt: t0.Add(time.Second)}, accounts.KeyExpiringSoon},
		{"expires now", store.Key{ExpiresAt: t0}, accounts.KeyExpired},
		{"expired", store.Key{ExpiresAt: t0.Add(-time.Hour)}, accounts.KeyExpired},
		{"revoked", store.Key{RevokedAt: t0.Add(-time.Hour)}, accounts.KeyRevoked},
		{"revoked and expired", store.Key{RevokedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Minute)}, accounts.KeyRevoked},
	}
	svc := accounts.New(nil, accounts.Options{Policy: accounts.DefaultPolicy(), Now: func() time.Time { return t0 }})
	for _, c := range cases {
		got := svc.KeyStatus(c.key)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if got.Usable() != (c.want == accounts.KeyActive || c.want == accounts.KeyExpiringSoon) {
			t.Errorf("%s: Usable() = %v", c.name, got.Usable())
		}
	}
}

// The same public key registered twice (a replacement created before the
// old key is revoked): an assertion naming the key by its thumbprint is
// accepted through the usable registration, whatever the order.
func TestAssertionPrefersTheUsableRegistration(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	der, err := x509.MarshalPKIXPublicKey(&e.signer.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	setup := accounts.New(e.db, accounts.Options{Policy: accounts.DefaultPolicy(), Now: func() time.Time { return e.now }})
	second, _, err := setup.CreateKey(ctx, admin, "svc", accounts.NewKey{Name: "jwk2",
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(second.PublicJWK); err != nil {
		t.Fatal(err)
	}
	e.kid = jwk.KeyID // the thumbprint, which names both registrations
	for i, revoke := range []func(){func() {}, func() { e.revoke(t, e.jwkKey.ID) }} {
		revoke()
		p, err := e.svc.AuthenticateAssertion(ctx, e.assertion(t), "svc", []string{testIssuer}, inside)
		if err != nil || (i == 1 && p.Key.ID != second.ID) {
			t.Fatalf("step %d: %v, %+v", i, err, p)
		}
	}
	e.revoke(t, second.ID)
	_, err = e.svc.AuthenticateAssertion(ctx, e.assertion(t), "svc", []string{testIssuer}, inside)
	if accounts.ReasonOf(err) != accounts.ReasonKeyRevoked {
		t.Fatalf("both revoked: %v (%q)", err, accounts.ReasonOf(err))
	}
}
