package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"github.com/tokenwright/tokenwright/server/edge"
)

// healthHandler serves only the probes, for the plain-HTTP health listener.
func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", serveHealthy)
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		edge.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "this listener serves /healthz and /readyz only"})
	})
	return mux
}

// ServeHealth serves the probes on ln (plain HTTP) until ctx is cancelled.
func (s *Server) ServeHealth(ctx context.Context, ln net.Listener) error {
	return s.serveSide(ctx, ln, s.healthHandler(), "health", s.log.Info())
}

// serveSide serves handler on a side listener (health probes, metrics):
// plain HTTP, small requests, the same timeouts as the main listener,
// until ctx is cancelled. what names the listener in logs and errors;
// started is the log event that announces it.
func (s *Server) serveSide(ctx context.Context, ln net.Listener, handler http.Handler, what string, started *zerolog.Event) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          newStdLogger(s.log),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	started.Str("listen", ln.Addr().String()).Msgf("%s listener (plain HTTP)", what)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("%s listener shutdown: %w", what, err)
	}
	return nil
}
