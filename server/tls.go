package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlstickets"
	"github.com/tokenwright/tokenwright/store"
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

// setupTLSTickets makes the session-ticket keys the replicas share
// (server/tlstickets) and reads them once, so that the first connection
// already gets a ticket every replica accepts. Only a server that
// terminates TLS itself needs them.
func (s *Server) setupTLSTickets(ctx context.Context, db store.Store, kek *signing.KEK, opts Options) error {
	if s.tls == nil {
		return nil
	}
	s.tickets = tlstickets.New(db, kek, s.tls.ServerConfig(), tlstickets.Options{Now: opts.Now, Refresh: opts.TLSTicketRefresh,
		Log: s.log.With().Str("component", "tls").Logger()})
	if err := s.tickets.Tick(ctx); err != nil {
		return fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	return nil
}

// runTLSTickets keeps the ticket keys in step with the store until ctx
// ends. A failure keeps the keys served so far.
func (s *Server) runTLSTickets(ctx context.Context) {
	s.tickets.Run(ctx, func(err error) {
		s.log.Error().Err(err).Msg("TLS session-ticket key maintenance failed; serving the keys read before")
	})
}

// TLSTickets exposes the session-ticket key manager (tests); nil without
// TLS.
func (s *Server) TLSTickets() *tlstickets.Manager { return s.tickets }
