package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
)

const dominoSite = "https://domino.example.com"

// setup starts a server with one Domino-style account and one key.
func setup(t *testing.T) (*servertest.Server, api.KeyWithSecret) {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{
		UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		Roles: []string{"deployer"}, AllowedScopes: []string{"Domino.user.all", "$DATA", "MAIL"},
		AllowedAudiences: []string{dominoSite, "Domino", "https://api.example.com/*"},
	})
	return s, s.CreateKey(t, "ci-bot", api.CreateKey{Name: "pipeline"})
}

func ccConfig(s *servertest.Server, id, secret string, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/oauth/token",
		Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
}

type tokenClaims struct {
	Iss      string         `json:"iss"`
	Sub      string         `json:"sub"`
	Aud      []string       `json:"aud"`
	Exp      int64          `json:"exp"`
	Iat      int64          `json:"iat"`
	Nbf      int64          `json:"nbf"`
	JTI      string         `json:"jti"`
	ClientID string         `json:"client_id"`
	AZP      string         `json:"azp"`
	Scope    string         `json:"scope"`
	Email    string         `json:"email"`
	CN       string         `json:"CN"`
	Roles    []string       `json:"roles"`
	Extra    map[string]any `json:"-"`
}

func jwtHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestClientCredentialsTokenVerifiesWithGoOIDC(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	ctx := context.Background()

	cc := ccConfig(s, "ci-bot", key.ClientSecret)
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token type %q expiry %v", tok.TokenType, tok.Expiry)
	}
	if got := tok.Extra("scope"); got != "Domino.user.all $DATA MAIL" {
		t.Fatalf("response scope = %v", got)
	}

	provider, err := oidc.NewProvider(ctx, s.URL) // discovery: the issuer must match exactly
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: dominoSite})
	idt, err := verifier.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc rejected the token: %v", err)
	}
	var c tokenClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"iss", c.Iss, s.URL},
		{"sub", c.Sub, "ci-bot"},
		{"client_id", c.ClientID, "ci-bot"},
		{"azp", c.AZP, "ci-bot"},
		{"aud", strings.Join(c.Aud, " "), dominoSite + " Domino"},
		{"scope", c.Scope, "Domino.user.all $DATA MAIL"},
		{"email", c.Email, "ci-bot@example.com"},
		{"CN", c.CN, "CN=ci-bot/O=Acme"},
		{"roles", strings.Join(c.Roles, ","), "deployer"},
		{"exp-iat", c.Exp - c.Iat, int64(600)},
		{"nbf", c.Nbf, c.Iat},
		{"jti", c.JTI[:17], key.ID + "."}, // <key id>.<32 hex digits>
		{"jti length", len(c.JTI), 17 + 32},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("claim %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if now := time.Now().Unix(); c.Iat < now-5 || c.Iat > now+1 {
		t.Errorf("iat %d is not now (%d)", c.Iat, now)
	}
	h := jwtHeader(t, tok.AccessToken)
	if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == "" {
		t.Errorf("header = %v", h)
	}

	// A second token has a fresh jti.
	tok2, err := ccConfig(s, "ci-bot", key.ClientSecret).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idt2, _ := verifier.Verify(ctx, tok2.AccessToken)
	var c2 tokenClaims
	_ = idt2.Claims(&c2)
	if c2.JTI == c.JTI {
		t.Fatal("two tokens share a jti")
	}
}

func TestScopeAndAudienceSelection(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	ctx := context.Background()
	claimsOf := func(tok *oauth2.Token) tokenClaims {
		parts := strings.Split(tok.AccessToken, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c tokenClaims
		_ = json.Unmarshal(raw, &c)
		return c
	}

	cc := ccConfig(s, "ci-bot", key.ClientSecret, "$DATA")
	cc.EndpointParams = url.Values{"resource": {"https://api.example.com/v1/orders"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(tok)
	// Under the Domino profile Domino.user.all is always granted (first).
	if c.Scope != "Domino.user.all $DATA" || !slices.Equal(c.Aud, []string{"https://api.example.com/v1/orders"}) {
		t.Fatalf("scope %q aud %v", c.Scope, c.Aud)
	}

	// "audience" (space separated) works as well as RFC 8707 "resource".
	cc = ccConfig(s, "ci-bot", key.ClientSecret)
	cc.EndpointParams = url.Values{"audience": {"Domino " + dominoSite}}
	tok, err = cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(tok); !slices.Equal(c.Aud, []string{"Domino", dominoSite}) {
		t.Fatalf("aud %v", c.Aud)
	}
}

// oauthError posts a raw form and returns status and OAuth error code.
func postToken(t *testing.T, s *servertest.Server, form url.Values, basicUser, basicPass string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("token endpoint answered non-JSON %q (HTTP %d)", body, resp.StatusCode)
	}
	return resp.StatusCode, out, resp.Header
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	other := s.CreateAccount(t, api.CreateServiceAccount{UserName: "other", Email: "other@example.com"})
	otherKey := s.CreateKey(t, other.UserName, api.CreateKey{Name: "k"})
	// A well-formed credential with a checksum but no record behind it.
	unknown := strings.Replace(key.ClientSecret, key.ID, "AAAAAAAAAAAAAAAA", 1)
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"wrong secret", cc, "ci-bot", servertest.WrongSecret(key.ClientSecret), 401, "invalid_client"},
		{"unknown key", cc, "ci-bot", unknown, 401, "invalid_client"},
		{"unknown client", cc, "nobody", key.ClientSecret, 401, "invalid_client"},
		{"someone else's key", cc, "ci-bot", otherKey.ClientSecret, 401, "invalid_client"},
		{"not a credential", cc, "ci-bot", "hunter2", 401, "invalid_client"},
		{"no secret", with("client_id", "ci-bot"), "", "", 401, "invalid_client"},
		{"disallowed scope", with("scope", "Domino.user.all $SETUP"), "ci-bot", key.ClientSecret, 400, "invalid_scope"},
		{"disallowed audience", with("resource", "https://evil.example.com"), "ci-bot", key.ClientSecret, 400, "invalid_target"},
		{"pattern is not an audience", with("resource", "https://api.example.org/x"), "ci-bot", key.ClientSecret, 400, "invalid_target"},
		{"other account's audience", with("audience", "https://x.example.com"), "other", otherKey.ClientSecret, 400, "invalid_target"},
		{"unsupported grant", with("grant_type", "password"), "ci-bot", key.ClientSecret, 400, "unsupported_grant_type"},
		{"two auth methods", with("client_id", "ci-bot", "client_secret", key.ClientSecret), "ci-bot", key.ClientSecret, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := postToken(t, s, tc.form, tc.user, tc.pass)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("got HTTP %d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			// Failures never say why, so they cannot reveal what exists.
			if tc.code == "invalid_client" && body["error_description"] != "client authentication failed" &&
				tc.name != "no secret" {
				t.Errorf("description leaks detail: %v", body["error_description"])
			}
		})
	}
	if strings.Contains(s.Logs(), key.ClientSecret) || strings.Contains(s.Logs(), otherKey.ClientSecret) {
		t.Fatal("a client secret appeared in the server log")
	}
}

func TestClientSecretPostAndTransportRules(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci-bot"}, "client_secret": {key.ClientSecret}}
	status, body, h := postToken(t, s, form, "", "")
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("client_secret_post: HTTP %d %v", status, body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
		t.Fatalf("token response cache headers: %v", h)
	}

	// GET is refused; with the secret in the query string it is a 400
	// before anything else (issue 7: secrets in URLs are refused everywhere).
	resp, err := http.Get(s.URL + "/oauth/token?" + form.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET with secret in URL: HTTP %d", resp.StatusCode)
	}
	resp, err = http.Get(s.URL + "/oauth/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: HTTP %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// POST with parameters in the URL is refused too.
	resp, err = http.Post(s.URL+"/oauth/token?"+form.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("query parameters on POST: HTTP %d", resp.StatusCode)
	}
	// JSON bodies are not form posts.
	resp, err = http.Post(s.URL+"/oauth/token", "application/json", strings.NewReader(`{"grant_type":"client_credentials"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("JSON body: HTTP %d", resp.StatusCode)
	}
	// Oversized bodies are refused with an OAuth error, not a hang or 500.
	big := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Repeat("a", 20000)}}
	status, body, _ = postToken(t, s, big, "ci-bot", key.ClientSecret)
	if status != http.StatusRequestEntityTooLarge || body["error"] != "invalid_request" {
		t.Fatalf("oversized body: HTTP %d %v", status, body)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if md["issuer"] != s.URL || md["token_endpoint"] != s.URL+"/oauth/token" || md["jwks_uri"] != s.URL+"/keys" {
			t.Fatalf("%s: %v", path, md)
		}
		if g, _ := json.Marshal(md["grant_types_supported"]); string(g) != `["client_credentials","urn:ietf:params:oauth:grant-type:token-exchange","urn:ietf:params:oauth:grant-type:jwt-bearer"]` {
			t.Fatalf("%s advertises grants %s", path, g)
		}
		if m, _ := json.Marshal(md["token_endpoint_auth_methods_supported"]); string(m) != `["client_secret_basic","client_secret_post","private_key_jwt"]` {
			t.Fatalf("%s advertises auth methods %s", path, m)
		}
		// The authorization endpoint is advertised but refuses everything
		// (discovery_test.go); these do not exist at all.
		for _, absent := range []string{"userinfo_endpoint", "end_session_endpoint", "device_authorization_endpoint"} {
			if _, ok := md[absent]; ok {
				t.Fatalf("%s advertises %s", path, absent)
			}
		}
	}
	// Routes the op package would add are absent.
	for _, path := range []string{"/authorize", "/userinfo", "/end_session", "/device_authorization"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
		}
	}

	resp, err := http.Get(s.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("JWKS headers %v", resp.Header)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	k := set.Keys[0]
	if k["kid"] == "" || k["use"] != "sig" || k["alg"] != "RS256" || k["kty"] != "RSA" {
		t.Fatalf("key %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Fatalf("JWKS publishes private parameter %q", private)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/keys", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional JWKS request: HTTP %d", resp.StatusCode)
	}
}

func TestRestartKeepsAccountsKeysAndSigningKey(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	ctx := context.Background()
	before, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ccConfig(s, "ci-bot", key.ClientSecret).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kid := jwtHeader(t, tok.AccessToken)["kid"]
	dir, addr, admin := s.DataDir, s.Addr, s.AdminToken
	s.Stop()

	s2 := servertest.Start(t, servertest.Options{DataDir: dir, Addr: addr})
	if s2.AdminToken != admin {
		t.Fatal("restart re-bootstrapped the administrator")
	}
	// The old token still verifies against the restarted server's keys.
	if _, err := before.Verifier(&oidc.Config{ClientID: dominoSite}).Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}
	tok2, err := ccConfig(s2, "ci-bot", key.ClientSecret).Token(ctx)
	if err != nil {
		t.Fatalf("key lost across restart: %v", err)
	}
	if got := jwtHeader(t, tok2.AccessToken)["kid"]; got != kid {
		t.Fatalf("signing key changed across restart: %v -> %v", kid, got)
	}
	var accounts api.List[api.ServiceAccount]
	s2.Do(t, admin, http.MethodGet, "/api/v1/service-accounts", nil, &accounts)
	if len(accounts.Items) != 1 || accounts.Items[0].NotesName != "CN=ci-bot/O=Acme" {
		t.Fatalf("accounts after restart: %+v", accounts.Items)
	}
}

func TestRetrieveErrorIsParsedByOAuth2(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	_, err := ccConfig(s, "ci-bot", key.ClientSecret, "nope").Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_scope" {
		t.Fatalf("got %v", err)
	}
}

// Every issuance is recorded: one JSON log line per token request, with
// the client, the credential, the jti, the signing kid, scope, audience
// and expiry, and never the secret or the token.
func TestTokenIssuanceIsRecordedOnOneLogLine(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	tok, err := ccConfig(s, "ci-bot", key.ClientSecret).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	claims := claimsOfToken(t, tok.AccessToken)
	var lines []map[string]any
	for _, line := range strings.Split(s.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["path"] == "/oauth/token" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d log lines for one token request", len(lines))
	}
	l := lines[0]
	want := map[string]any{"event": "token.issued", "message": "token issued", "client_id": "ci-bot", "key_id": key.ID,
		"jti": claims["jti"], "kid": jwtHeader(t, tok.AccessToken)["kid"], "status": float64(200), "remote": "127.0.0.1"}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("log field %s = %v, want %v", k, l[k], v)
		}
	}
	if toJSON(l["aud"]) != toJSON(claims["aud"]) || l["exp"] == nil || l["scope"] == nil {
		t.Errorf("log line lacks aud/exp/scope: %v", l)
	}
	if logs := s.Logs(); strings.Contains(logs, key.ClientSecret) || strings.Contains(logs, tok.AccessToken) {
		t.Fatal("the secret or the token reached the log")
	}
}
