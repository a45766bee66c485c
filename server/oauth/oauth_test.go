package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/issuer"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// results records the coarse outcomes the metrics would see.
type results []Result

func (r *results) TokenIssued(string)                         {}
func (r *results) TokenFailed(res Result)                     { *r = append(*r, res) }
func (r *results) FederatedExchange(string, FederationResult) {}

// ownersDown is the real store except that owners cannot be read (an
// etcd replica that cannot answer for a moment).
type ownersDown struct{ store.Store }

func (ownersDown) GetServiceAccount(context.Context, string) (store.ServiceAccount, error) {
	return store.ServiceAccount{}, store.ErrUnavailable
}

// A failed authentication answers the client with the one uniform
// invalid_client; why it failed (the typed reason) goes to the log and
// nowhere else, and the metrics see only the OAuth error code. An outage
// is not a failed authentication: it answers 503.
func TestAuthenticationFailuresKeepHintAndDebugApart(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin := accounts.Actor{User: store.User{Name: "admin", Admin: true, Status: store.StatusActive}}
	setup := accounts.New(db, accounts.Options{Policy: accounts.DefaultPolicy()})
	if _, err := setup.CreateServiceAccount(ctx, admin, accounts.NewServiceAccount{Name: "svc", Email: "svc@example.com",
		AllowedCIDRs: []string{"127.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	_, secret, err := setup.CreateKey(ctx, admin, "svc", accounts.NewKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		st         store.Store
		cc         op.ClientCredentials
		status     int
		code       string
		reason     accounts.FailureReason // in the log
		metricSeen bool
	}{
		{"no secret", db, op.ClientCredentials{ClientID: "svc"}, 401, "invalid_client", accounts.ReasonNoSecret, true},
		{"malformed", db, op.ClientCredentials{ClientID: "svc", ClientSecret: "hunter2"}, 401, "invalid_client", accounts.ReasonMalformedCredential, true},
		{"other client's key", db, op.ClientCredentials{ClientID: "other", ClientSecret: secret}, 401, "invalid_client", accounts.ReasonClientMismatch, true},
		{"malformed assertion", db, op.ClientCredentials{ClientAssertion: "a.b.c"}, 401, "invalid_client", accounts.ReasonAssertionMalformed, true},
		{"owner unreadable", ownersDown{db}, op.ClientCredentials{ClientID: "svc", ClientSecret: secret}, 503, "server_error", "", false},
	}
	for _, c := range cases {
		var log bytes.Buffer
		var seen results
		s := New(accounts.New(c.st, accounts.Options{Policy: accounts.DefaultPolicy()}), issuer.New("https://i.example.com", nil, nil), zerolog.New(&log))
		s.SetObserver(&seen)
		_, err := s.authenticate(ctx, &c.cc, http.Header{}, TokenPath)
		rec := httptest.NewRecorder()
		op.WriteError(rec, httptest.NewRequest(http.MethodPost, TokenPath, nil), err, nil)
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != c.status || body.Error != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, rec.Code, rec.Body, c.status, c.code)
		}
		if c.reason != "" {
			if body.Description != accounts.ErrInvalidClient.Error() {
				t.Errorf("%s: client told %q, not the uniform answer", c.name, body.Description)
			}
			if !strings.Contains(log.String(), `"reason":"`+string(c.reason)+`"`) {
				t.Errorf("%s: log %s lacks reason %s", c.name, log.String(), c.reason)
			}
		}
		if strings.Contains(rec.Body.String(), "reason") || (c.reason != "" && strings.Contains(rec.Body.String(), string(c.reason))) {
			t.Errorf("%s: the reason reached the client: %s", c.name, rec.Body)
		}
		if (len(seen) == 1 && seen[0] == ResultInvalidClient) != c.metricSeen || len(seen) > 1 {
			t.Errorf("%s: metrics saw %v", c.name, seen)
		}
	}
}

// ClaimedClient: which client a request says it is, before verification.
func TestClaimedClient(t *testing.T) {
	cases := []struct {
		name, user, form string
		basic            bool
		want             string
		err              error
	}{
		{"basic", "svc", "", true, "svc", nil},
		{"basic, form-encoded", "a%2Bb", "", true, "a+b", nil},
		{"body", "", "client_id=svc", false, "svc", nil},
		{"basic and agreeing body", "svc", "client_id=svc", true, "svc", nil},
		{"basic and contradicting body", "svc", "client_id=other", true, "svc", ErrClientIDMismatch},
		{"two body ids", "", "client_id=a&client_id=b", false, "a", ErrClientIDMismatch},
		{"empty body id means none", "", "client_id=", false, "", nil},
		{"neither", "", "grant_type=client_credentials", false, "", nil},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(c.form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.basic {
			r.SetBasicAuth(c.user, "secret")
		}
		got, err := ClaimedClient(r)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

// The authorization endpoint refuses every request, by the RFC's codes,
// and never redirects.
func TestAuthorizeRefusesEverything(t *testing.T) {
	cases := []struct {
		method, query, body, ctype string
		status                     int
		code                       string
	}{
		{http.MethodGet, "", "", "", 400, "invalid_request"},
		{http.MethodGet, "response_type=code&client_id=svc&redirect_uri=https://evil.example.com", "", "", 400, "unauthorized_client"},
		{http.MethodGet, "response_type=token", "", "", 400, "unsupported_response_type"},
		{http.MethodGet, "response_type=code&response_type=code", "", "", 400, "invalid_request"},
		{http.MethodPost, "", "response_type=code", "application/x-www-form-urlencoded", 400, "unauthorized_client"},
		{http.MethodPost, "", `{"response_type":"code"}`, "application/json", 400, "invalid_request"},
		{http.MethodPut, "", "", "", 405, "invalid_request"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, AuthorizePath+"?"+c.query, strings.NewReader(c.body))
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		rec := httptest.NewRecorder()
		Authorize(rec, r)
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != c.status || body["error"] != c.code || rec.Header().Get("Location") != "" {
			t.Errorf("%s ?%s %s: %d %v, want %d %s", c.method, c.query, c.body, rec.Code, body, c.status, c.code)
		}
	}
}
