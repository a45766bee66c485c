package server

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/edge"
)

// newTestServer assembles a server without serving it (the route table is
// built by New).
func newTestServer(t *testing.T, configure func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Issuer = "http://127.0.0.1:1"
	if configure != nil {
		configure(&cfg)
	}
	s, err := New(context.Background(), cfg, Options{Logger: zerolog.Nop(), Environ: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestEveryRouteDeclaresItsProperties: every route the router serves was
// registered through the route table with complete properties, and the
// edge gives a request to that route exactly those properties
// (edge.Table.Check). A route added to the router directly, or by a mount
// outside its prefix, fails here instead of silently going without its
// rate limit or metrics label.
func TestEveryRouteDeclaresItsProperties(t *testing.T) {
	for _, metricsListen := range []string{"", "127.0.0.1:0"} {
		s := newTestServer(t, func(c *config.Config) { c.MetricsListen = metricsListen })
		n, err := s.table.Check()
		if err != nil {
			t.Error(err)
		}
		if n < 40 {
			t.Fatalf("walked %d routes", n)
		}
	}
}

// TestRouteProperties pins what each path gets at the edge: the same
// labels, CORS coverage, limit families, error formats and security
// policy the server had when they were derived from path prefixes.
func TestRouteProperties(t *testing.T) {
	s := newTestServer(t, nil)
	for _, tc := range []struct {
		method, path string
		want         edge.Props
	}{
		{"GET", "/.well-known/openid-configuration", discoveryRoute},
		{"OPTIONS", "/.well-known/oauth-authorization-server", discoveryRoute},
		{"GET", "/keys", jwksRoute},
		{"POST", "/oauth/token", tokenRoute},
		{"GET", "/oauth/token", tokenRoute},
		{"POST", "/oauth/introspect", introspectRoute},
		{"POST", "/oauth/revoke", revokeRoute},
		{"GET", "/oauth/authorize", authorizeRoute},
		{"GET", "/healthz", probeRoute},
		{"HEAD", "/readyz", probeRoute},
		{"GET", "/metrics", metricsRoute},
		{"GET", "/api/v1/openapi.yaml", adminRoute},
		{"GET", "/api/v1/service-accounts", adminRoute},
		{"OPTIONS", "/api/v1/service-accounts", adminRoute},              // a CORS preflight
		{"PUT", "/api/v1/audit", adminRoute},                             // 405
		{"GET", "/api/v1/no-such-thing", adminRoute},                     // 404 by the catch-all, still the admin API's
		{"POST", "/api/v1/service-accounts/x/keys/y:rotate", adminRoute}, // a template
		{"GET", "/oauth/nope", authorizeRoute},                           // 404 by the catch-all, OAuth-style refusals
		{"POST", "/oauth//token", authorizeRoute},                        // redirected to its clean form
		{"GET", "/.well-known/nope", discoveryRoute},
		{"OPTIONS", "/api/v2/x", apiNamespace},
		{"GET", "/api/v1", apiNamespace},
		{"GET", "/", webRoute},
		{"GET", "/console/", webRoute},
		{"GET", "/console", webRoute},
		{"DELETE", "/no/such/path", webRoute},
	} {
		if got := s.table.Props(httptest.NewRequest(tc.method, tc.path, nil)); got != tc.want {
			t.Errorf("%s %s: %+v, want %+v", tc.method, tc.path, got, tc.want)
		}
	}
	// Each property is declared, not defaulted.
	for _, p := range []edge.Props{discoveryRoute, jwksRoute, tokenRoute, introspectRoute, revokeRoute, authorizeRoute, probeRoute, metricsRoute, adminRoute, apiNamespace, webRoute} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}
