// Package edge is the middleware in front of every route of the public
// listener: the route table that registers each route with its properties
// (Props: metrics label, CORS policy, rate-limit family, error format,
// Content-Security-Policy, form guard, quiet logging), and the chain those
// properties call for (chain.go): the request log and latency metrics,
// hygiene (body cap, secrets in URLs, security headers), CORS, the token
// endpoint's form guard and the rate limits. The routes themselves are
// declared where they are registered (server/routes.go, and the admin
// API's own table in server/admin/routes.go); no middleware looks at the
// path.
package edge

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/gorilla/mux"
)

// Props is what the middleware in front of the router needs to know
// about a route: declared where the route is registered (server/routes.go)
// and handed to each middleware as a value, never recovered by matching
// the request's path against prefixes. Every field's zero value means "not
// declared", which Table refuses, so that a new route cannot silently
// go without its rate limit or its metrics label.
type Props struct {
	// Label names the route in the latency metrics.
	Label Label
	// CORS says whether browsers on the configured origins may call it.
	CORS CORSPolicy
	// Limit is the family of rate limits that guards it (limits.go).
	Limit LimitFamily
	// Errors is the format of the refusals the edge answers itself
	// (credentials in the URL, oversized bodies).
	Errors ErrorFormat
	// CSP says whether hygiene sets the strict Content-Security-Policy.
	CSP CSPPolicy
	// Form puts tokenEndpointGuard in front: POST-only, bounded form
	// bodies, before the rate limiter reads the client id from the body.
	Form bool
	// ByTemplate labels the latency metrics with the serving route's path
	// template (/api/v1/service-accounts/{name}) instead of Label, for the
	// routes of a mount; a path no mounted route serves keeps Label. The
	// templates are a fixed set, so the label stays bounded.
	ByTemplate bool
	// Quiet: requests are logged at debug level (health probes and
	// metrics scrapes arrive every few seconds and would drown the log).
	Quiet bool
}

// Label is a route's metrics label: one of a fixed set, so that
// hostile paths cannot create series.
type Label string

// The metrics labels.
const (
	LabelToken      Label = "token"
	LabelOAuthOther Label = "oauth_other"
	LabelJWKS       Label = "jwks"
	LabelDiscovery  Label = "discovery"
	LabelAdmin      Label = "admin"
	LabelHealth     Label = "health"
	LabelMetrics    Label = "metrics"
	LabelWeb        Label = "web"
)

// CORSPolicy says whether the cors setting applies to a route.
type CORSPolicy int

// The CORS policies.

const (
	_ CORSPolicy = iota
	CORSOff
	CORSOn
	// CORSTokenEndpoint: only when cors.tokenEndpoint is set.
	CORSTokenEndpoint
)

// LimitFamily names the rate limits that guard a route.
type LimitFamily int

// The rate-limit families.

const (
	_ LimitFamily = iota
	LimitNone
	// LimitOAuth: the OAuth families (per address, per claimed client and
	// address, per verified client), shared by the OAuth endpoints.
	LimitOAuth
	// LimitOAuthFailures: the same buckets, charged for failures only
	// (introspection: resource servers may introspect every request they
	// serve).
	LimitOAuthFailures
	// LimitAdmin: the admin API's families.
	LimitAdmin
)

// ErrorFormat is the JSON shape of the refusals the edge answers itself.
type ErrorFormat int

// The error formats.

const (
	_           ErrorFormat = iota
	ErrorsAPI               // {"error": code, "message": ...}
	ErrorsOAuth             // RFC 6749 §5.2: {"error": code, "error_description": ...}
)

// CSPPolicy says whether hygiene sets the strict Content-Security-Policy.
type CSPPolicy int

// The Content-Security-Policy choices.

const (
	_ CSPPolicy = iota
	CSPStrict
	// CSPNone: the discovery documents and the key set are public JSON read
	// by verifiers; they carry no policy.
	CSPNone
)

// Validate reports an undeclared property.
func (p Props) Validate() error {
	switch {
	case p.Label == "":
		return fmt.Errorf("no metrics label")
	case p.CORS == 0:
		return fmt.Errorf("no CORS policy")
	case p.Limit == 0:
		return fmt.Errorf("no rate-limit family")
	case p.Errors == 0:
		return fmt.Errorf("no error format")
	case p.CSP == 0:
		return fmt.Errorf("no Content-Security-Policy choice")
	}
	return nil
}

// Table registers every route twice from one call: on the serving
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
type Table struct {
	serve *mux.Router
	edge  *mux.Router
	chain func(Props, http.Handler) http.Handler
	// edgeProps is each edge route's properties; unmatched, those of a
	// request no edge route claims.
	edgeProps map[*mux.Route]Props
	unmatched Props
	// declared is each serving route's properties, for the test that holds
	// every route to having them.
	declared map[*mux.Route]Props
}

// New returns an empty table whose routes are put behind the middleware
// their properties call for (chain.go). unmatched are the properties of a
// request no path route claims (none today: the console's catch-all claims
// "/"). A request no serving route answers gets a JSON 404 or 405.
func New(opts Options, unmatched Props) *Table {
	c := &chain{Options: opts, limits: newLimits(opts.Limits, opts.OnRateLimited, opts.Now)}
	t := newTable(c.wrap, unmatched)
	c.table = t
	return t
}

// newTable returns an empty table whose routes are put behind
// chain(props, serving router).
func newTable(chain func(Props, http.Handler) http.Handler, unmatched Props) *Table {
	t := &Table{serve: mux.NewRouter(), edge: mux.NewRouter(), chain: chain,
		edgeProps: map[*mux.Route]Props{}, unmatched: unmatched, declared: map[*mux.Route]Props{}}
	t.serve.NotFoundHandler = http.HandlerFunc(NotFound)
	t.serve.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)
	t.edge.NotFoundHandler = t.wrap(unmatched)
	return t
}

func (t *Table) wrap(p Props) http.Handler {
	if err := p.Validate(); err != nil {
		panic("route properties: " + err.Error()) // a programming error, caught by every test
	}
	return t.chain(p, t.serve)
}

// Handle registers h at path (a literal path or a mux template) for the
// given methods (all when none).
func (t *Table) Handle(path string, p Props, h http.Handler, methods ...string) {
	t.edgeProps[t.edge.Handle(path, t.wrap(p))] = p
	r := t.serve.Handle(path, h)
	if len(methods) > 0 {
		r.Methods(methods...)
	}
	t.declared[r] = p
}

// Prefix registers h for every path under prefix.
func (t *Table) Prefix(prefix string, p Props, h http.Handler, methods ...string) {
	t.edgeProps[t.edge.PathPrefix(prefix).Handler(t.wrap(p))] = p
	r := t.serve.PathPrefix(prefix).Handler(h)
	if len(methods) > 0 {
		r.Methods(methods...)
	}
	t.declared[r] = p
}

// Mount lets register add routes of its own (the admin API's table) under
// prefix; they all share p.
func (t *Table) Mount(prefix string, p Props, register func(*mux.Router)) {
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

// Namespace gives p to every path under prefix that no route registered
// before it claims: those answered by the catch-all (404, 405) or
// redirected. It serves nothing itself.
func (t *Table) Namespace(prefix string, p Props) {
	t.edgeProps[t.edge.PathPrefix(prefix).Handler(t.wrap(p))] = p
}

// template returns the path template of the serving route that answers r
// if that route was declared ByTemplate (a route of the admin API's
// mount), or "" if none does (an unknown path, a wrong method, a route of
// another kind).
func (t *Table) template(r *http.Request) string {
	var m mux.RouteMatch
	if !t.serve.Match(r, &m) || m.Route == nil || m.MatchErr != nil || !t.declared[m.Route].ByTemplate {
		return ""
	}
	return routeTemplateOf(m.Route)
}

// routeTemplate returns the path template of the serving route that
// answers r, of whatever kind (a span's name), or "" if none does.
func (t *Table) routeTemplate(r *http.Request) string {
	var m mux.RouteMatch
	if !t.serve.Match(r, &m) || m.Route == nil || m.MatchErr != nil {
		return ""
	}
	return routeTemplateOf(m.Route)
}

// routeTemplateOf is route's bare path template, or "" if it has none.
func routeTemplateOf(route *mux.Route) string {
	tpl, err := route.GetPathTemplate()
	if err != nil {
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
func (t *Table) match(r *http.Request) (http.Handler, Props) {
	var m mux.RouteMatch
	if t.edge.Match(r, &m) && m.Route != nil {
		return m.Handler, t.edgeProps[m.Route]
	}
	return t.edge.NotFoundHandler, t.unmatched
}

// Props returns the properties the edge applies to r.
func (t *Table) Props(r *http.Request) Props {
	_, p := t.match(r)
	return p
}

// ServeHTTP runs r through the chain of its route, then the serving router.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, _ := t.match(r)
	h.ServeHTTP(w, r)
}

// Check holds the table to its promise, for the server's tests: every
// route of the serving router was registered through the table with
// complete properties, and the edge gives a request to that route (by each
// of its methods, and a CORS preflight) exactly those properties. A route
// added to the router directly, or by a mount outside its prefix, fails
// here instead of silently going without its rate limit or metrics label.
// It returns how many routes it checked.
func (t *Table) Check() (int, error) {
	var errs []error
	n := 0
	err := t.serve.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if r.GetHandler() == nil {
			return nil // a subrouter's container: its routes are walked too
		}
		n++
		tmpl, err := r.GetPathTemplate()
		if err != nil {
			errs = append(errs, fmt.Errorf("route without a path: %w", err))
			return nil
		}
		declared, ok := t.declared[r]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: registered on the router, not through the route table", tmpl))
			return nil
		}
		if err := declared.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tmpl, err))
		}
		path := templateVar.ReplaceAllString(tmpl, "x")
		methods, _ := r.GetMethods()
		for _, m := range append(methods, http.MethodOptions) {
			req, err := http.NewRequest(m, path, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", m, path, err))
				continue
			}
			if got := t.Props(req); got != declared {
				errs = append(errs, fmt.Errorf("%s %s (route %s): the edge applies %+v, the route declares %+v", m, path, tmpl, got, declared))
			}
		}
		return nil
	})
	for r, p := range t.edgeProps {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("edge route %v: %w", r, err))
		}
	}
	return n, errors.Join(append(errs, err)...)
}

var templateVar = regexp.MustCompile(`\{[^}]*\}`)
