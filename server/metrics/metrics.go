// Package metrics exposes tokenwright's Prometheus metrics. It owns its
// registry (no global state), keeps every label set bounded (client ids
// appear only once they have authenticated successfully, up to a cap) and
// pre-resolves the hot-path counters so a token request costs a map lookup
// and an atomic add.
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unknown is the client label of failures whose client id never got a token
// (attacker-chosen ids must not create series).
const Unknown = "unknown"

// MaxClients caps the distinct client labels; later clients count as "other".
const MaxClients = 1000

// SigningKey is what the signing-key collector needs of one key.
type SigningKey struct {
	State     string
	CreatedAt time.Time
	Active    bool
}

// Metrics is the set of tokenwright metrics.
type Metrics struct {
	reg *prometheus.Registry

	issued      *prometheus.CounterVec
	failed      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec

	mu      sync.RWMutex
	clients map[string]prometheus.Counter // issued counter per known client
}

// New registers the metrics. keys is called at scrape time for the signing
// key gauges and may be nil.
func New(keys func() []SigningKey, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "tokens_issued_total", Help: "Access tokens issued, by client.",
		}, []string{"client"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "tokens_failed_total",
			Help: "Token requests refused, by reason and client (\"unknown\" unless the client id has been issued a token).",
		}, []string{"reason", "client"}),
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
	m.reg.MustRegister(m.issued, m.failed, m.latency, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if keys != nil {
		m.reg.MustRegister(&keyCollector{keys: keys, now: now})
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry exposes the registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// TokenIssued counts a token for client. It admits the client to the label
// set (up to MaxClients): authenticated client ids are administrator-made.
func (m *Metrics) TokenIssued(client string) {
	m.mu.RLock()
	c, ok := m.clients[client]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if c, ok = m.clients[client]; !ok {
			label := client
			if len(m.clients) >= MaxClients {
				label = "other"
			}
			c = m.issued.WithLabelValues(label)
			m.clients[client] = c
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// TokenFailed counts a refused token request. reason must come from a
// fixed set (the server's own reason strings, never client input).
func (m *Metrics) TokenFailed(reason, client string) {
	m.mu.RLock()
	_, known := m.clients[client]
	m.mu.RUnlock()
	if !known {
		client = Unknown
	}
	m.failed.WithLabelValues(strings.ReplaceAll(reason, " ", "_"), client).Inc()
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
	counts := map[string]float64{"pending": 0, "active": 0, "retired": 0}
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
