package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	zclient "github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store"
)

// Tests of the one reach rule (server/accounts/reach.go) through the
// real HTTP API: a credential gets its owner's allowed lists intersected
// with its own narrowing, evaluated at every request.

const apiBase = "https://api.example.com"

// exchange posts a client-credentials request with Basic credentials and
// returns the HTTP status, the decoded JSON body and, on success, the
// token's claims.
func exchange(t *testing.T, s *servertest.Server, id, secret string, form url.Values) (int, map[string]any, tokenClaims) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("grant_type", "client_credentials")
	status, body, _ := postToken(t, s, form, id, secret)
	var c tokenClaims
	if tok, ok := body["access_token"].(string); ok {
		raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
	}
	return status, body, c
}

// plainUser creates a non-administrator and a PAT of theirs (made by the
// administrator, so it carries no narrowing).
func plainUser(t *testing.T, s *servertest.Server, name string) api.KeyWithSecret {
	t.Helper()
	if code := s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: name, Email: name + "@example.com"}, nil); code != http.StatusCreated {
		t.Fatalf("create user: %d", code)
	}
	var pat api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, "POST", "/api/v1/users/"+name+"/tokens", api.CreateKey{Name: "own"}, &pat); code != http.StatusCreated {
		t.Fatalf("create PAT: %d", code)
	}
	return pat
}

// Finding 1: a plain user cannot give their own PAT more reach than the
// user has (server defaults here), neither at creation nor, for a PAT
// stored before the user was narrowed, at the token endpoint.
func TestPATReachIsBoundedByItsUser(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.Tokens.DefaultScopes = []string{"read"}
		c.Tokens.DefaultAudiences = []string{apiBase + "/a", apiBase + "/pub/*"}
	}})
	pat := plainUser(t, s, "alice")

	refused := []api.CreateKey{
		{Name: "x", Scopes: []string{"admin"}},
		{Name: "x", Scopes: []string{"$DATA"}},
		{Name: "x", Scopes: []string{"read", "Domino.admin"}},
		{Name: "x", Audiences: []string{"https://secret.example.com"}},
		{Name: "x", Audiences: []string{"https://payroll.example.com"}},
		{Name: "x", Audiences: []string{"*"}},
		{Name: "x", Audiences: []string{apiBase + "/*"}},        // wider than /pub/*
		{Name: "x", Audiences: []string{apiBase + "/pub*"}},     // wider than /pub/*
		{Name: "x", Audiences: []string{apiBase + "/b"}},        // not listed
		{Name: "x", Audiences: []string{apiBase + "/pub/../b"}}, // climbs out
	}
	for i, in := range refused {
		in.Name = "x" + strconv.Itoa(i)
		var e api.Error
		if code := s.Do(t, pat.ClientSecret, "POST", "/api/v1/users/alice/tokens", in, &e); code != http.StatusBadRequest {
			t.Errorf("PAT %v/%v: HTTP %d %+v, want 400", in.Scopes, in.Audiences, code, e)
		} else if !strings.Contains(e.Message, "scopes") && !strings.Contains(e.Message, "audiences") {
			t.Errorf("PAT %v/%v: message %q names no field", in.Scopes, in.Audiences, e.Message)
		}
	}
	var narrow api.KeyWithSecret
	if code := s.Do(t, pat.ClientSecret, "POST", "/api/v1/users/alice/tokens",
		api.CreateKey{Name: "narrow", Scopes: []string{"read"}, Audiences: []string{apiBase + "/pub/x*"}}, &narrow); code != http.StatusCreated {
		t.Fatalf("a PAT within the user's reach: HTTP %d", code)
	}

	// The owner's reach is read at every request: a PAT stored with a
	// broader list (made before its user was narrowed) gets only the
	// intersection.
	ctx := context.Background()
	if _, err := s.Server.Store().UpdateUser(ctx, "alice", func(u store.User) (store.User, error) {
		u.AllowedScopes = []string{"read", "write", "admin"}
		u.AllowedAudiences = []string{apiBase + "/a", apiBase + "/b", "https://secret.example.com"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	var wide api.KeyWithSecret
	if code := s.Do(t, pat.ClientSecret, "POST", "/api/v1/users/alice/tokens", api.CreateKey{Name: "wide",
		Scopes: []string{"read", "write", "admin"}, Audiences: []string{apiBase + "/a", "https://secret.example.com"}}, &wide); code != http.StatusCreated {
		t.Fatalf("a PAT within the widened user's reach: HTTP %d", code)
	}
	if _, err := s.Server.Store().UpdateUser(ctx, "alice", func(u store.User) (store.User, error) {
		u.AllowedScopes = []string{"read"}
		u.AllowedAudiences = []string{apiBase + "/a", apiBase + "/b"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	status, body, c := exchange(t, s, "alice", wide.ClientSecret, nil)
	if status != http.StatusOK || c.Scope != "Domino.user.all read" || !slices.Equal(c.Aud, []string{apiBase + "/a"}) {
		t.Fatalf("narrowed user's PAT: HTTP %d %v scope %q aud %v", status, body, c.Scope, c.Aud)
	}
	for _, f := range []url.Values{{"scope": {"write"}}, {"scope": {"admin"}}} {
		if status, body, _ := exchange(t, s, "alice", wide.ClientSecret, f); status != 400 || body["error"] != "invalid_scope" {
			t.Errorf("%v: HTTP %d %v, want invalid_scope", f, status, body)
		}
	}
	// /b is the user's but not the PAT's; secret.example.com the PAT's but
	// no longer the user's.
	for _, f := range []url.Values{{"resource": {apiBase + "/b"}}, {"resource": {"https://secret.example.com"}}} {
		if status, body, _ := exchange(t, s, "alice", wide.ClientSecret, f); status != 400 || body["error"] != "invalid_target" {
			t.Errorf("%v: HTTP %d %v, want invalid_target", f, status, body)
		}
	}
	// The PAT made without narrowing follows its user.
	if status, body, c := exchange(t, s, "alice", pat.ClientSecret, nil); status != 200 || c.Scope != "Domino.user.all read" ||
		!slices.Equal(c.Aud, []string{apiBase + "/a", apiBase + "/b"}) {
		t.Fatalf("unnarrowed PAT: HTTP %d %v %q %v", status, body, c.Scope, c.Aud)
	}
}

// Finding 2: narrowing an account narrows its keys at once (also tokens
// already issued, at introspection); widening it never widens a
// narrowed key.
func TestNarrowingAnAccountNarrowsItsKeys(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	gw := introspector(t, s)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Profile: "generic",
		AllowedScopes: []string{"read", "write"}, AllowedAudiences: []string{apiBase + "/private", apiBase + "/public", apiBase + "/*"}})
	all := s.CreateKey(t, "svc", api.CreateKey{Name: "all", Scopes: []string{"read", "write"},
		Audiences: []string{apiBase + "/private", apiBase + "/public", apiBase + "/*"}})
	readOnly := s.CreateKey(t, "svc", api.CreateKey{Name: "ro", Scopes: []string{"read"}, Audiences: []string{apiBase + "/public"}})

	status, body, c := exchange(t, s, "svc", all.ClientSecret, nil)
	if status != 200 || c.Scope != "read write" {
		t.Fatalf("before narrowing: HTTP %d %v %q", status, body, c.Scope)
	}
	before := body["access_token"].(string)
	if !introspect(t, s, gw, before).Active {
		t.Fatal("fresh token inactive")
	}

	narrowed := []string{"read"}
	auds := []string{apiBase + "/public", apiBase + "/public/*"}
	if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc",
		api.UpdateServiceAccount{AllowedScopes: &narrowed, AllowedAudiences: &auds}, nil); code != 200 {
		t.Fatalf("narrowing: %d", code)
	}
	status, body, c = exchange(t, s, "svc", all.ClientSecret, nil)
	if status != 200 || c.Scope != "read" || !slices.Equal(c.Aud, []string{apiBase + "/public"}) {
		t.Fatalf("after narrowing, defaults: HTTP %d %v scope %q aud %v", status, body, c.Scope, c.Aud)
	}
	if status, body, _ := exchange(t, s, "svc", all.ClientSecret, url.Values{"scope": {"write"}}); status != 400 || body["error"] != "invalid_scope" {
		t.Errorf("write after narrowing: HTTP %d %v", status, body)
	}
	if status, body, _ := exchange(t, s, "svc", all.ClientSecret, url.Values{"resource": {apiBase + "/private"}}); status != 400 || body["error"] != "invalid_target" {
		t.Errorf("/private after narrowing: HTTP %d %v", status, body)
	}
	if status, body, c := exchange(t, s, "svc", all.ClientSecret, url.Values{"resource": {apiBase + "/public/x"}}); status != 200 || !slices.Equal(c.Aud, []string{apiBase + "/public/x"}) {
		t.Errorf("/public/x after narrowing: HTTP %d %v", status, body)
	}
	// A token issued before the narrowing carries write: no longer active.
	if res := introspect(t, s, gw, before); res.Active {
		t.Errorf("token with a scope the account lost is still active: %+v", res)
	}

	// Widening the account does not widen the narrowed key.
	wide := []string{"read", "write", "admin"}
	wideAuds := []string{apiBase + "/*"}
	if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc",
		api.UpdateServiceAccount{AllowedScopes: &wide, AllowedAudiences: &wideAuds}, nil); code != 200 {
		t.Fatalf("widening: %d", code)
	}
	if status, body, c := exchange(t, s, "svc", readOnly.ClientSecret, url.Values{"resource": {apiBase + "/public"}}); status != 200 || c.Scope != "read" {
		t.Fatalf("narrowed key after widening: HTTP %d %v %q", status, body, c.Scope)
	}
	for _, f := range []url.Values{{"scope": {"write"}}, {"resource": {apiBase + "/private"}}} {
		if status, body, _ := exchange(t, s, "svc", readOnly.ClientSecret, f); status != 400 {
			t.Errorf("narrowed key after widening, %v: HTTP %d %v", f, status, body)
		}
	}
	// /public still matches the account's /* pattern, so it is the key's
	// default audience.
	if status, body, c := exchange(t, s, "svc", readOnly.ClientSecret, nil); status != 200 || !slices.Equal(c.Aud, []string{apiBase + "/public"}) {
		t.Errorf("narrowed key's default audience: HTTP %d %v", status, body)
	}
	// The account loses /public: the key's only default audience is gone,
	// and nothing is silently widened.
	other := []string{apiBase + "/other/*"}
	if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{AllowedAudiences: &other}, nil); code != 200 {
		t.Fatal(code)
	}
	if status, body, _ := exchange(t, s, "svc", readOnly.ClientSecret, nil); status != 400 || body["error"] != "invalid_target" {
		t.Errorf("no default audience left: HTTP %d %v, want invalid_target", status, body)
	}
	// Narrowed to scopes the account no longer has: refused, not widened.
	none := []string{"admin"}
	if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{AllowedScopes: &none, AllowedAudiences: &wideAuds}, nil); code != 200 {
		t.Fatal(code)
	}
	if status, body, _ := exchange(t, s, "svc", readOnly.ClientSecret, url.Values{"resource": {apiBase + "/public"}}); status != 400 || body["error"] != "invalid_scope" {
		t.Errorf("no scope left: HTTP %d %v, want invalid_scope", status, body)
	}
}

// Finding 12: requested audiences are validated before they are matched,
// so a prefix pattern cannot be climbed out of.
func TestHostileAudiencesAreRefused(t *testing.T) {
	t.Parallel()
	// Many requests from one client: rate limits are not under test.
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Profile: "generic",
		AllowedAudiences: []string{apiBase + "/*", "Domino"}})
	key := s.CreateKey(t, "svc", api.CreateKey{Name: "a", Audiences: []string{apiBase + "/a*"}})
	hostile := []string{
		apiBase + "/abc/../../b", apiBase + "/a/../b", apiBase + "/a/./b", apiBase + "/a/..",
		apiBase + "/a/%2e%2e/b", apiBase + "/a/%2E%2E/b", apiBase + "/a/.%2e/b", apiBase + "/a/%2e./b",
		apiBase + "/a/%252e%252e/b", apiBase + "/a%2fb", apiBase + "/a%2F..%2Fb", apiBase + "/a%5cb",
		apiBase + "/a\\..\\b", apiBase + "/a/..;/b", apiBase + "/a;x=y/../b",
		apiBase + "/a\x00", apiBase + "/a\tb", apiBase + "/a\nb", apiBase + "/a\rb", apiBase + "/a b", apiBase + "/a\x7f",
		apiBase + "/a/%00", apiBase + "/a/%0a", apiBase + "/a/%c0%ae%c0%ae/b", apiBase + "/a/\uff0e\uff0e/b",
		"https://user@api.example.com/a", "https://api.example.com@evil.example.com/a",
		"http://api.example.com/a", "HTTPS://api.example.com/a", "https://api.example.com/a#frag", "https://api.example.com/a?x=/../b",
		apiBase + "/a*", "https:///a", "domino", "Domino ",
	}
	for _, a := range hostile {
		for _, param := range []string{"resource", "audience"} {
			if param == "audience" && strings.ContainsAny(a, " \t\n\r") {
				continue // "audience" is space separated
			}
			status, body, c := exchange(t, s, "svc", key.ClientSecret, url.Values{param: {a}})
			if status != 400 || body["error"] != "invalid_target" {
				t.Errorf("%s=%q: HTTP %d %v aud %q, want invalid_target", param, a, status, body, c.Aud)
			}
		}
	}
	if status, body, c := exchange(t, s, "svc", key.ClientSecret, url.Values{"resource": {apiBase + "/abc/d"}}); status != 200 || !slices.Equal(c.Aud, []string{apiBase + "/abc/d"}) {
		t.Fatalf("a legitimate audience: HTTP %d %v", status, body)
	}

	// The same validation applies to what administrators set, patterns
	// included.
	badPatterns := []string{
		apiBase + "/../*", apiBase + "/a/%2e%2e/*", apiBase + "/a/%2*", apiBase + "/a/%*", "http://api.example.com/*",
		"https://api.example.com*", "https://api.example.*", "https://*", "*", "https://user@api.example.com/*",
		apiBase + "/a*/b", apiBase + "/a\\*", apiBase + "/a\t*", "ftp://api.example.com/", "javascript:alert(1)",
		"https://api.example.com/a#x", "Dom ino", "Domino*",
	}
	for _, p := range badPatterns {
		var e api.Error
		auds := []string{p}
		if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{AllowedAudiences: &auds}, &e); code != 400 {
			t.Errorf("admin-set audience %q: HTTP %d, want 400", p, code)
		}
		if code := s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "k", Audiences: []string{p}}, &e); code != 400 {
			t.Errorf("key audience %q: HTTP %d, want 400", p, code)
		}
	}
	good := []string{"https://api.example.com/*", "http://127.0.0.1:8080/*", "http://localhost/x", "http://[::1]:9/", "Domino", "https://h.example.com:8443/a/b"}
	if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{AllowedAudiences: &good}, nil); code != 200 {
		t.Errorf("admin-set good audiences: HTTP %d", code)
	}
}

// Finding 14: an empty element of scope, resource or audience means
// "nothing requested".
func TestEmptyScopeAndResourceMeanNothingRequested(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	for _, f := range []url.Values{
		{"scope": {""}}, {"resource": {""}}, {"audience": {""}}, {"scope": {" "}}, {"audience": {" "}},
		{"scope": {""}, "resource": {""}, "audience": {""}},
	} {
		status, body, c := exchange(t, s, "ci-bot", key.ClientSecret, f)
		if status != 200 || c.Scope != "Domino.user.all $DATA MAIL" || !slices.Equal(c.Aud, []string{dominoSite, "Domino"}) {
			t.Errorf("%v: HTTP %d %v scope %q aud %v", f, status, body, c.Scope, c.Aud)
		}
	}
	// Empty elements next to real ones are ignored too.
	status, body, c := exchange(t, s, "ci-bot", key.ClientSecret, url.Values{"scope": {"$DATA  MAIL "}, "resource": {"", "Domino"}})
	if status != 200 || c.Scope != "Domino.user.all $DATA MAIL" || !slices.Equal(c.Aud, []string{"Domino"}) {
		t.Errorf("mixed: HTTP %d %v scope %q aud %v", status, body, c.Scope, c.Aud)
	}

	// zitadel/oidc's own client sends "scope=" when no scope is requested.
	tok, err := zclient.CallTokenEndpoint(context.Background(), &oidc.ClientCredentialsRequest{
		GrantType: oidc.GrantTypeClientCredentials, ClientID: "ci-bot", ClientSecret: key.ClientSecret,
	}, tokenEndpoint(s.URL+"/oauth/token"))
	if err != nil {
		t.Fatalf("zitadel/oidc client: %v", err)
	}
	if tok.AccessToken == "" {
		t.Fatal("zitadel/oidc client got no token")
	}
}

type tokenEndpoint string

func (e tokenEndpoint) TokenEndpoint() string    { return string(e) }
func (e tokenEndpoint) HttpClient() *http.Client { return http.DefaultClient }

// Source addresses go through the same reach: a key's or PAT's CIDRs must
// lie within its owner's, and a user's CIDRs bind their PATs at the token
// endpoint and on the admin API.
func TestCIDRsAreBoundedByTheOwner(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", AllowedCIDRs: []string{"127.0.0.0/8"}})
	for _, c := range []string{"0.0.0.0/0", "10.0.0.0/8", "::1/128"} {
		if code := s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "k", CIDRs: []string{c}}, nil); code != 400 {
			t.Errorf("key CIDR %s outside the account's: HTTP %d", c, code)
		}
	}
	s.CreateKey(t, "svc", api.CreateKey{Name: "k", CIDRs: []string{"127.0.0.1/32"}})

	pat := plainUser(t, s, "bob")
	if code := s.Do(t, pat.ClientSecret, "GET", "/api/v1/users/me", nil, nil); code != 200 {
		t.Fatalf("PAT before the user is bound to other addresses: HTTP %d", code)
	}
	if _, err := s.Server.Store().UpdateUser(context.Background(), "bob", func(u store.User) (store.User, error) {
		u.AllowedCIDRs = []string{"10.0.0.0/8"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if code := s.Do(t, pat.ClientSecret, "GET", "/api/v1/users/me", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("PAT from outside its user's CIDRs on the admin API: HTTP %d", code)
	}
	if status, body, _ := exchange(t, s, "bob", pat.ClientSecret, nil); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("PAT from outside its user's CIDRs at the token endpoint: HTTP %d %v", status, body)
	}
	if code := s.Do(t, s.AdminToken, "POST", "/api/v1/users/bob/tokens", api.CreateKey{Name: "wide", CIDRs: []string{"127.0.0.0/8"}}, nil); code != 400 {
		t.Errorf("PAT CIDR outside its user's: HTTP %d", code)
	}
}

// A token stays active at introspection only while its credential's
// current reach covers the token's scopes and audiences.
func TestIntrospectionFollowsTheCurrentReach(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	gw := introspector(t, s)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Profile: "generic",
		AllowedScopes: []string{"read", "write"}, AllowedAudiences: []string{apiBase + "/*"}})
	key := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	_, body, _ := exchange(t, s, "svc", key.ClientSecret, url.Values{"scope": {"read"}, "resource": {apiBase + "/private/x"}})
	readPrivate := body["access_token"].(string)
	_, body, _ = exchange(t, s, "svc", key.ClientSecret, url.Values{"scope": {"write"}, "resource": {apiBase + "/public/x"}})
	writePublic := body["access_token"].(string)
	_, body, _ = exchange(t, s, "svc", key.ClientSecret, url.Values{"scope": {"read"}, "resource": {apiBase + "/public/x"}})
	readPublic := body["access_token"].(string)
	for _, tok := range []string{readPrivate, writePublic, readPublic} {
		if !introspect(t, s, gw, tok).Active {
			t.Fatal("fresh token inactive")
		}
	}
	scopes, auds := []string{"read"}, []string{apiBase + "/public/*"}
	if code := s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc",
		api.UpdateServiceAccount{AllowedScopes: &scopes, AllowedAudiences: &auds}, nil); code != 200 {
		t.Fatal(code)
	}
	if introspect(t, s, gw, readPrivate).Active {
		t.Error("token for an audience the account lost is active")
	}
	if introspect(t, s, gw, writePublic).Active {
		t.Error("token with a scope the account lost is active")
	}
	if !introspect(t, s, gw, readPublic).Active {
		t.Error("token still within reach is inactive")
	}
}
