package tracing

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type failingExporter struct{ sdktrace.SpanExporter }

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("connection refused")
}

// An unreachable receiver is one log line a minute, not one per batch, and
// the line counts the spans lost.
func TestExportFailuresAreLoggedOnceAMinute(t *testing.T) {
	var buf bytes.Buffer
	e := &loggingExporter{SpanExporter: failingExporter{}, log: zerolog.New(&buf)}
	spans := make([]sdktrace.ReadOnlySpan, 3)
	for range 4 {
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			t.Fatalf("ExportSpans: %v (the batcher would pass it to the global error handler)", err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"spans_dropped":3`) {
		t.Fatalf("log %q, want one line counting 3 spans", lines)
	}
	e.last = e.last.Add(-61e9) // a minute later
	_ = e.ExportSpans(context.Background(), spans)
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"spans_dropped":12`) {
		t.Fatalf("log %q, want a second line counting the 9 missed since and these 3", lines)
	}
}
