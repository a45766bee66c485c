// Package tracing is tokenwright's OpenTelemetry tracing: a tracer provider
// that exports spans over OTLP/HTTP (off by default), the server span of
// each HTTP request (continuing a caller's W3C traceparent), and the client
// span of each outgoing webhook call (which carries traceparent on).
//
// Nothing here touches OpenTelemetry's global state: the provider is built
// by New and passed to whatever makes spans, so two servers in one process
// (tests) trace independently, and a library's global provider is never
// replaced.
//
// Span attributes never hold a credential: every value that comes from a
// client passes through ClientInput (apikey.Redact, bounded length), and
// URLs are reduced to host and port (a webhook URL's path or query may be
// its secret).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tokenwright/tokenwright/pkg/apikey"
)

// InstrumentationName names tokenwright's tracers.
const InstrumentationName = "github.com/tokenwright/tokenwright"

// ServiceName is the service.name resource attribute unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const ServiceName = "tokenwright"

// shutdownTimeout bounds the flush at server stop: an unreachable receiver
// must not hold the process up.
const shutdownTimeout = 5 * time.Second

// Tracing is the server's tracer provider. The nil *Tracing is tracing
// off: its provider is a no-op, and callers skip instrumentation
// altogether (Enabled), so that the token path pays nothing.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	// propagator reads and writes W3C traceparent/tracestate.
	propagator propagation.TextMapPropagator
	endpoint   string
}

// Options are New's inputs besides the configuration.
type Options struct {
	// Getenv reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT (Config.Endpoint).
	Getenv func(string) string
	// Version is the service.version resource attribute.
	Version string
	// Logger receives export failures (at most one line a minute).
	Logger zerolog.Logger
}

// New returns the tracer provider for cfg, or nil when tracing is off. It
// does not contact the receiver: spans are batched and sent in the
// background, and an unreachable receiver costs dropped spans and a log
// line, never a failed request.
func New(ctx context.Context, cfg Config, opts Options) (*Tracing, error) {
	endpoint, on, err := cfg.Endpoint(opts.Getenv)
	if err != nil || !on {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing.otlpEndpoint: %w", err)
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// may rename the service.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName), attribute.String("service.version", opts.Version)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		// The batcher's queue is bounded (2048 spans): when the receiver
		// cannot keep up, spans are dropped, requests never wait.
		sdktrace.WithBatcher(&loggingExporter{SpanExporter: exp, log: opts.Logger}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplingRatio))),
		sdktrace.WithResource(res),
	)
	return &Tracing{provider: tp, tracer: tp.Tracer(InstrumentationName, trace.WithInstrumentationVersion(opts.Version)),
		propagator: propagation.TraceContext{}, endpoint: endpoint}, nil
}

// Enabled reports whether spans are made and exported.
func (t *Tracing) Enabled() bool { return t != nil }

// Endpoint is the URL spans are sent to ("" when off).
func (t *Tracing) Endpoint() string {
	if t == nil {
		return ""
	}
	return t.endpoint
}

// TracerProvider is the provider to hand to instrumented code: a no-op one
// when tracing is off.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Shutdown exports the spans still queued and stops the provider; a
// receiver that does not answer within a few seconds loses them.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return t.provider.Shutdown(ctx)
}

// maxAttributeLen bounds a client-supplied attribute value.
const maxAttributeLen = 128

// ClientInput makes a value the client chose (a client id, a grant type)
// fit for a span attribute: a credential sent in the wrong field is
// redacted by the same matcher as the logs (apikey.Redact), and the value
// is cut to a bounded length.
func ClientInput(s string) string {
	s = apikey.Redact(s)
	if len(s) > maxAttributeLen {
		s = s[:maxAttributeLen]
	}
	return s
}

// loggingExporter reports failed exports to the server's log instead of
// OpenTelemetry's global error handler (which writes to stderr), at most
// once a minute: an unreachable receiver is one problem, not one line per
// batch.
type loggingExporter struct {
	sdktrace.SpanExporter
	log zerolog.Logger

	mu     sync.Mutex
	last   time.Time
	missed int
}

func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.missed += len(spans)
	if now := time.Now(); now.Sub(e.last) >= time.Minute {
		e.log.Warn().Err(err).Int("spans_dropped", e.missed).Msg("tracing: exporting spans to the OTLP receiver failed")
		e.last, e.missed = now, 0
	}
	return nil
}
