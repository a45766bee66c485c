package sso_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// foreignRedirect is a redirect URI registered at the providers for the
// ID tokens this test obtains by hand (nothing listens there: the test
// stops at the redirect).
const foreignRedirect = "http://127.0.0.1:9/cb"

// idTokenFrom runs an authorization code flow at op as clientID by hand
// (plain HTTP, no PKCE) and returns the raw ID token.
func idTokenFrom(t *testing.T, op *ssotest.Provider, clientID string, u ssotest.User) string {
	t.Helper()
	var disc struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	dresp, err := http.Get(op.Issuer + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(dresp.Body).Decode(&disc)
	dresp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	authorize := disc.Authorization + "?" + url.Values{"client_id": {clientID}, "redirect_uri": {foreignRedirect},
		"response_type": {"code"}, "scope": {"openid email profile"}, "state": {"s"}, "nonce": {"n"}}.Encode()
	browser := ssotest.Browser(t)
	loginURL, id := ssotest.LoginPage(t, browser, authorize)
	resp, callback := ssotest.SubmitLogin(t, browser, loginURL, id, u.Username, u.Password, foreignRedirect)
	resp.Body.Close()
	if callback == nil {
		t.Fatal("no redirect with a code")
	}
	req, _ := http.NewRequest(http.MethodPost, disc.Token, strings.NewReader(url.Values{"grant_type": {"authorization_code"},
		"code": {callback.Query().Get("code")}, "redirect_uri": {foreignRedirect}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, op.ClientSecret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token response %d %s", resp.StatusCode, body)
	}
	return tok.IDToken
}

// substitute is the relying party's transport: it passes everything to
// the provider but replaces the id_token of the token endpoint's answer,
// as a malicious or mixed-up provider (or a network attacker who broke
// TLS) would.
// With userinfoSub set, it replaces the userinfo answer's sub instead.
type substitute struct{ idToken, userinfoSub string }

func (s *substitute) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	field, value := "id_token", s.idToken
	if strings.HasSuffix(r.URL.Path, "/userinfo") {
		field, value = "sub", s.userinfoSub
	}
	if err != nil || value == "" || !strings.HasSuffix(r.URL.Path, "/oauth/token") && field == "id_token" {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err == nil {
		m[field] = value
		body, _ = json.Marshal(m)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// An ID token validly signed by the right provider but issued to another
// client (wrong audience), or validly signed by another provider (wrong
// issuer), is refused at the callback even when the token endpoint hands
// it over, and so is a userinfo answer about another subject (the ID
// token lacks the username and email, so userinfo is used); each refusal
// is audited with the verifier's reason.
func TestSubstitutedIDTokenRefused(t *testing.T) {
	op := ssotest.Start(t, alice)
	otherOP := ssotest.Start(t, alice)
	// One relying party per case, both registered before the providers
	// serve (they take their redirect URIs once).
	muxes := []*http.ServeMux{http.NewServeMux(), http.NewServeMux(), http.NewServeMux()}
	var servers []*httptest.Server
	for _, mux := range muxes {
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
	}
	op.Register(t, servers[0].URL+sso.CallbackPath, servers[1].URL+sso.CallbackPath, servers[2].URL+sso.CallbackPath, foreignRedirect)
	otherOP.Register(t, foreignRedirect)
	for i, tc := range []struct {
		name, want  string
		idToken     func(t *testing.T) string
		userinfoSub string
	}{
		{"audience", "audience", func(t *testing.T) string { return idTokenFrom(t, op, op.OtherClientID, alice) }, ""},
		{"issuer", "issuer", func(t *testing.T) string { return idTokenFrom(t, otherOP, otherOP.ClientID, alice) }, ""},
		{"userinfo sub", "sub", func(*testing.T) string { return "" }, "someone-else"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			sub := &substitute{}
			mux, srv := muxes[i], servers[i]
			c := config.Default()
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
			m, err := sso.New(sso.Options{SSO: c.SSO, Console: c.Console, PublicURL: srv.URL, Client: sso.ClientAuth{Secret: op.ClientSecret},
				Store: db, Accounts: accounts.New(db, accounts.Options{Policy: accounts.DefaultPolicy(), Logger: zerolog.Nop()}),
				Log: zerolog.Nop(), HTTPClient: &http.Client{Transport: sub}})
			if err != nil {
				t.Fatal(err)
			}
			mux.HandleFunc(sso.LoginPath, m.Login)
			mux.HandleFunc(sso.CallbackPath, m.Callback)
			sub.idToken, sub.userinfoSub = tc.idToken(t), tc.userinfoSub

			status, body := signInTo(t, srv.URL)
			if status != http.StatusUnauthorized || !strings.Contains(body, "verification failed") && !strings.Contains(body, "userinfo") {
				t.Fatalf("substituted ID token: %d %s", status, body)
			}
			events, err := db.ListAudit(context.Background(), store.AuditQuery{Action: "sso.signin"})
			if err != nil || len(events) != 1 || !strings.Contains(events[0].Details["error"], tc.want) {
				t.Fatalf("audit %+v %v, want a refusal naming the %s", events, err, tc.want)
			}
			if users, _ := db.ListUsers(context.Background()); len(users) != 0 {
				t.Fatalf("users created: %+v", users)
			}
		})
	}
}

func signInTo(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, body := ssotest.SignIn(t, ssotest.Browser(t), base+sso.LoginPath, alice.Username, alice.Password)
	return resp.StatusCode, body
}
