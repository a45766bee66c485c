package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/httprec"
	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/server/clientip"
	"github.com/tokenwright/tokenwright/server/reqctx"
	"github.com/tokenwright/tokenwright/server/requestid"
)

// routeProps is what the middleware in front of the router needs to know
// about a route: declared where the route is registered (routes.go) and
// handed to each middleware as a value, never recovered by matching the
// request's path against prefixes. Every field's zero value means "not
// declared", which routeTable refuses, so that a new route cannot silently
// go without its rate limit or its metrics label.
type routeProps struct {
	// label names the route in the latency metrics.
	label routeLabel
	// cors says whether browsers on the configured origins may call it.
	cors corsPolicy
	// limit is the family of rate limits that guards it (limits.go).
	limit limitFamily
	// errors is the format of the refusals the edge answers itself
	// (credentials in the URL, oversized bodies).
	errors errorFormat
	// csp says whether hygiene sets the strict Content-Security-Policy.
	csp cspPolicy
	// form puts tokenEndpointGuard in front: POST-only, bounded form
	// bodies, before the rate limiter reads the client id from the body.
	form bool
	// byTemplate labels the latency metrics with the serving route's path
	// template (/api/v1/service-accounts/{name}) instead of label, for the
	// routes of a mount; a path no mounted route serves keeps label. The
	// templates are a fixed set, so the label stays bounded.
	byTemplate bool
	// quiet: requests are logged at debug level (health probes and
	// metrics scrapes arrive every few seconds and would drown the log).
	quiet bool
}

// routeLabel is a route's metrics label: one of a fixed set, so that
// hostile paths cannot create series.
type routeLabel string

const (
	labelToken      routeLabel = "token"
	labelOAuthOther routeLabel = "oauth_other"
	labelJWKS       routeLabel = "jwks"
	labelDiscovery  routeLabel = "discovery"
	labelAdmin      routeLabel = "admin"
	labelHealth     routeLabel = "health"
	labelMetrics    routeLabel = "metrics"
	labelWeb        routeLabel = "web"
)

type corsPolicy int

const (
	_ corsPolicy = iota
	corsOff
	corsOn
	// corsTokenEndpoint: only when cors.tokenEndpoint is set.
	corsTokenEndpoint
)

type limitFamily int

const (
	_ limitFamily = iota
	limitNone
	// limitOAuth: the OAuth families (per address, per claimed client and
	// address, per verified client), shared by the OAuth endpoints.
	limitOAuth
	// limitOAuthFailures: the same buckets, charged for failures only
	// (introspection: resource servers may introspect every request they
	// serve).
	limitOAuthFailures
	// limitAdmin: the admin API's families.
	limitAdmin
)

type errorFormat int

const (
	_           errorFormat = iota
	errorsAPI               // {"error": code, "message": ...}
	errorsOAuth             // RFC 6749 §5.2: {"error": code, "error_description": ...}
)

type cspPolicy int

const (
	_ cspPolicy = iota
	cspStrict
	// cspNone: the discovery documents and the key set are public JSON read
	// by verifiers; they carry no policy.
	cspNone
)

// validate reports an undeclared property.
func (p routeProps) validate() error {
	switch {
	case p.label == "":
		return fmt.Errorf("no metrics label")
	case p.cors == 0:
		return fmt.Errorf("no CORS policy")
	case p.limit == 0:
		return fmt.Errorf("no rate-limit family")
	case p.errors == 0:
		return fmt.Errorf("no error format")
	case p.csp == 0:
		return fmt.Errorf("no Content-Security-Policy choice")
	}
	return nil
}

// routeTable registers every route twice from one call: on the serving
// router, by path and method, and on the edge router, by path only, whose
// handler is the route's middleware chain around the serving router. The
// edge must know the route before the serving router answers: CORS
// preflights (OPTIONS) and wrong methods (405) match no route by method,
// yet must be treated as the route their path names. Matching the edge
// router by path, in registration order as the serving router does, gives
// each request the properties of the route that serves (or refuses) it.
// A path under a mount that no mounted route serves (GET /api/v1/nope,
// answered by the catch-all's 404) keeps the mount's properties, and a
// namespace gives its own to the unknown paths below it; a path the serving
// router redirects to its clean form (//, /./, /../) is matched as sent.
type routeTable struct {
	serve *mux.Router
	edge  *mux.Router
	chain func(routeProps, http.Handler) http.Handler
	// edgeProps is each edge route's properties; unmatched, those of a
	// request no edge route claims.
	edgeProps map[*mux.Route]routeProps
	unmatched routeProps
	// declared is each serving route's properties, for the test that holds
	// every route to having them.
	declared map[*mux.Route]routeProps
}

// newRouteTable returns an empty table whose routes are put behind
// chain(props, serving router). unmatched are the properties of a request
// no path route claims (none today: the console's catch-all claims "/").
func newRouteTable(chain func(routeProps, http.Handler) http.Handler, unmatched routeProps) *routeTable {
	t := &routeTable{serve: mux.NewRouter(), edge: mux.NewRouter(), chain: chain,
		edgeProps: map[*mux.Route]routeProps{}, unmatched: unmatched, declared: map[*mux.Route]routeProps{}}
	t.edge.NotFoundHandler = t.wrap(unmatched)
	return t
}

func (t *routeTable) wrap(p routeProps) http.Handler {
	if err := p.validate(); err != nil {
		panic("route properties: " + err.Error()) // a programming error, caught by every test
	}
	return t.chain(p, t.serve)
}

// handle registers h at path (a literal path or a mux template) for the
// given methods (all when none).
func (t *routeTable) handle(path string, p routeProps, h http.Handler, methods ...string) {
	t.edgeProps[t.edge.Handle(path, t.wrap(p))] = p
	r := t.serve.Handle(path, h)
	if len(methods) > 0 {
		r.Methods(methods...)
	}
	t.declared[r] = p
}

// prefix registers h for every path under prefix.
func (t *routeTable) prefix(prefix string, p routeProps, h http.Handler, methods ...string) {
	t.edgeProps[t.edge.PathPrefix(prefix).Handler(t.wrap(p))] = p
	r := t.serve.PathPrefix(prefix).Handler(h)
	if len(methods) > 0 {
		r.Methods(methods...)
	}
	t.declared[r] = p
}

// mount lets register add routes of its own (the admin API's table) under
// prefix; they all share p.
func (t *routeTable) mount(prefix string, p routeProps, register func(*mux.Router)) {
	t.edgeProps[t.edge.PathPrefix(prefix).Handler(t.wrap(p))] = p
	before := map[*mux.Route]bool{}
	_ = t.serve.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error { before[r] = true; return nil })
	register(t.serve)
	_ = t.serve.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if !before[r] {
			t.declared[r] = p
		}
		return nil
	})
}

// namespace gives p to every path under prefix that no route registered
// before it claims: those answered by the catch-all (404, 405) or
// redirected. It serves nothing itself.
func (t *routeTable) namespace(prefix string, p routeProps) {
	t.edgeProps[t.edge.PathPrefix(prefix).Handler(t.wrap(p))] = p
}

// template returns the path template of the serving route that answers r
// under prefix, or "" if none does (an unknown path, a wrong method).
func (t *routeTable) template(r *http.Request, prefix string) string {
	var m mux.RouteMatch
	if !t.serve.Match(r, &m) || m.Route == nil || m.MatchErr != nil {
		return ""
	}
	tpl, err := m.Route.GetPathTemplate()
	if err != nil || !strings.HasPrefix(tpl, prefix) {
		return ""
	}
	return bareTemplate(tpl)
}

// bareTemplate drops the patterns of a mux template's variables:
// /a/{name:[a-z]+} is /a/{name}, as readers of a dashboard know the route.
func bareTemplate(tpl string) string {
	var b strings.Builder
	depth := 0
	skipping := false
	for _, c := range tpl {
		switch {
		case c == '{':
			depth++
			if depth > 1 && skipping {
				continue
			}
		case c == '}':
			depth--
			if depth > 0 && skipping {
				continue
			}
			skipping = false
		case c == ':' && depth == 1:
			skipping = true
			continue
		case skipping:
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// match returns the edge chain for r and the properties it applies.
func (t *routeTable) match(r *http.Request) (http.Handler, routeProps) {
	var m mux.RouteMatch
	if t.edge.Match(r, &m) && m.Route != nil {
		return m.Handler, t.edgeProps[m.Route]
	}
	return t.edge.NotFoundHandler, t.unmatched
}

func (t *routeTable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, _ := t.match(r)
	h.ServeHTTP(w, r)
}

// edge is the middleware chain of a route with properties p, outermost
// first: the request's span when tracing is on (traces.go), the request
// log (so that every refusal below is logged and measured), hygiene, CORS
// (so that preflights are logged too), the token endpoint's form guard
// (before the limiter reads the body), the rate limits, then next.
func (s *Server) edge(p routeProps, next http.Handler) http.Handler {
	h := s.limits.guard(p.limit, next)
	if p.form {
		h = tokenEndpointGuard(s.traceForm(h))
	}
	h = s.cors(p, h)
	h = hygiene(p, h)
	// The span outside the request log, whose line carries its ids.
	return s.traced(s.requestLog(p, h))
}

// requestContext puts the request's facts in its context (reqctx) for
// everything behind it (policy, audit, the request log): the caller's
// address (trusted proxies' X-Forwarded-For) and the request id (a trusted
// proxy's X-Request-Id, or a new one), which it also returns in the
// X-Request-Id header of the answer.
func (s *Server) requestContext(next http.Handler) http.Handler {
	// Validate has already checked the list.
	proxies, _ := clientip.ParseProxies(s.cfg.TrustedProxies)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &reqctx.Request{ID: requestid.For(r, clientip.FromProxy(r, proxies))}
		if ip, ok := clientip.Resolve(r, proxies); ok {
			req.ClientIP = ip
		}
		w.Header().Set(requestid.Header, req.ID)
		next.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), req)))
	})
}

// cors applies the cors setting to routes declared corsOn, and to those
// declared corsTokenEndpoint when cors.tokenEndpoint is set.
func (s *Server) cors(p routeProps, next http.Handler) http.Handler {
	c := s.cfg.CORS
	if p.cors == corsOn || p.cors == corsTokenEndpoint && c.TokenEndpoint {
		return c.Middleware(func(*http.Request) bool { return true })(next)
	}
	return next
}

// requestLog writes one line per request (a token issuance or refusal is
// recorded on that same line, see reqctx.LogFields) and feeds the latency
// metrics. It logs the path but never the query string, headers or body,
// which may carry credentials; the request id, the admin actor (user name
// and key id) and a refusal's typed reason code are facts set in the
// request's context, never credentials.
func (s *Server) requestLog(p routeProps, next http.Handler) http.Handler {
	quiet := zerolog.InfoLevel
	if p.quiet {
		quiet = zerolog.DebugLevel
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := httprec.New(w)
		next.ServeHTTP(rec, r)
		status := rec.Status
		if status == 0 {
			status = http.StatusOK // net/http's answer when nothing was written
		}
		elapsed := time.Since(start)
		label := string(p.label)
		if p.byTemplate {
			if tpl := s.table.template(r, admin.Prefix); tpl != "" {
				label = tpl
			}
		}
		s.metrics.Observe(label, status, elapsed)
		level := quiet
		if status >= 500 {
			level = zerolog.ErrorLevel
		}
		ev := s.log.WithLevel(level)
		if ev == nil {
			return
		}
		ev = ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
			Int("bytes", rec.Bytes).Float64("duration_ms", float64(elapsed.Microseconds())/1000)
		msg := "request"
		if req := reqctx.From(r.Context()); req != nil {
			ev = reqctx.Correlate(r.Context(), ev).Stringer("remote", req.ClientIP)
			if a := req.Actor; a.KeyID != "" {
				ev = ev.Str("actor", a.Name).Str("actor_key_id", a.KeyID)
			}
			f := req.Log
			if f.Event != "" {
				msg = strings.ReplaceAll(f.Event, ".", " ") // token.issued: "token issued"
				ev = ev.Str("event", f.Event).Str("client_id", f.ClientID).Str("key_id", f.KeyID).Str("jti", f.JTI).
					Str("kid", f.KID).Strs("scope", f.Scope).Strs("aud", f.Audience).Time("exp", f.ExpiresAt)
			} else if f.Reason != "" {
				// A refusal: who claimed to call (client input, redacted
				// by the sink if it is a secret) and the typed reason.
				ev = ev.Str("client_id", f.ClientID).Str("reason", f.Reason)
			}
		}
		ev.Msg(msg)
	})
}

// recoverer turns a panic into a 500 and a log line instead of a dropped
// connection with a goroutine dump.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panicked")
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error", "message": "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
