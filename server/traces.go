package server

import (
	"context"
	"net/http"
	"time"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
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
