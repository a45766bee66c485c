// Package metrics exposes tokenwright's Prometheus metrics. It owns its
// registry (no global state), keeps every label set bounded (client ids
// appear only once they have authenticated successfully, up to a cap) and
// pre-resolves the hot-path counters so a token request costs a map lookup
// and an atomic add.
//
// What a scrape reveals is decided here: refused requests carry only the
// coarse OAuth result (never why authentication failed, nor for which
// client id), and per-client issued counts exist only when the metrics are
// private (Options.PerClient: off the public listener or behind a bearer
// token), because they list the accounts and their activity.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/store"
)

// MaxClients caps the distinct client labels; later clients count as "other".
const MaxClients = 1000

// SigningKey is what the signing-key collector needs of one key.
type SigningKey struct {
	// State is the key's store.SigningKeyState, as its label value.
	State     string
	CreatedAt time.Time
	Active    bool
}

// Options shape the metric set.
type Options struct {
	// Keys is called at scrape time for the signing key gauges (nil: none).
	Keys func() []SigningKey
	// Now replaces the clock (nil: time.Now).
	Now func() time.Time
	// TLSNotAfter is called at scrape time for the serving certificate's
	// expiry (nil: no TLS, no gauge).
	TLSNotAfter func() time.Time
	// PerClient adds tokenwright_tokens_issued_by_client_total{client}. Set
	// it only when the metrics are not served to anyone who asks.
	PerClient bool
}

// Metrics is the set of tokenwright metrics.
type Metrics struct {
	reg *prometheus.Registry

	issued      prometheus.Counter
	byClient    *prometheus.CounterVec // nil unless Options.PerClient
	failed      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec

	mu      sync.RWMutex
	clients map[string]prometheus.Counter // issued counter per known client
}

// New registers the metrics.
func New(opts Options) *Metrics {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "tokens_issued_total", Help: "Access tokens issued.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "tokens_failed_total",
			Help: "Token requests refused, by OAuth error code (why, and for which client, is in the log only).",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tokenwright", Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "rate_limited_total",
			Help: "Requests refused with 429, by endpoint family and limiter (ip or client).",
		}, []string{"endpoint", "limiter"}),
		clients: map[string]prometheus.Counter{},
	}
	m.reg.MustRegister(m.issued, m.failed, m.latency, m.rateLimited, buildInfoGauge(buildinfo.Read()),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.PerClient {
		m.byClient = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "tokens_issued_by_client_total",
			Help: "Access tokens issued, by client (at most MaxClients, then \"other\").",
		}, []string{"client"})
		m.reg.MustRegister(m.byClient)
	}
	if opts.Keys != nil {
		m.reg.MustRegister(&keyCollector{keys: opts.Keys, now: opts.Now})
	}
	if opts.TLSNotAfter != nil {
		// Read at scrape time: a reloaded certificate shows at once.
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tokenwright", Name: "tls_certificate_expiry_timestamp_seconds",
			Help: "When the serving TLS certificate expires (its NotAfter), in seconds since the Unix epoch.",
		}, func() float64 { return float64(opts.TLSNotAfter().Unix()) }))
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry exposes the registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// TokenIssued counts a token for client. With per-client counts it admits
// the client to the label set (up to MaxClients): authenticated client ids
// are administrator-made.
func (m *Metrics) TokenIssued(client string) {
	m.issued.Inc()
	if m.byClient == nil {
		return
	}
	m.mu.RLock()
	c, ok := m.clients[client]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if c, ok = m.clients[client]; !ok {
			label := apikey.Redact(client)
			if len(m.clients) >= MaxClients {
				label = "other"
			}
			c = m.byClient.WithLabelValues(label)
			m.clients[client] = c
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// TokenFailed counts a refused token request by its coarse result.
func (m *Metrics) TokenFailed(result oauth.Result) {
	m.failed.WithLabelValues(string(result)).Inc()
}

// RateLimited counts a 429.
func (m *Metrics) RateLimited(endpoint, limiter string) {
	m.rateLimited.WithLabelValues(endpoint, limiter).Inc()
}

// Observe records a request's latency. route must be from a fixed set.
func (m *Metrics) Observe(route string, status int, d time.Duration) {
	m.latency.WithLabelValues(route, statusClass(status)).Observe(d.Seconds())
}

func statusClass(status int) string {
	switch {
	case status < 200:
		return "1xx"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	}
	return "5xx"
}

// keyCollector reads the signing key set at scrape time, so the gauges can
// never be stale after a rotation.
type keyCollector struct {
	keys func() []SigningKey
	now  func() time.Time
}

var (
	keysDesc = prometheus.NewDesc("tokenwright_signing_keys", "Signing keys by state.", []string{"state"}, nil)
	ageDesc  = prometheus.NewDesc("tokenwright_signing_key_age_seconds", "Age of the active signing key.", nil, nil)
)

func (k *keyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keysDesc; ch <- ageDesc }

func (k *keyCollector) Collect(ch chan<- prometheus.Metric) {
	// Every state is reported, 0 included, so a dashboard sees "no
	// pending key" rather than a missing series.
	counts := map[string]float64{string(store.SigningPending): 0, string(store.SigningActive): 0, string(store.SigningRetired): 0}
	for _, key := range k.keys() {
		counts[key.State]++
		if key.Active {
			ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, k.now().Sub(key.CreatedAt).Seconds())
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, n, state)
	}
}
