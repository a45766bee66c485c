package tracing

import (
	"fmt"
	"math"
	"net/url"
	"strings"
)

// Config is the `tracing:` block of the server configuration. Tracing is
// off unless an OTLP endpoint is set (here, or in the standard
// OTEL_EXPORTER_OTLP_ENDPOINT environment variable: see Endpoint).
type Config struct {
	// OTLPEndpoint is the base URL of an OTLP/HTTP receiver (a collector,
	// Jaeger, Tempo), e.g. http://127.0.0.1:4318: spans are POSTed to its
	// /v1/traces, as with OTEL_EXPORTER_OTLP_ENDPOINT. Empty: no tracing.
	OTLPEndpoint string `yaml:"otlpEndpoint"`
	// SamplingRatio is the share of new traces recorded (0..1). A request
	// that arrives with a W3C traceparent follows its caller's decision
	// instead (parent-based sampling), so 0 records exactly the requests
	// whose caller is tracing them.
	SamplingRatio float64 `yaml:"samplingRatio"`
}

// DefaultSamplingRatio records every trace: an operator who sets an
// endpoint wants to see requests, tokenwright's request rates are those of
// scripts and services fetching tokens minutes apart, and a span costs
// microseconds next to signing a token (docs/performance.md). Busy
// installations lower it.
const DefaultSamplingRatio = 1.0

// DefaultConfig is tracing off, with DefaultSamplingRatio for when an
// endpoint is set.
func DefaultConfig() Config { return Config{SamplingRatio: DefaultSamplingRatio} }

// Validate checks the block; each error names its setting.
func (c Config) Validate() []error {
	var errs []error
	if c.OTLPEndpoint != "" {
		if err := validateEndpoint(c.OTLPEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("tracing.otlpEndpoint: %w", err))
		}
	}
	if r := c.SamplingRatio; math.IsNaN(r) || r < 0 || r > 1 {
		errs = append(errs, fmt.Errorf("tracing.samplingRatio: must be between 0 and 1, got %v", r))
	}
	return errs
}

// validateEndpoint accepts an absolute http(s) URL without user info, query
// or fragment. User info is refused so that no credential sits in the
// configuration file or in the URL the exporter logs; a receiver that needs
// one takes it in OTEL_EXPORTER_OTLP_HEADERS.
func validateEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("must be an absolute http(s) URL of an OTLP/HTTP receiver such as http://127.0.0.1:4318, got %q", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not contain user info, a query or a fragment (credentials go in OTEL_EXPORTER_OTLP_HEADERS)")
	}
	return nil
}

// Endpoint returns the OTLP/HTTP URL spans are sent to, and false when
// tracing is off. The configured endpoint wins; without one the standard
// variables are read: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL)
// and then OTEL_EXPORTER_OTLP_ENDPOINT (a base URL, like otlpEndpoint).
func (c Config) Endpoint(getenv func(string) string) (string, bool, error) {
	if c.OTLPEndpoint != "" {
		return tracesURL(c.OTLPEndpoint), true, nil
	}
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); v != "" {
		if err := validateEndpoint(v); err != nil {
			return "", false, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %w", err)
		}
		return v, true, nil
	}
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		if err := validateEndpoint(v); err != nil {
			return "", false, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
		return tracesURL(v), true, nil
	}
	return "", false, nil
}

// tracesURL appends the OTLP/HTTP traces path to a base URL, as the
// OpenTelemetry specification does for OTEL_EXPORTER_OTLP_ENDPOINT.
func tracesURL(base string) string {
	return strings.TrimSuffix(base, "/") + "/v1/traces"
}
