package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/server/ratelimit"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// initOperations builds the metrics and the rate limits and connects them
// to the OAuth server.
func (s *Server) initOperations(oauthServer *oauth.Server) {
	opts := metrics.Options{Keys: s.signingKeysForMetrics, Now: s.now, PerClient: s.metricsPrivate()}
	if s.tls != nil {
		opts.TLSNotAfter = func() time.Time { return s.tls.Certificate().Leaf.NotAfter }
	}
	s.metrics = metrics.New(opts)
	oauthServer.SetObserver(s.metrics)
	s.limits = newLimits(s.cfg.Limits, func(endpoint string, scope ratelimit.Scope) {
		s.metrics.RateLimited(endpoint, string(scope))
	}, s.now)
}

func (s *Server) signingKeysForMetrics() []metrics.SigningKey {
	st := s.signing.Current()
	if st == nil {
		return nil
	}
	out := make([]metrics.SigningKey, 0, len(st.Keys))
	for _, k := range st.Keys {
		out = append(out, metrics.SigningKey{State: string(k.State), CreatedAt: k.CreatedAt, Active: k.State == store.SigningActive})
	}
	return out
}

// warnOnLoosePermissions warns when the data directory, the database or a
// KEK file can be read by other users of the machine: the database holds
// the sealed signing keys and the KEK unseals them. tokenwright creates
// them 0700/0600 itself; looser modes come from copies and restores.
func (s *Server) warnOnLoosePermissions(kekFile string) {
	check := func(path string, what string, dir bool) {
		fi, err := os.Stat(path)
		if err != nil {
			return
		}
		mode := fi.Mode().Perm()
		loose := mode&0o077 != 0
		if dir {
			loose = mode&0o022 != 0 || mode&0o007 != 0
		}
		if loose {
			s.log.Warn().Str("path", path).Str("mode", mode.String()).
				Msgf("the %s is accessible to other users; run chmod %s %s", what, map[bool]string{true: "700", false: "600"}[dir], path)
		}
	}
	check(s.cfg.DataDir, "data directory", true)
	check(filepath.Join(s.cfg.DataDir, bolt.FileName), "database", false)
	check(filepath.Join(s.cfg.DataDir, "kek"), "key-encryption key", false)
	if kekFile != "" {
		check(kekFile, "key-encryption key", false)
	}
	check(filepath.Join(s.cfg.DataDir, AdminTokenFile), "bootstrap admin token file", false)
}

// snapshot streams a consistent copy of the database (GET /api/v1/backup).
func (s *Server) snapshot(_ context.Context, w http.ResponseWriter, size func(int64)) (int64, error) {
	return s.db.Snapshot(w, size)
}
