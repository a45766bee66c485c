package tracing_test

import (
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/tracing"
)

// The settings' environment variables, and the refusals, each naming its
// setting: only OTLP/HTTP URLs (a gRPC address is not one), no credentials
// in the URL, a ratio within 0..1.
func TestTracingSettings(t *testing.T) {
	c, err := config.Load("", []string{"TOKENWRIGHT_TRACING_OTLP_ENDPOINT=http://127.0.0.1:4318",
		"TOKENWRIGHT_TRACING_SAMPLING_RATIO=0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.OTLPEndpoint != "http://127.0.0.1:4318" || c.Tracing.SamplingRatio != 0.5 {
		t.Fatalf("tracing from the environment: %+v", c.Tracing)
	}
	if d := config.Default().Tracing; d.OTLPEndpoint != "" || d.SamplingRatio != 1 {
		t.Fatalf("default %+v, want off with ratio 1", d)
	}
	for _, tc := range []struct {
		cfg  tracing.Config
		want string
	}{
		{tracing.Config{OTLPEndpoint: "127.0.0.1:4317", SamplingRatio: 1}, "tracing.otlpEndpoint: must be an absolute http(s) URL"},
		{tracing.Config{OTLPEndpoint: "grpc://collector:4317", SamplingRatio: 1}, "tracing.otlpEndpoint: must be an absolute http(s) URL"},
		{tracing.Config{OTLPEndpoint: "https://user:pw@collector:4318", SamplingRatio: 1}, "tracing.otlpEndpoint: must not contain user info"},
		{tracing.Config{OTLPEndpoint: "https://collector:4318/?token=x", SamplingRatio: 1}, "tracing.otlpEndpoint: must not contain user info"},
		{tracing.Config{SamplingRatio: 1.5}, "tracing.samplingRatio: must be between 0 and 1"},
		{tracing.Config{SamplingRatio: -0.1}, "tracing.samplingRatio: must be between 0 and 1"},
	} {
		errs := tc.cfg.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, errs, tc.want)
		}
	}
	// Through the server's own validation too.
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Tracing.SamplingRatio = 2
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tracing.samplingRatio") {
		t.Fatalf("Validate: %v", err)
	}
}

// The endpoint: a base URL gets the OTLP traces path, as the
// specification says for OTEL_EXPORTER_OTLP_ENDPOINT; the signal-specific
// variable is used as it is; the setting wins over both.
func TestTracingEndpoint(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	c := tracing.DefaultConfig()
	if _, on, _ := c.Endpoint(getenv); on {
		t.Fatal("tracing on with nothing set")
	}
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318/"
	if u, on, _ := c.Endpoint(getenv); !on || u != "http://collector:4318/v1/traces" {
		t.Fatalf("OTEL_EXPORTER_OTLP_ENDPOINT: %q %v", u, on)
	}
	env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://collector:4318/custom/traces"
	if u, _, _ := c.Endpoint(getenv); u != "http://collector:4318/custom/traces" {
		t.Fatalf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %q", u)
	}
	c.OTLPEndpoint = "https://otel.example.com:4318/prefix"
	if u, _, _ := c.Endpoint(getenv); u != "https://otel.example.com:4318/prefix/v1/traces" {
		t.Fatalf("tracing.otlpEndpoint: %q", u)
	}
	c.OTLPEndpoint = ""
	env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "collector:4317"
	if _, _, err := c.Endpoint(getenv); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
		t.Fatalf("a bad variable: %v", err)
	}
}
