package server

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/pkg/httprec"
	"github.com/tokenwright/tokenwright/server/reqctx"
	"github.com/tokenwright/tokenwright/server/tracing"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/traced"
)

// setupTracing builds the tracer provider (nil when tracing is off) before
// anything that makes spans is assembled.
func (s *Server) setupTracing(ctx context.Context, environ func(string) string) error {
	t, err := tracing.New(ctx, s.cfg.Tracing, tracing.Options{Getenv: environ, Version: buildinfo.Read().Version, Logger: s.log})
	if err != nil {
		return err
	}
	s.tracing = t
	if t.Enabled() {
		s.log.Info().Str("otlp_endpoint", t.Endpoint()).Float64("sampling_ratio", s.cfg.Tracing.SamplingRatio).
			Msg("tracing: exporting spans over OTLP/HTTP")
	}
	return nil
}

// tracedStore is what the request path reads: st, with a span per
// operation when tracing is on, and st itself otherwise (no wrapper, so no
// cost).
func (s *Server) tracedStore(st store.Store) store.Store {
	if !s.tracing.Enabled() {
		return st
	}
	return traced.New(st, s.tracing.TracerProvider())
}

// Tracing exposes the tracer provider (tests: nil when tracing is off).
func (s *Server) Tracing() *tracing.Tracing { return s.tracing }

// traced is the outermost middleware of a route's chain when tracing is
// on: the request's server span, continuing the caller's traceparent, named
// after the route template that served it, with the facts the request log
// records (reqctx): the client id, a refusal's reason, the admin actor. The
// span's ids go into the request's context so that its log lines carry
// them. With tracing off it is not in the chain at all.
func (s *Server) traced(next http.Handler) http.Handler {
	if !s.tracing.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, span := s.tracing.StartServer(r)
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
		tracing.FinishServer(span, r.Method, s.table.template(r, ""), status)
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
		attrs = append(attrs, attribute.String("oauth.client_id", tracing.ClientInput(f.ClientID)))
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

// traceForm records the grant type of a form request on its span; it sits
// behind tokenEndpointGuard, which has parsed the (bounded) form.
func (s *Server) traceForm(next http.Handler) http.Handler {
	if !s.tracing.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			if gt := r.PostForm.Get("grant_type"); gt != "" {
				span.SetAttributes(attribute.String("oauth.grant_type", tracing.ClientInput(gt)))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// webhookClient is the notifier's HTTP client: nil (notify's default) when
// tracing is off, otherwise one whose calls are client spans that carry
// traceparent to the receiver.
func (s *Server) webhookClient() *http.Client {
	if !s.tracing.Enabled() {
		return nil
	}
	return &http.Client{Timeout: webhookTimeout, Transport: s.tracing.Transport(nil)}
}

// webhookTimeout bounds one webhook call (notify's own default).
const webhookTimeout = 15 * time.Second
