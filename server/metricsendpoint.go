package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/server/edge"
	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/store"
)

// loadMetricsToken reads the optional bearer token that /metrics requires:
// TOKENWRIGHT_METRICS_BEARER_TOKEN, else metricsBearerTokenFile. Only its
// digest is kept, so that the comparison is constant-time whatever the
// lengths.
func (s *Server) loadMetricsToken(environ func(string) string) error {
	v := environ("TOKENWRIGHT_METRICS_BEARER_TOKEN")
	if v == "" && s.cfg.MetricsBearerTokenFile != "" {
		data, err := os.ReadFile(s.cfg.MetricsBearerTokenFile)
		if err != nil {
			return fmt.Errorf("metricsBearerTokenFile: %w", err)
		}
		if v = strings.TrimSpace(string(data)); v == "" {
			return errors.New("metricsBearerTokenFile: the file is empty")
		}
	}
	if v != "" {
		sum := sha256.Sum256([]byte(v))
		s.metricsToken = sum[:]
	}
	return nil
}

// metricsPrivate reports whether /metrics is out of the public's reach
// (its own listener or a bearer token): only then do the metrics name
// clients (server/metrics).
func (s *Server) metricsPrivate() bool { return s.cfg.MetricsListen != "" || s.metricsToken != nil }

// metricsHandler serves the metrics, behind the bearer token if one is set.
func (s *Server) metricsHandler() http.Handler {
	h := s.metrics.Handler()
	if s.metricsToken == nil {
		return h
	}
	want := s.metricsToken
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(got[:], want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			edge.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "message": "a bearer token is required"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeMetrics serves only /metrics on ln (plain HTTP) until ctx is
// cancelled: the metricsListen listener.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		edge.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "this listener serves /metrics only"})
	})
	return s.serveSide(ctx, ln, mux, "metrics", s.log.Info().Bool("bearer", s.metricsToken != nil))
}

// initOperations builds the metrics and connects them to the OAuth server
// (the rate limits report to them through the route table, routes.go).
func (s *Server) initOperations(oauthServer *oauth.Server) {
	opts := metrics.Options{Keys: s.signingKeysForMetrics, Now: s.now, PerClient: s.metricsPrivate()}
	if s.tls != nil {
		opts.TLSNotAfter = func() time.Time { return s.tls.Certificate().Leaf.NotAfter }
	}
	opts.StoreHealthy = s.storeHealthy
	opts.KeyCounts = s.keyCountsForMetrics
	if s.mirror != nil {
		opts.MirrorAge = s.mirror.MirrorAge
	}
	s.metrics = metrics.New(opts)
	oauthServer.SetObserver(s.metrics)
}

// mirrorAger is what the metrics read of a store that serves reads from a
// local mirror (store/etcd): the age of its newest freshness proof. An
// interface, so that the server does not depend on the etcd package.
type mirrorAger interface {
	MirrorAge() (time.Duration, bool)
}

// storeHealthy is the store check of /readyz, for tokenwright_store_up:
// bounded, so that a hung store cannot hang the scrape.
func (s *Server) storeHealthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.store.Health(ctx) == nil
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
