package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenwright/tokenwright/pkg/httprec"
	"github.com/tokenwright/tokenwright/server/reqctx"
)

// Middleware is the outermost middleware of a route's chain when tracing is
// on (next unchanged when t is nil): the request's server span, continuing
// the caller's traceparent, named after route(r), the path template of the
// route that served r ("" when none did), with the facts the request log
// records (reqctx): the client id, a refusal's reason, the admin actor. The
// span's ids go into the request's reqctx.Request, so that its log lines
// carry them (reqctx.Correlate); reqctx.RequestContext must run before it.
func (t *Tracing) Middleware(route func(*http.Request) string, next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, span := t.StartServer(r)
		defer span.End()
		req := reqctx.From(r.Context())
		if sc := span.SpanContext(); req != nil && sc.IsValid() {
			req.TraceID, req.SpanID = sc.TraceID().String(), sc.SpanID().String()
		}
		rec := httprec.New(w)
		next.ServeHTTP(rec, r)
		if !span.IsRecording() {
			return
		}
		status := rec.Status
		if status == 0 {
			status = http.StatusOK
		}
		FinishServer(span, r.Method, route(r), status)
		if req != nil {
			annotate(span, req)
		}
	})
}

// annotate copies the request's log facts onto its span. The client id is
// client input (a secret sent in the wrong field is redacted, as in the
// logs); the key id, jti and signing key id name things, they are no
// credentials; the actor is the admin user's name and key id.
func annotate(span trace.Span, req *reqctx.Request) {
	attrs := []attribute.KeyValue{attribute.String("tokenwright.request_id", req.ID)}
	f := req.Log
	if f.ClientID != "" {
		attrs = append(attrs, attribute.String("oauth.client_id", ClientInput(f.ClientID)))
	}
	if f.Event != "" {
		attrs = append(attrs, attribute.String("tokenwright.event", f.Event), attribute.String("tokenwright.key_id", f.KeyID),
			attribute.String("tokenwright.jti", f.JTI), attribute.String("tokenwright.kid", f.KID))
	}
	if f.Reason != "" {
		attrs = append(attrs, attribute.String("tokenwright.reason", f.Reason))
	}
	if a := req.Actor; a.KeyID != "" {
		attrs = append(attrs, attribute.String("tokenwright.actor", a.Name), attribute.String("tokenwright.actor_key_id", a.KeyID))
	}
	span.SetAttributes(attrs...)
}

// FormAttributes records the grant type of a form request on its span
// (next unchanged when t is nil); it goes behind the token endpoint's form
// guard, which has parsed the bounded form.
func (t *Tracing) FormAttributes(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			if gt := r.PostForm.Get("grant_type"); gt != "" {
				span.SetAttributes(attribute.String("oauth.grant_type", ClientInput(gt)))
			}
		}
		next.ServeHTTP(w, r)
	})
}
