package server

import (
	"encoding/json"
	"errors"
	"log"
	"mime"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/server/discovery"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/web"
)

const (
	// maxTokenRequest bounds the token endpoint body: a form with a client
	// id, a 70-byte secret, scopes and a few audiences fits many times over.
	maxTokenRequest = 8 << 10
)

// The properties of each kind of route (edge.go). The OAuth endpoints
// share one set of rate-limit buckets; introspection is charged for
// failures only.
var (
	discoveryRoute  = routeProps{label: labelDiscovery, cors: corsOn, limit: limitNone, errors: errorsAPI, csp: cspNone}
	jwksRoute       = routeProps{label: labelJWKS, cors: corsOn, limit: limitNone, errors: errorsAPI, csp: cspNone}
	tokenRoute      = routeProps{label: labelToken, cors: corsTokenEndpoint, limit: limitOAuth, errors: errorsOAuth, csp: cspStrict, form: true}
	introspectRoute = routeProps{label: labelOAuthOther, cors: corsOff, limit: limitOAuthFailures, errors: errorsOAuth, csp: cspStrict, form: true}
	revokeRoute     = routeProps{label: labelOAuthOther, cors: corsOff, limit: limitOAuth, errors: errorsOAuth, csp: cspStrict, form: true}
	authorizeRoute  = routeProps{label: labelOAuthOther, cors: corsOff, limit: limitNone, errors: errorsOAuth, csp: cspStrict}
	probeRoute      = routeProps{label: labelHealth, cors: corsOff, limit: limitNone, errors: errorsAPI, csp: cspStrict, quiet: true}
	metricsRoute    = routeProps{label: labelMetrics, cors: corsOff, limit: limitNone, errors: errorsAPI, csp: cspStrict, quiet: true}
	adminRoute      = routeProps{label: labelAdmin, cors: corsOn, limit: limitAdmin, errors: errorsAPI, csp: cspStrict, byTemplate: true}
	// apiNamespace: unknown paths under /api/ other than the admin API's
	// are still readable cross-origin (a console on another origin sees
	// the 404, not a CORS failure).
	apiNamespace = routeProps{label: labelWeb, cors: corsOn, limit: limitNone, errors: errorsAPI, csp: cspStrict}
	// webRoute: the console and the catch-all (the home page, and the JSON
	// 404 of every unknown path); the console sets its own, looser policy
	// over the strict one.
	webRoute = routeProps{label: labelWeb, cors: corsOff, limit: limitNone, errors: errorsAPI, csp: cspStrict}
)

// routes is the route table: every route of the public listener with its
// properties. The admin API's own table is admin.API.Register.
func (s *Server) routes(oauthServer *oauth.Server, adminAPI *admin.API) *routeTable {
	t := newRouteTable(s.edge, webRoute)
	get := []string{http.MethodGet, http.MethodHead}
	docs := discovery.New(s.cfg.Issuer, s.accounts.AdvertisedScopes, s.signing, s.now)
	t.handle("/.well-known/openid-configuration", discoveryRoute, http.HandlerFunc(docs.ServeMetadata), get...)
	t.handle("/.well-known/oauth-authorization-server", discoveryRoute, http.HandlerFunc(docs.ServeMetadata), get...)
	// Advertised by the metadata; refuses every request (oauth.Authorize).
	t.handle(oauth.AuthorizePath, authorizeRoute, http.HandlerFunc(oauth.Authorize))
	t.handle(oauth.KeysPath, jwksRoute, http.HandlerFunc(docs.ServeJWKS), get...)
	oauthHandler := redactErrorBodies(oauthServer.Handler())
	t.handle(oauth.TokenPath, tokenRoute, oauthHandler)
	t.handle(oauth.IntrospectPath, introspectRoute, oauthHandler)
	t.handle(oauth.RevokePath, revokeRoute, oauthHandler)
	t.handle("/healthz", probeRoute, http.HandlerFunc(serveHealthy), get...)
	t.handle("/readyz", probeRoute, http.HandlerFunc(s.serveReady), get...)
	// With metricsListen, /metrics is served on its own listener only, and
	// the public one answers 404 (metricsendpoint.go).
	metrics := http.Handler(http.HandlerFunc(notFound))
	if s.cfg.MetricsListen == "" {
		metrics = s.metricsHandler()
	}
	t.handle("/metrics", metricsRoute, metrics, http.MethodGet)
	if s.db != nil {
		// Online backups stream the bbolt file; an etcd cluster is backed
		// up with etcdctl snapshot save (docs/high-availability.md).
		adminAPI.SetSnapshotter(s.snapshot)
	}
	t.mount(admin.Prefix+"/", adminRoute, adminAPI.Register)
	// The web console: static assets, a client of the admin API.
	console := web.Console()
	t.handle(strings.TrimSuffix(web.ConsolePath, "/"), webRoute, console, get...)
	t.prefix(web.ConsolePath, webRoute, console, get...)
	// Unknown paths in the protocol namespaces are answered by the
	// catch-all below, with the namespace's properties (error format,
	// CORS, label).
	t.namespace("/oauth/", authorizeRoute)
	t.namespace("/.well-known/", discoveryRoute)
	t.namespace("/api/", apiNamespace)
	t.prefix("/", webRoute, web.Handler(s.cfg.Issuer), get...)

	t.serve.NotFoundHandler = http.HandlerFunc(notFound)
	t.serve.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "method not allowed"})
	})
	return t
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such endpoint"})
}

func serveHealthy(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// tokenEndpointGuard closes, for the token, introspection and revocation
// endpoints, the gaps the op layer leaves open (see the
// zitadel notes): GET with secrets in the query string, oversized bodies,
// non-form bodies, a body client_id that contradicts the Basic user; and
// adds WWW-Authenticate to 401 answers (RFC 6749 §5.2).
func tokenEndpointGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "this endpoint accepts POST only")
			return
		}
		if r.URL.RawQuery != "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "parameters must be sent in the form body, not the URL")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
			return
		}
		if r.ContentLength > maxTokenRequest {
			oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
		if _, err := oauth.ClaimedClient(r); errors.Is(err, oauth.ErrClientIDMismatch) {
			oauthError(w, http.StatusBadRequest, "invalid_request", oauth.ErrClientIDMismatch.Error())
			return
		} else if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
			return
		} else if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the form body could not be parsed")
			return
		}
		next.ServeHTTP(&challengeWriter{ResponseWriter: w}, r)
	})
}

// challengeWriter adds the Basic challenge to 401 responses.
type challengeWriter struct{ http.ResponseWriter }

func (c *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Basic realm="tokenwright"`)
	}
	c.ResponseWriter.WriteHeader(status)
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
	writeJSON(w, status, map[string]any{"status": http.StatusText(status), "checks": checks})
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
