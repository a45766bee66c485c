package edge

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/httprec"
	"github.com/tokenwright/tokenwright/server/clientip"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/cors"
	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/server/ratelimit"
	"github.com/tokenwright/tokenwright/server/reqctx"
	"github.com/tokenwright/tokenwright/server/requestid"
	"github.com/tokenwright/tokenwright/server/tracing"
)

// Options are what the middleware in front of the routes needs beside
// each route's properties.
type Options struct {
	Log     zerolog.Logger
	Metrics *metrics.Metrics
	// CORS is the cors setting, applied to the routes declared with it.
	CORS cors.Config
	// Limits are the rate limits; OnRateLimited is told of each refusal.
	Limits        config.Limits
	OnRateLimited func(endpoint string, scope ratelimit.Scope)
	// Now is the rate limiters' clock.
	Now func() time.Time
	// Tracing makes each request's span (nil: tracing off, no span and
	// nothing in the chain).
	Tracing *tracing.Tracing
}

// chain builds the middleware of each route from its properties.
type chain struct {
	Options
	limits *limits
	// table answers which serving route a request reaches, for the
	// metrics label of the routes declared ByTemplate.
	table *Table
}

// wrap is the middleware chain of a route with properties p, outermost
// first: the request's span when tracing is on, the request log (so that
// every refusal below is logged and measured, with the span's ids),
// hygiene, CORS (so that preflights are logged too), the token endpoint's
// form guard (before the limiter reads the body; it records the grant type
// on the span), the rate limits, then next.
func (c *chain) wrap(p Props, next http.Handler) http.Handler {
	h := c.limits.guard(p.Limit, next)
	if p.Form {
		h = tokenEndpointGuard(c.Tracing.FormAttributes(h))
	}
	h = c.cors(p, h)
	h = hygiene(p, h)
	return c.Tracing.Middleware(c.table.routeTemplate, c.requestLog(p, h))
}

// RequestContext puts the request's facts in its context (reqctx) for
// everything behind it (policy, audit, the request log): the caller's
// address (trusted proxies' X-Forwarded-For) and the request id (a trusted
// proxy's X-Request-Id, or a new one), which it also returns in the
// X-Request-Id header of the answer. It goes outermost, so that the
// request log inside each route's chain sees them too.
func RequestContext(proxies []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &reqctx.Request{ID: requestid.For(r, clientip.FromProxy(r, proxies))}
		if ip, ok := clientip.Resolve(r, proxies); ok {
			req.ClientIP = ip
		}
		w.Header().Set(requestid.Header, req.ID)
		next.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), req)))
	})
}

// cors applies the cors setting to routes declared CORSOn, and to those
// declared CORSTokenEndpoint when cors.tokenEndpoint is set.
func (c *chain) cors(p Props, next http.Handler) http.Handler {
	if p.CORS == CORSOn || p.CORS == CORSTokenEndpoint && c.CORS.TokenEndpoint {
		return c.CORS.Middleware(func(*http.Request) bool { return true })(next)
	}
	return next
}

// requestLog writes one line per request (a token issuance or refusal is
// recorded on that same line, see reqctx.LogFields) and feeds the latency
// metrics. It logs the path but never the query string, headers or body,
// which may carry credentials; the request id, the admin actor (user name
// and key id) and a refusal's typed reason code are facts set in the
// request's context, never credentials.
func (c *chain) requestLog(p Props, next http.Handler) http.Handler {
	quiet := zerolog.InfoLevel
	if p.Quiet {
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
		label := string(p.Label)
		if p.ByTemplate {
			if tpl := c.table.template(r); tpl != "" {
				label = tpl
			}
		}
		c.Metrics.Observe(label, status, elapsed)
		level := quiet
		if status >= 500 {
			level = zerolog.ErrorLevel
		}
		ev := c.Log.WithLevel(level)
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

// Recoverer turns a panic into a 500 and a log line instead of a dropped
// connection with a goroutine dump.
func Recoverer(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panicked")
				WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error", "message": "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
