package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
	"github.com/tokenwright/tokenwright/server/config"
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

var templateVar = regexp.MustCompile(`\{[^}]*\}`)

// TestEveryRouteDeclaresItsProperties: every route the router serves was
// registered through the route table with complete properties, and the
// edge gives a request to that route exactly those properties. A route
// added to the router directly, or by a mount outside its prefix, fails
// here instead of silently going without its rate limit or metrics label.
func TestEveryRouteDeclaresItsProperties(t *testing.T) {
	for _, metricsListen := range []string{"", "127.0.0.1:0"} {
		s := newTestServer(t, func(c *config.Config) { c.MetricsListen = metricsListen })
		tbl := s.table
		n := 0
		err := tbl.serve.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			if r.GetHandler() == nil {
				return nil // a subrouter's container: its routes are walked too
			}
			n++
			tmpl, err := r.GetPathTemplate()
			if err != nil {
				t.Errorf("route without a path: %v", err)
				return nil
			}
			declared, ok := tbl.declared[r]
			if !ok {
				t.Errorf("%s: registered on the router, not through the route table", tmpl)
				return nil
			}
			if err := declared.validate(); err != nil {
				t.Errorf("%s: %v", tmpl, err)
			}
			path := templateVar.ReplaceAllString(tmpl, "x")
			methods, _ := r.GetMethods()
			for _, m := range append(methods, http.MethodOptions) {
				if _, got := tbl.match(httptest.NewRequest(m, path, nil)); got != declared {
					t.Errorf("%s %s (route %s): the edge applies %+v, the route declares %+v", m, path, tmpl, got, declared)
				}
			}
			return nil
		})
		if err != nil || n < 40 {
			t.Fatalf("walked %d routes: %v", n, err)
		}
		for r, p := range tbl.edgeProps {
			if err := p.validate(); err != nil {
				t.Errorf("edge route %v: %v", r, err)
			}
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
		want         routeProps
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
		if _, got := s.table.match(httptest.NewRequest(tc.method, tc.path, nil)); got != tc.want {
			t.Errorf("%s %s: %+v, want %+v", tc.method, tc.path, got, tc.want)
		}
	}
	// Each property is declared, not defaulted.
	for _, p := range []routeProps{discoveryRoute, jwksRoute, tokenRoute, introspectRoute, revokeRoute, authorizeRoute, probeRoute, metricsRoute, adminRoute, apiNamespace, webRoute} {
		if err := p.validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	if err := (routeProps{label: labelWeb, cors: corsOff, errors: errorsAPI, csp: cspStrict}).validate(); err == nil {
		t.Error("a route without a rate-limit family was accepted")
	}
}

// TestUndeclaredPropertiesRefused: registering a route whose properties
// leave one undeclared stops the server from being built.
func TestUndeclaredPropertiesRefused(t *testing.T) {
	tbl := newRouteTable(func(_ routeProps, h http.Handler) http.Handler { return h }, webRoute)
	defer func() {
		if recover() == nil {
			t.Fatal("a route without a metrics label was registered")
		}
	}()
	tbl.handle("/new", routeProps{cors: corsOff, limit: limitNone, errors: errorsAPI, csp: cspStrict}, http.NotFoundHandler())
}

func BenchmarkEdgeMatch(b *testing.B) {
	tbl := newRouteTable(func(_ routeProps, h http.Handler) http.Handler { return h }, webRoute)
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/oauth/authorize", "/keys"} {
		tbl.handle(p, discoveryRoute, http.NotFoundHandler())
	}
	tbl.handle("/oauth/token", tokenRoute, http.NotFoundHandler())
	tbl.prefix("/", webRoute, http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, p := tbl.match(r); p != tokenRoute {
			b.Fatal(p)
		}
	}
}
