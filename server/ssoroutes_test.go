package server

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
)

// With sso set, the sign-in routes are in the route table with their
// declared properties (and every route still declares its own); without
// it, those paths are the console's.
func TestSSORouteProperties(t *testing.T) {
	if err := ssoRoute.Validate(); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(c *config.Config) {
		c.SSO.Issuer, c.SSO.ClientID, c.SSO.ClientSecretFile = "https://login.example.com/", "tokenwright", secret
	})
	if _, err := s.table.Check(); err != nil {
		t.Fatal(err)
	}
	off := newTestServer(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/ui/login/sso"}, {"GET", "/ui/callback"}, {"POST", "/ui/logout"},
		{"POST", "/ui/cli/session"}, {"DELETE", "/ui/cli/session"}, {"POST", "/ui/cli/device"},
	} {
		if got := s.table.Props(httptest.NewRequest(tc.method, tc.path, nil)); got != ssoRoute {
			t.Errorf("%s %s with sso: %+v, want %+v", tc.method, tc.path, got, ssoRoute)
		}
		if got := off.table.Props(httptest.NewRequest(tc.method, tc.path, nil)); got != webRoute {
			t.Errorf("%s %s without sso: %+v, want the console's %+v", tc.method, tc.path, got, webRoute)
		}
	}
}

// sso.issuer without a client secret refuses the start, naming both ways
// to give one.
func TestSSOWithoutSecretRefused(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Issuer = "http://127.0.0.1:1"
	cfg.SSO.Issuer, cfg.SSO.ClientID = "https://login.example.com/", "tokenwright"
	_, err := New(t.Context(), cfg, Options{Environ: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "TOKENWRIGHT_SSO_CLIENT_SECRET or sso.clientSecretFile") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
		t.Fatalf("the refused start wrote the data directory: %v", err)
	}
}
