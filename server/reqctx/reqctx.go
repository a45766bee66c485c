// Package reqctx carries per-request facts through the context: the
// caller's address (established by middleware, read by policy code) and
// the fields a handler adds to the request's log line.
package reqctx

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
)

// Request is what the context carries for one request.
type Request struct {
	ClientIP netip.Addr
	// ID is the request id (package requestid): the one a trusted proxy
	// sent, or one made here. It is on the request's log line and on the
	// other lines logged for the request, and in the X-Request-Id answer.
	ID string
	// TraceID and SpanID identify the request's server span when tracing
	// is on (package tracing), empty otherwise: they are on the request's
	// log lines beside ID (Correlate), so that a line leads to its trace.
	TraceID, SpanID string
	// Actor is the admin caller, once authenticated (SetActor).
	Actor Actor
	Log   LogFields
}

// Actor names an authenticated admin caller on the log line: the user's
// name and the id of the key (PAT) it used, never the key itself.
type Actor struct {
	Name  string
	KeyID string
}

// LogFields are facts a handler wants on the request's single log line:
// a token issuance is recorded there, so it costs one log write, not two.
type LogFields struct {
	Event     string // e.g. token.issued; empty for a plain request
	ClientID  string
	KeyID     string // the credential used
	JTI       string
	KID       string // the signing key
	Scope     []string
	Audience  []string
	ExpiresAt time.Time
	// Reason is why a request was refused: an accounts.FailureReason for a
	// failed client authentication, the OAuth error code for a policy
	// refusal. A typed code, never the credential or its error text.
	Reason string
}

type requestKey struct{}

// WithClientIP returns ctx carrying a new Request with the caller's
// address.
func WithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return With(ctx, &Request{ClientIP: ip})
}

// With returns ctx carrying r.
func With(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// ID returns the request id, or "" outside a request.
func ID(ctx context.Context) string {
	if r := From(ctx); r != nil {
		return r.ID
	}
	return ""
}

// Correlate adds the request's ids to a log line of the request:
// request_id, and trace_id and span_id when it is traced. Every line logged
// for a request goes through it, so that each carries the same ids.
func Correlate(ctx context.Context, e *zerolog.Event) *zerolog.Event {
	return From(ctx).correlate(e)
}

func (r *Request) correlate(e *zerolog.Event) *zerolog.Event {
	if r == nil {
		return e
	}
	e = e.Str("request_id", r.ID)
	if r.TraceID != "" {
		e = e.Str("trace_id", r.TraceID).Str("span_id", r.SpanID)
	}
	return e
}

// SetActor records the authenticated admin caller for the request's log
// line; outside a request it does nothing.
func SetActor(ctx context.Context, a Actor) {
	if r := From(ctx); r != nil {
		r.Actor = a
	}
}

// From returns the request's facts, or nil outside a request.
func From(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// ClientIP returns the caller's address, or the zero Addr if unknown.
func ClientIP(ctx context.Context) netip.Addr {
	if r := From(ctx); r != nil {
		return r.ClientIP
	}
	return netip.Addr{}
}

// Log returns the request's log fields to fill in, or a throwaway value
// outside a request, so callers need no nil check.
func Log(ctx context.Context) *LogFields {
	if r := From(ctx); r != nil {
		return &r.Log
	}
	return &LogFields{}
}

// ErrThrottled is what Authenticated returns when the request's rate
// limiter refuses the authenticated caller because it has spent its own
// budget. The limiter has already set Retry-After; the caller answers 429
// in its endpoint's error format.
var ErrThrottled = errors.New("too many requests from this client")

type admissionKey struct{}

// WithAdmission returns ctx carrying admit, the rate limiter's hook for
// the moment a request's caller is authenticated (see Authenticated).
func WithAdmission(ctx context.Context, admit func(identity string) error) context.Context {
	return context.WithValue(ctx, admissionKey{}, admit)
}

// Authenticated tells the request's rate limiter, if any, that the caller
// proved to be identity (a client id, an admin key id): this is how the
// limiter learns the outcome of authentication as a value, and the only
// point at which it checks the caller's own budget, so that nobody else's
// failures can spend it. It returns ErrThrottled if that budget is spent.
func Authenticated(ctx context.Context, identity string) error {
	if admit, ok := ctx.Value(admissionKey{}).(func(string) error); ok && admit != nil {
		return admit(identity)
	}
	return nil
}
