package tracing_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// otlpReceiver is the OpenTelemetry Collector's own OTLP receiver
// (otlpreceiver, the component every collector distribution runs), serving
// OTLP/HTTP on 127.0.0.1 in this process, with a sink that keeps what it
// receives.
type otlpReceiver struct {
	// URL is the base URL for tracing.otlpEndpoint.
	URL  string
	sink *consumertest.TracesSink
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	f := otlpreceiver.NewFactory()
	sink := &consumertest.TracesSink{}
	// The receiver takes an address, not a listener: take a free port and
	// hand it over, retrying if another process took it in between.
	var lastErr error
	for range 5 {
		addr := freeAddr(t)
		cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
		cfg.Protocols.GRPC = configoptional.None[configgrpc.ServerConfig]() // OTLP/HTTP only, as tokenwright sends
		cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = addr
		r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
		if err != nil {
			t.Fatalf("otlpreceiver: %v", err)
		}
		if lastErr = r.Start(context.Background(), componenttest.NewNopHost()); lastErr != nil {
			continue
		}
		t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
		return &otlpReceiver{URL: "http://" + addr, sink: sink}
	}
	t.Fatalf("otlpreceiver: start: %v", lastErr)
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// span is one received span with its resource's attributes.
type span struct {
	ptrace.Span
	resource pcommon.Map
}

// spans returns every span received so far.
func (r *otlpReceiver) spans() []span {
	var out []span
	for _, td := range r.sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					out = append(out, span{Span: sp, resource: rs.Resource().Attributes()})
				}
			}
		}
	}
	return out
}

// attr returns a span attribute as a string ("" when absent).
func (s span) attr(key string) string {
	v, ok := s.Attributes().Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}
