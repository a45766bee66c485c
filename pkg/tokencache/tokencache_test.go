package tokencache_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/tokencache"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// issued counts the tokens the server actually minted (its log line per
// token), which is what "one token request" means.
func issued(s *servertest.Server) int { return strings.Count(s.Logs(), `"event":"token.issued"`) }

func setup(t *testing.T) (*servertest.Server, string) {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com",
		AllowedScopes: []string{"read", "write"}, AllowedAudiences: []string{"https://domino.example.com/*"}})
	return s, s.CreateKey(t, "svc", api.CreateKey{Name: "k"}).ClientSecret
}

func fetcher(s *servertest.Server, secret string, scopes []string, calls *atomic.Int32) func() (*oauth2.Token, error) {
	return func() (*oauth2.Token, error) {
		calls.Add(1)
		return client.TokenSource(context.Background(), client.TokenConfig{Issuer: s.URL, ClientID: "svc",
			ClientSecret: secret, Scopes: scopes}).Token()
	}
}

func TestThousandCallsOneTokenRequest(t *testing.T) {
	s, secret := setup(t)
	dir := filepath.Join(t.TempDir(), "cache")
	key := tokencache.Key{TokenURL: client.TokenURL(s.URL), ClientID: "svc", ClientSecret: secret, Scopes: []string{"read"}}
	var calls atomic.Int32
	var first string
	for i := range 1000 {
		// A new Cache value each time, as each CLI run would have.
		c := &tokencache.Cache{Dir: dir, WriteError: func(err error) { t.Fatalf("write: %v", err) }}
		tok, hit, err := c.Token(key, fetcher(s, secret, key.Scopes, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok.AccessToken
			if hit {
				t.Fatal("first call was a cache hit on an empty cache")
			}
		} else if !hit || tok.AccessToken != first {
			t.Fatalf("call %d: hit=%v, same token=%v", i, hit, tok.AccessToken == first)
		}
		// The Domino profile always adds Domino.user.all first.
		if sc, _ := tok.Extra("scope").(string); sc != "Domino.user.all read" {
			t.Fatalf("call %d: scope %q", i, sc)
		}
	}
	if calls.Load() != 1 || issued(s) != 1 {
		t.Fatalf("1000 calls made %d fetches, server issued %d tokens; want 1 and 1", calls.Load(), issued(s))
	}

	// Permissions, and the secret appears nowhere in the cache.
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v %v", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d files, want 1 (no temporary leftovers)", len(entries))
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600", e.Name(), info.Mode())
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(data), secret) || strings.Contains(e.Name(), secret) || !strings.Contains(string(data), first) {
			t.Fatalf("cache entry must hold the token but not the secret: %s", data)
		}
	}
}

func TestMissesAndExpiry(t *testing.T) {
	s, secret := setup(t)
	dir := t.TempDir()
	now := time.Now()
	var calls atomic.Int32
	c := &tokencache.Cache{Dir: dir, Now: func() time.Time { return now }}
	key := tokencache.Key{TokenURL: client.TokenURL(s.URL), ClientID: "svc", ClientSecret: secret, Scopes: []string{"read"}}
	get := func(k tokencache.Key) (*oauth2.Token, bool) {
		t.Helper()
		tok, hit, err := c.Token(k, fetcher(s, k.ClientSecret, k.Scopes, &calls))
		if err != nil {
			t.Fatal(err)
		}
		return tok, hit
	}
	tok, _ := get(key)
	// The default lifetime is 10 minutes: reusable until 60 s before expiry.
	if _, hit := get(key); !hit {
		t.Fatal("second call missed")
	}
	// Order of scopes does not matter; a different set is a different entry.
	both := key
	both.Scopes = []string{"write", "read"}
	if _, hit := get(both); hit {
		t.Fatal("different scopes hit the cache")
	}
	both.Scopes = []string{"read", "write"}
	if _, hit := get(both); !hit {
		t.Fatal("same scopes in another order missed")
	}
	// A different secret (rotated, or wrong) never sees the cached token.
	other := key
	other.ClientSecret = servertest.WrongSecret(secret)
	if _, ok := c.Get(other); ok {
		t.Fatal("a different secret hit the cache")
	}

	now = tok.Expiry.Add(-61 * time.Second)
	if _, hit := get(key); !hit {
		t.Fatal("61 s before expiry the token should still be reused")
	}
	now = tok.Expiry.Add(-59 * time.Second)
	tok2, hit := get(key)
	if hit || tok2.AccessToken == tok.AccessToken {
		t.Fatal("59 s before expiry the token must be renewed")
	}
	if got := issued(s); got != 3 || calls.Load() != 3 {
		t.Fatalf("server issued %d tokens (fetches %d), want 3", got, calls.Load())
	}

	// A corrupt entry is a miss, then repaired.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, hit := get(key); hit {
		t.Fatal("corrupt entry was a hit")
	}
	if _, hit := get(key); !hit {
		t.Fatal("entry was not rewritten after a corrupt one")
	}
	if err := c.Delete(key); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(key); ok {
		t.Fatal("deleted entry still served")
	}
}

func TestShortTokensUseATenthMargin(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &tokencache.Cache{Dir: dir, Now: func() time.Time { return now }}
	key := tokencache.Key{TokenURL: "http://127.0.0.1:1/oauth/token", ClientID: "c", ClientSecret: "s"}
	if err := c.Put(key, &oauth2.Token{AccessToken: "a", Expiry: now.Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(26 * time.Second) // 4 s left > 3 s margin
	if _, ok := c.Get(key); !ok {
		t.Fatal("30 s token with 4 s left should be reused")
	}
	now = now.Add(2 * time.Second) // 2 s left
	if _, ok := c.Get(key); ok {
		t.Fatal("30 s token with 2 s left must not be reused")
	}
	// Tokens without expiry are never cached.
	if err := c.Put(key, &oauth2.Token{AccessToken: "b"}); err != nil {
		t.Fatal(err)
	}
	if tok, ok := c.Get(key); ok && tok.AccessToken == "b" {
		t.Fatal("token without expiry was cached")
	}
	// A group-readable directory is tightened.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(key, &oauth2.Token{AccessToken: "c", Expiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v after Put, want 0700", st.Mode())
	}
}
