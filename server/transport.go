package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

// tlsPollInterval is how often the certificate files are checked for a
// replacement (cheap: a few kilobytes hashed).
const tlsPollInterval = 2 * time.Second

// setupTLS loads the certificate (a startup error if it fails); New starts
// watching its files once the server is assembled.
func (s *Server) setupTLS() error {
	if !s.cfg.TLS.Enabled() {
		return nil
	}
	r, err := tlsconfig.NewReloader(s.cfg.TLS, s.log.With().Str("component", "tls").Logger())
	if err != nil {
		return err
	}
	s.tls = r // it logged the certificate (and warned if it ends soon)
	return nil
}

// ReloadTLS re-reads the certificate files now (SIGHUP). A failure keeps
// the previous certificate.
func (s *Server) ReloadTLS() error {
	if s.tls == nil {
		return errors.New("TLS is not configured")
	}
	return s.tls.Reload()
}

// reloadOnHangup reloads the certificate on every SIGHUP until ctx ends.
// Without TLS the signal is logged and ignored, so that a `systemctl
// reload` never stops the server.
func (s *Server) reloadOnHangup(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if s.tls == nil {
					s.log.Info().Msg("SIGHUP: no TLS certificate to reload")
					continue
				}
				s.log.Info().Msg("SIGHUP: reloading the TLS certificate")
				_ = s.ReloadTLS()
			}
		}
	}()
}

// healthHandler serves only the probes, for the plain-HTTP health listener.
func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", serveHealthy)
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "this listener serves /healthz and /readyz only"})
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
