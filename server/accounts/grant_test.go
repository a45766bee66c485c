package accounts_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// The token-endpoint policy (Grant) as a table: what a token carries for
// an account, key and request, and which requests are refused.
func TestGrantPolicy(t *testing.T) {
	policy := accounts.DefaultPolicy()
	policy.DefaultScopes = []string{"read"}
	policy.DefaultAudiences = []string{"https://api.example.com"}
	policy.DominoSites = []string{"https://domino.example.com"}
	policy.DominoRESTAPI = true
	svc := accounts.New(nil, accounts.Options{Policy: policy})
	generic := store.ServiceAccount{Name: "gen", Profile: accounts.ProfileGeneric, AllowedScopes: []string{"a", "b"},
		AllowedAudiences: []string{"https://x.example.com/*", "https://y.example.com"}}
	cases := []struct {
		name                string
		sa                  store.ServiceAccount
		key                 store.Key
		scopes, audiences   []string
		wantScopes, wantAud []string
		wantLifetime        time.Duration
		wantErr             error
	}{
		{name: "domino defaults", sa: store.ServiceAccount{Name: "dom"},
			wantScopes: []string{accounts.DominoUserAllScope, "read"},
			wantAud:    []string{"https://api.example.com", "https://domino.example.com", accounts.DominoRESTAudience}, wantLifetime: 10 * time.Minute},
		{name: "domino: Domino.user.all first whatever is asked", sa: store.ServiceAccount{Name: "dom"}, scopes: []string{"read"},
			wantScopes: []string{accounts.DominoUserAllScope, "read"}, audiences: []string{"Domino"}, wantAud: []string{"Domino"}, wantLifetime: 10 * time.Minute},
		{name: "domino: own audiences replace the sites", sa: store.ServiceAccount{Name: "dom", AllowedAudiences: []string{"https://z.example.com"}},
			wantScopes: []string{accounts.DominoUserAllScope, "read"}, wantAud: []string{"https://z.example.com", accounts.DominoRESTAudience}, wantLifetime: 10 * time.Minute},
		{name: "generic: own lists, exact audiences by default", sa: generic,
			wantScopes: []string{"a", "b"}, wantAud: []string{"https://y.example.com"}, wantLifetime: 10 * time.Minute},
		{name: "generic: a requested scope and a pattern audience", sa: generic, scopes: []string{"b", "b"}, audiences: []string{"https://x.example.com/api"},
			wantScopes: []string{"b"}, wantAud: []string{"https://x.example.com/api"}, wantLifetime: 10 * time.Minute},
		{name: "scope outside the account", sa: generic, scopes: []string{"c"}, wantErr: accounts.ErrInvalidScope},
		{name: "audience outside the account", sa: generic, audiences: []string{"https://evil.example.com"}, wantErr: accounts.ErrInvalidTarget},
		{name: "key narrows scopes and audiences", sa: generic, key: store.Key{Scopes: []string{"a"}, Audiences: []string{"https://x.example.com/v1/*"}},
			audiences: []string{"https://x.example.com/v1/q"}, wantScopes: []string{"a"}, wantAud: []string{"https://x.example.com/v1/q"}, wantLifetime: 10 * time.Minute},
		{name: "key narrowed to a scope the account lost", sa: generic, key: store.Key{Scopes: []string{"gone"}}, wantErr: accounts.ErrInvalidScope},
		{name: "key narrowed to patterns only: must ask", sa: generic, key: store.Key{Audiences: []string{"https://x.example.com/v1/*"}}, wantErr: accounts.ErrInvalidTarget},
		{name: "key's pattern does not widen", sa: generic, key: store.Key{Audiences: []string{"https://x.example.com/v1/*"}},
			audiences: []string{"https://x.example.com/v2"}, wantErr: accounts.ErrInvalidTarget},
		{name: "account lifetime", sa: store.ServiceAccount{Name: "dom", TokenLifetime: 30 * time.Minute},
			wantScopes: []string{accounts.DominoUserAllScope, "read"},
			wantAud:    []string{"https://api.example.com", "https://domino.example.com", accounts.DominoRESTAudience}, wantLifetime: 30 * time.Minute},
		{name: "lifetime capped", sa: store.ServiceAccount{Name: "dom", TokenLifetime: 5 * time.Hour},
			wantScopes: []string{accounts.DominoUserAllScope, "read"},
			wantAud:    []string{"https://api.example.com", "https://domino.example.com", accounts.DominoRESTAudience}, wantLifetime: accounts.MaxTokenLifetime},
		{name: "string audience with several defaults", sa: store.ServiceAccount{Name: "dom", AudienceFormat: accounts.AudienceString}, wantErr: accounts.ErrInvalidTarget},
		{name: "string audience with one asked", sa: store.ServiceAccount{Name: "dom", AudienceFormat: accounts.AudienceString}, audiences: []string{"Domino"},
			wantScopes: []string{accounts.DominoUserAllScope, "read"}, wantAud: []string{"Domino"}, wantLifetime: 10 * time.Minute},
	}
	for _, c := range cases {
		sa := c.sa
		key := c.key
		key.Owner = sa.Name
		g, err := svc.Grant(&accounts.Principal{Key: key, Account: &sa}, c.scopes, c.audiences)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(g.Scopes, c.wantScopes) || !slices.Equal(g.Audiences, c.wantAud) || g.Lifetime != c.wantLifetime {
			t.Errorf("%s: scopes %v audiences %v lifetime %v err %v; want %v %v %v", c.name, g.Scopes, g.Audiences, g.Lifetime, err,
				c.wantScopes, c.wantAud, c.wantLifetime)
		}
	}
}
