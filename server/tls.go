package server

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

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
