package server

import (
	"log"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/server/discovery"
	"github.com/tokenwright/tokenwright/server/edge"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/server/ratelimit"
	"github.com/tokenwright/tokenwright/web"
)

// The properties of each kind of route (server/edge). The OAuth endpoints
// share one set of rate-limit buckets; introspection is charged for
// failures only.
var (
	discoveryRoute  = edge.Props{Label: edge.LabelDiscovery, CORS: edge.CORSOn, Limit: edge.LimitNone, Errors: edge.ErrorsAPI, CSP: edge.CSPNone}
	jwksRoute       = edge.Props{Label: edge.LabelJWKS, CORS: edge.CORSOn, Limit: edge.LimitNone, Errors: edge.ErrorsAPI, CSP: edge.CSPNone}
	tokenRoute      = edge.Props{Label: edge.LabelToken, CORS: edge.CORSTokenEndpoint, Limit: edge.LimitOAuth, Errors: edge.ErrorsOAuth, CSP: edge.CSPStrict, Form: true}
	introspectRoute = edge.Props{Label: edge.LabelOAuthOther, CORS: edge.CORSOff, Limit: edge.LimitOAuthFailures, Errors: edge.ErrorsOAuth, CSP: edge.CSPStrict, Form: true}
	revokeRoute     = edge.Props{Label: edge.LabelOAuthOther, CORS: edge.CORSOff, Limit: edge.LimitOAuth, Errors: edge.ErrorsOAuth, CSP: edge.CSPStrict, Form: true}
	authorizeRoute  = edge.Props{Label: edge.LabelOAuthOther, CORS: edge.CORSOff, Limit: edge.LimitNone, Errors: edge.ErrorsOAuth, CSP: edge.CSPStrict}
	probeRoute      = edge.Props{Label: edge.LabelHealth, CORS: edge.CORSOff, Limit: edge.LimitNone, Errors: edge.ErrorsAPI, CSP: edge.CSPStrict, Quiet: true}
	metricsRoute    = edge.Props{Label: edge.LabelMetrics, CORS: edge.CORSOff, Limit: edge.LimitNone, Errors: edge.ErrorsAPI, CSP: edge.CSPStrict, Quiet: true}
	adminRoute      = edge.Props{Label: edge.LabelAdmin, CORS: edge.CORSOn, Limit: edge.LimitAdmin, Errors: edge.ErrorsAPI, CSP: edge.CSPStrict, ByTemplate: true}
	// apiNamespace: unknown paths under /api/ other than the admin API's
	// are still readable cross-origin (a console on another origin sees
	// the 404, not a CORS failure).
	apiNamespace = edge.Props{Label: edge.LabelWeb, CORS: edge.CORSOn, Limit: edge.LimitNone, Errors: edge.ErrorsAPI, CSP: edge.CSPStrict}
	// webRoute: the console and the catch-all (the home page, and the JSON
	// 404 of every unknown path); the console sets its own, looser policy
	// over the strict one.
	webRoute = edge.Props{Label: edge.LabelWeb, CORS: edge.CORSOff, Limit: edge.LimitNone, Errors: edge.ErrorsAPI, CSP: edge.CSPStrict}
)

// routes is the route table: every route of the public listener with its
// properties. The admin API's own table is admin.API.Register.
func (s *Server) routes(oauthServer *oauth.Server, adminAPI *admin.API) *edge.Table {
	t := edge.New(edge.Options{Log: s.log, Metrics: s.metrics, CORS: s.cfg.CORS, Limits: s.cfg.Limits, Now: s.now, Tracing: s.tracing,
		OnRateLimited: func(endpoint string, scope ratelimit.Scope) { s.metrics.RateLimited(endpoint, string(scope)) }}, webRoute)
	get := []string{http.MethodGet, http.MethodHead}
	docs := discovery.New(s.cfg.Issuer, s.accounts.AdvertisedScopes, s.signing, s.now)
	t.Handle("/.well-known/openid-configuration", discoveryRoute, http.HandlerFunc(docs.ServeMetadata), get...)
	t.Handle("/.well-known/oauth-authorization-server", discoveryRoute, http.HandlerFunc(docs.ServeMetadata), get...)
	// Advertised by the metadata; refuses every request (oauth.Authorize).
	t.Handle(oauth.AuthorizePath, authorizeRoute, http.HandlerFunc(oauth.Authorize))
	t.Handle(oauth.KeysPath, jwksRoute, http.HandlerFunc(docs.ServeJWKS), get...)
	oauthHandler := redactErrorBodies(oauthServer.Handler())
	t.Handle(oauth.TokenPath, tokenRoute, oauthHandler)
	t.Handle(oauth.IntrospectPath, introspectRoute, oauthHandler)
	t.Handle(oauth.RevokePath, revokeRoute, oauthHandler)
	t.Handle("/healthz", probeRoute, http.HandlerFunc(serveHealthy), get...)
	t.Handle("/readyz", probeRoute, http.HandlerFunc(s.serveReady), get...)
	// With metricsListen, /metrics is served on its own listener only, and
	// the public one answers 404 (metricsendpoint.go).
	metrics := http.Handler(http.HandlerFunc(edge.NotFound))
	if s.cfg.MetricsListen == "" {
		metrics = s.metricsHandler()
	}
	t.Handle("/metrics", metricsRoute, metrics, http.MethodGet)
	if s.db != nil {
		// Online backups stream the bbolt file; an etcd cluster is backed
		// up with etcdctl snapshot save (docs/high-availability.md).
		adminAPI.SetSnapshotter(s.snapshot)
	}
	t.Mount(admin.Prefix+"/", adminRoute, adminAPI.Register)
	s.ssoRoutes(t) // before the console's prefix (ssoroutes.go)
	// The console's sign-in settings, also before its prefix (consoleroutes.go).
	s.consoleSettings(t)
	// The web console: static assets, a client of the admin API.
	console := web.Console()
	t.Handle(strings.TrimSuffix(web.ConsolePath, "/"), webRoute, console, get...)
	t.Prefix(web.ConsolePath, webRoute, console, get...)
	// Unknown paths in the protocol namespaces are answered by the
	// catch-all below, with the namespace's properties (error format,
	// CORS, label).
	t.Namespace("/oauth/", authorizeRoute)
	t.Namespace("/.well-known/", discoveryRoute)
	t.Namespace("/api/", apiNamespace)
	t.Prefix("/", webRoute, web.Handler(s.cfg.Issuer), get...)
	return t
}

func serveHealthy(w http.ResponseWriter, _ *http.Request) {
	edge.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady reports whether the store answers and a signing key is loaded.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"store": "ok", "signingKey": "ok"}
	status := http.StatusOK
	if err := s.store.Health(r.Context()); err != nil {
		checks["store"], status = "unavailable", http.StatusServiceUnavailable
	}
	if st := s.signing.Current(); st == nil || st.Active == nil {
		checks["signingKey"], status = "missing", http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	edge.WriteJSON(w, status, map[string]any{"status": http.StatusText(status), "checks": checks})
}

// newStdLogger routes net/http's internal messages (TLS handshake errors
// and the like) into the structured log.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(zerologWriter{l}, "", 0)
}

type zerologWriter struct{ l zerolog.Logger }

func (z zerologWriter) Write(p []byte) (int, error) {
	z.l.Warn().Str("source", "net/http").Msg(string(p))
	return len(p), nil
}
