// Package server assembles tokenwright: it opens the store, loads the
// signing keys, bootstraps the first administrator and serves the OAuth
// endpoints, discovery, JWKS, the admin API and the console over HTTP.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/server/clientip"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/edge"
	"github.com/tokenwright/tokenwright/server/federation"
	"github.com/tokenwright/tokenwright/server/issuer"
	"github.com/tokenwright/tokenwright/server/keycounts"
	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlstickets"
	"github.com/tokenwright/tokenwright/server/tracing"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// AdminTokenFile is where the bootstrap administrator token is written.
const AdminTokenFile = "admin.token"

// Server is a configured tokenwright instance.
type Server struct {
	cfg   config.Config
	log   zerolog.Logger
	store store.Store
	// mirror is the etcd store's freshness, for its metric; nil on bbolt.
	mirror mirrorAger
	// keyCounts are the keys by status for the metrics (keycounts.go).
	keyCounts *keycounts.Counts
	signing   *signing.Manager
	accounts  *accounts.Service
	handler   http.Handler
	table     *edge.Table  // routes.go
	sso       *sso.Manager // nil unless sso.issuer is set (ssoroutes.go)
	now       func() time.Time
	tls       *tlsconfig.Reloader // nil: plain HTTP
	tickets   *tlstickets.Manager // the shared session-ticket keys; nil: plain HTTP (tls.go)
	metrics   *metrics.Metrics    // metricsendpoint.go
	// metricsToken is the SHA-256 of the bearer token /metrics requires,
	// or nil (metricsendpoint.go).
	metricsToken []byte
	db           *bolt.Store // the file under the cache, for backups
	// tracing is the tracer provider; nil when tracing is off (traces.go).
	tracing *tracing.Tracing

	stopBackground context.CancelFunc
	background     sync.WaitGroup
}

// Options are the non-configuration inputs of New.
type Options struct {
	Logger zerolog.Logger
	// Banner, if set, receives the one-time bootstrap message with the
	// admin token. Set it only to a terminal: the token must never reach a
	// log stream (serve passes stdout when it is a terminal).
	Banner io.Writer
	// Now replaces the clock (tests).
	Now func() time.Time
	// Monotonic replaces the clock this process measures its own
	// intervals with (tests; default Now, see signing.Options.Monotonic).
	Monotonic func() time.Time
	// Environ is the process environment (for TOKENWRIGHT_KEK).
	Environ func(string) string
	// FederationClient fetches foreign issuers' discovery documents and
	// JWKS (nil: federation's default, with timeouts and the system
	// roots); tests pass one that trusts their CA.
	FederationClient *http.Client
	// TLSTicketRefresh replaces how often the TLS session-ticket keys are
	// re-read (tests; default tlstickets.Refresh).
	TLSTicketRefresh time.Duration
}

// New opens the data directory and prepares the server. Call Close when done.
func New(ctx context.Context, cfg config.Config, opts Options) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Environ == nil {
		opts.Environ = os.Getenv
	}
	s := &Server{cfg: cfg, log: opts.Logger, now: opts.Now}
	if err := s.loadMetricsToken(opts.Environ); err != nil {
		return nil, err
	}

	// Everything that can refuse the configuration is checked before the
	// first write to the data directory (KEK, database, admin token), so
	// a refused start leaves it as it was.
	kekPath := filepath.Join(cfg.DataDir, "kek")
	kek, source, err := signing.FindKEK(opts.Environ("TOKENWRIGHT_KEK"), firstNonEmpty(opts.Environ("TOKENWRIGHT_KEK_FILE"), cfg.KEK.File), kekPath)
	newKEK := errors.Is(err, signing.ErrNoKEK)
	if err != nil && !newKEK {
		return nil, err
	}
	webhookSecret, err := s.webhookSecret(opts.Environ)
	if err != nil {
		return nil, err
	}
	ssoSecret, err := s.ssoSecret(opts.Environ)
	if err != nil {
		return nil, err
	}
	if err := s.setupTLS(); err != nil {
		return nil, err
	}
	if err := s.setupTracing(ctx, opts.Environ); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.tracing.Shutdown(ctx)
		}
	}()

	if err := ownerfile.MkdirAll(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	db, served, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.store = s.tracedStore(served)
	if m, ok := db.(mirrorAger); ok {
		s.mirror = m
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	if newKEK {
		if kek, err = s.generateKEK(ctx, db, kekPath); err != nil {
			return nil, err
		}
	}
	switch source {
	case signing.KEKGenerated:
		s.log.Warn().Str("path", kekPath).
			Msg("generated a key-encryption key beside the database; anyone who copies the data directory gets the signing keys. Move it elsewhere and set TOKENWRIGHT_KEK_FILE")
	case signing.KEKFromDataDir:
		s.log.Warn().Msg("the key-encryption key lives in the data directory; for production set TOKENWRIGHT_KEK_FILE to a file outside it")
	}
	if b, ok := db.(*bolt.Store); ok {
		// The file itself (under the cache), for online backups.
		s.db = b
		s.warnOnLoosePermissions(firstNonEmpty(opts.Environ("TOKENWRIGHT_KEK_FILE"), cfg.KEK.File))
	}

	alg, _ := signing.ParseAlgorithm(cfg.Signing.Algorithm)
	s.signing = signing.NewManager(db, kek, signing.Options{Algorithm: alg, Now: opts.Now, Monotonic: opts.Monotonic,
		RotationPeriod: cfg.Signing.RotationPeriod.Std(), MaxAge: cfg.Signing.JWKSMaxAge.Std(), TokenLifetime: accounts.MaxTokenLifetime})
	if err := s.signing.Load(ctx); err != nil {
		return nil, err
	}
	if alg, chosen := s.signing.Algorithm(); chosen {
		// Not an error: the choice was deliberate, and switching back at a
		// restart would be the silent surprise. But the file no longer says
		// what the server does.
		s.log.Warn().Str("signing.algorithm", cfg.Signing.Algorithm).Str("keySetAlgorithm", string(alg)).
			Msg("the signing keys use the algorithm chosen with `tokenwright keys rotate --algorithm`, not signing.algorithm; " +
				"that choice stands until signing.algorithm is changed: set it to " + string(alg) + " to make the configuration say so")
	}

	if err := s.setupTLSTickets(ctx, db, kek, opts); err != nil {
		return nil, err
	}

	policy := accounts.DefaultPolicy()
	policy.DefaultTokenLifetime = cfg.Tokens.Lifetime.Std()
	policy.MaxTokenLifetime = accounts.MaxTokenLifetime
	policy.DefaultAudiences, policy.DefaultScopes = cfg.Tokens.DefaultAudiences, cfg.Tokens.DefaultScopes
	policy.DefaultKeyLifetime, policy.MaxKeyLifetime = cfg.Keys.DefaultLifetime.Std(), cfg.Keys.MaxLifetime.Std()
	policy.ExpiringSoon = cfg.Keys.ExpiringSoon.Std()
	policy.MaxPATsPerUser = cfg.Keys.MaxPATsPerUser
	policy.DominoSites, policy.DominoRESTAPI = cfg.Domino.Sites, cfg.Domino.RestAPI
	policy.Issuer = cfg.Issuer
	s.accounts = accounts.New(s.store, accounts.Options{Policy: policy, Logger: s.log, Now: opts.Now})

	if err := s.bootstrap(ctx, opts.Banner); err != nil {
		return nil, err
	}
	if n, err := s.accounts.DropUnknownOwners(ctx); err != nil {
		return nil, fmt.Errorf("removing deleted users from owner lists: %w", err)
	} else if n > 0 {
		s.log.Warn().Int("accounts", n).Msg("removed deleted users from service accounts' owners (left by an earlier version)")
	}

	notifier := s.newNotifier(webhookSecret)
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBackground = stop
	s.background.Go(func() { s.accounts.RunUsageFlusher(bg, cfg.Keys.UsageFlushInterval.Std()) })
	if s.tls != nil {
		s.background.Go(func() { s.tls.Watch(bg, tlsPollInterval) })
		s.background.Go(func() { s.runTLSTickets(bg) })
	}
	s.background.Go(func() { s.runNotifier(bg, notifier) })
	s.keyCounts = s.newKeyCounts()
	s.background.Go(func() { s.followKeyCounts(bg, db) })
	s.background.Go(func() { s.followSigningKeys(bg, db) })
	s.background.Go(func() {
		s.signing.Run(bg, signingRefresh, func(err error) { s.log.Error().Err(err).Msg("signing key maintenance failed") })
	})

	iss := issuer.New(cfg.Issuer, s.signing, opts.Now)
	oauthServer := oauth.New(s.accounts, iss, s.log)
	oauthServer.SetFederation(federation.NewIssuers(federation.IssuersOptions{Client: opts.FederationClient, Now: opts.Now, Log: s.log}))
	s.initOperations(oauthServer)
	adminAPI := admin.New(s.accounts, s.log).WithSigningKeys(s.signing).
		WithDomino(admin.DominoSettings{Issuer: cfg.Issuer, Sites: cfg.Domino.Sites, RESTAPI: cfg.Domino.RestAPI})
	if err := s.setupSSO(adminAPI, ssoSecret, s.now); err != nil {
		return nil, err
	}
	s.runSSOPruner(bg)
	s.runReplayPruner(bg)
	s.table = s.routes(oauthServer, adminAPI)
	// The request context is outermost so that the request log, inside
	// each route's chain (server/edge), sees the address and the request
	// id too. Validate has already checked the proxies.
	proxies, _ := clientip.ParseProxies(cfg.TrustedProxies)
	s.handler = edge.RequestContext(proxies, edge.Recoverer(s.log, s.table))
	return s, nil
}

// generateKEK makes the key-encryption key of a new installation in
// DATA/kek. A store that already holds signing keys is refused instead:
// they are sealed with a KEK this start was not given, and a new one would
// only leave a useless file behind.
func (s *Server) generateKEK(ctx context.Context, db store.Store, path string) (*signing.KEK, error) {
	keys, err := db.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		return nil, fmt.Errorf("no key-encryption key is configured and there is none at %s, but the store holds %d signing keys sealed with one: "+
			"set TOKENWRIGHT_KEK_FILE (or kek.file) to that KEK", path, len(keys))
	}
	return signing.GenerateKEKFile(path)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// bootstrap creates the first administrator on an empty store and writes
// its token to DATA/admin.token, and to the banner (a terminal) if there is
// one; never to the log, which says only where the token is.
func (s *Server) bootstrap(ctx context.Context, banner io.Writer) error {
	secret, err := s.accounts.Bootstrap(ctx, s.cfg.Bootstrap.AdminName, s.cfg.Bootstrap.AdminEmail)
	if err != nil || secret == "" {
		return err
	}
	path, err := writeAdminToken(s.cfg.DataDir, secret, s.now())
	if err != nil {
		return fmt.Errorf("writing admin token: %w", err)
	}
	ev := s.log.Info()
	if filepath.Base(path) != AdminTokenFile {
		ev = s.log.Warn().Str("existing_file", filepath.Join(s.cfg.DataDir, AdminTokenFile))
	}
	ev.Str("user", s.cfg.Bootstrap.AdminName).Str("token_file", path).
		Msg("created the first administrator; its personal access token is in token_file (read it, then replace it)")
	if banner != nil {
		fmt.Fprintf(banner, "\nCreated administrator %q. Its personal access token (also in %s):\n\n    %s\n\n",
			s.cfg.Bootstrap.AdminName, path, secret)
	}
	return nil
}

// writeAdminToken stores the bootstrap token in dir/admin.token, mode 0600,
// atomically (written and synced under a temporary name, then linked into
// place) and never over an existing file: a leftover admin.token from an
// earlier installation is left alone and the token goes to
// admin.token.<UTC time> instead (the log line names it). It returns the
// path written.
func writeAdminToken(dir, secret string, now time.Time) (string, error) {
	f, err := os.CreateTemp(dir, ".admin.token-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// Owner-only before the secret is in it (CreateTemp's 0600 on Unix; on
	// Windows the file would otherwise inherit the directory's DACL).
	if err := ownerfile.Restrict(tmp); err != nil {
		_ = f.Close()
		return "", err
	}
	_, werr := fmt.Fprintln(f, secret)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return "", err
	}
	path := filepath.Join(dir, AdminTokenFile)
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		path += "." + now.UTC().Format("20060102T150405.000000000Z")
		err = os.Link(tmp, path)
	}
	if err != nil {
		return "", err
	}
	return path, nil
}

// signingRefresh is how often the signing key set is re-read even when no
// step is due, so that a change made by another replica (or an operator's
// offline command) is published within it.
const signingRefresh = 30 * time.Second

// Signing exposes the signing key manager (tests and the admin API).
func (s *Server) Signing() *signing.Manager { return s.signing }

// Handler is the complete HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Store exposes the store (tests and offline commands).
func (s *Server) Store() store.Store { return s.store }

// Close stops background work (flushing buffered key usage), releases
// the store and exports the spans still queued.
func (s *Server) Close() error {
	s.stopBackground()
	s.background.Wait()
	err := s.store.Close()
	if terr := s.tracing.Shutdown(context.Background()); terr != nil {
		s.log.Warn().Err(terr).Msg("tracing: flushing spans at shutdown failed")
	}
	return err
}

// Serve serves on ln until ctx is cancelled, then drains in-flight requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          newStdLogger(s.log),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// The line is written before the first request can be answered (the
	// listener is open, connections wait in its backlog), so whoever sees
	// /readyz answer also finds it in the log.
	build := buildinfo.Read()
	s.log.Info().Str("listen", ln.Addr().String()).Str("issuer", s.cfg.Issuer).Bool("tls", s.tls != nil).
		Str("version", build.Version).Str("commit", build.Commit).Msg("tokenwright is serving")
	errc := make(chan error, 1)
	if s.tls != nil {
		// ServeTLS negotiates HTTP/2 by ALPN; GetCertificate picks up
		// reloaded certificates for new connections.
		srv.TLSConfig = s.tickets.ServerConfig()
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info().Msg("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Run is `tokenwright serve`: New, listen, Serve, Close. The side
// listeners (health, metrics) stop with the main one and are waited for
// before the store is closed: they read it.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	s, err := New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Deferred after Close, so run before it: stop the side listeners
	// (also when Serve fails on its own) and wait for them.
	ctx, stop := context.WithCancel(ctx)
	var side sync.WaitGroup
	defer side.Wait()
	defer stop()
	s.reloadOnHangup(ctx)
	for _, l := range []struct {
		addr, setting, name string
		serve               func(context.Context, net.Listener) error
	}{
		{cfg.HealthListen, "healthListen", "health", s.ServeHealth},
		{cfg.MetricsListen, "metricsListen", "metrics", s.ServeMetrics},
	} {
		if l.addr == "" {
			continue
		}
		sln, err := net.Listen("tcp", l.addr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("%s: %w", l.setting, err)
		}
		side.Go(func() {
			if err := l.serve(ctx, sln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error().Err(err).Msg(l.name + " listener failed")
			}
		})
	}
	return s.Serve(ctx, ln)
}
