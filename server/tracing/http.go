package tracing

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// StartServer starts the server span of request r, as a child of the
// caller's span when r carries a valid W3C traceparent (whose sampling
// decision is then followed), and returns r with the span in its context.
// The span is named by its method until FinishServer names its route.
func (t *Tracing) StartServer(r *http.Request) (*http.Request, trace.Span) {
	ctx := t.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	method := Method(r.Method)
	ctx, span := t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method)))
	return r.WithContext(ctx), span
}

// Method is the request's method as spans record it: one of the methods
// HTTP defines, or _OTHER (the OpenTelemetry convention). Any token is a
// valid method on the wire, so a client could otherwise put arbitrary text,
// a credential even, into span names.
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// FinishServer names span "METHOD ROUTE" (the OpenTelemetry HTTP
// convention; route is the path template, /api/v1/service-accounts/{name},
// so that names stay a small fixed set, or "" when no route served the
// request) and records the status, marking 5xx answers as errors.
func FinishServer(span trace.Span, method, route string, status int) {
	if !span.IsRecording() {
		return
	}
	if route != "" {
		span.SetName(Method(method) + " " + route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// Transport returns a RoundTripper that makes a client span for each
// request sent through next and carries the trace on to the receiver in
// traceparent. The span records the method, the server's host and port and
// the status; never the URL's path or query, which for a webhook may be
// its secret.
func (t *Tracing) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &clientTransport{t: t, next: next}
}

type clientTransport struct {
	t    *Tracing
	next http.RoundTripper
}

func (c *clientTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	attrs := []attribute.KeyValue{attribute.String("http.request.method", r.Method), attribute.String("server.address", r.URL.Hostname())}
	port := r.URL.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[r.URL.Scheme]
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	ctx, span := c.t.tracer.Start(r.Context(), r.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	// A RoundTripper must not modify the caller's request.
	out := r.Clone(ctx)
	c.t.propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := c.next.RoundTrip(out)
	if err != nil {
		span.SetStatus(codes.Error, "request failed")
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}
