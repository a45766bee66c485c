package traced_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/storetest"
	"github.com/tokenwright/tokenwright/store/traced"
)

func open(t *testing.T, tp trace.TracerProvider) *traced.Store {
	db, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return traced.New(db, tp)
}

// The traced store must behave exactly like the store it wraps.
func TestConformance(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	storetest.RunTests(t, func(t *testing.T) store.Store { return open(t, tp) })
}

// Under a sampled span each operation is a child span named store.OP; an
// expected answer (not found) is recorded as store.result without marking
// an error; without a sampled span nothing is recorded.
func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := open(t, tp)
	defer s.Close()

	if _, err := s.GetKey(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey: %v", err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans without a traced caller", n)
	}

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := s.GetKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey: %v", err)
	}
	if err := s.CreateUser(ctx, store.User{Name: "bob", Email: "bob@example.com", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want GetKey, CreateUser, request", len(spans))
	}
	for i, want := range []string{"store.GetKey", "store.CreateUser"} {
		sp := spans[i]
		if sp.Name() != want || sp.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %s under %s, want %s under the request", i, sp.Name(), sp.Parent().SpanID(), want)
		}
	}
	get := spans[0]
	var result string
	for _, a := range get.Attributes() {
		if a.Key == "store.result" {
			result = a.Value.AsString()
		}
	}
	if result != "not_found" || get.Status().Code == codes.Error {
		t.Errorf("GetKey of a missing key: store.result %q, status %v", result, get.Status())
	}
}
