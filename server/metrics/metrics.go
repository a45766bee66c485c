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
	"math"
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
	// StoreHealthy is called at scrape time for tokenwright_store_up (nil:
	// no gauge). It must be bounded in time (the scrape waits for it).
	StoreHealthy func() bool
	// MirrorAge is called at scrape time for the age of the etcd mirror's
	// newest freshness proof (nil: not on etcd, no gauge); false means no
	// proof yet.
	MirrorAge func() (time.Duration, bool)
	// KeyCounts is called at scrape time for tokenwright_keys (nil: no
	// gauges); it returns the counts and when the keys were last counted
	// in full (zero: not yet, no gauges), and must not read every key (see
	// server/keycounts).
	KeyCounts func() ([]KeyCount, time.Time)
}

// KeyCount is the number of API keys or PATs of a kind in a status.
type KeyCount struct {
	Kind   string // store.KeyKind: service_account or personal
	Status string // accounts.KeyStatus: active, expiring_soon, expired, revoked
	N      int
}

// Webhook delivery results, the values of tokenwright_webhook_deliveries_total's
// result label.
const (
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
)

// Metrics is the set of tokenwright metrics.
type Metrics struct {
	reg *prometheus.Registry

	issued      prometheus.Counter
	byClient    *prometheus.CounterVec // nil unless Options.PerClient
	failed      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	webhooks    *prometheus.CounterVec
	federated   *prometheus.CounterVec

	mu      sync.RWMutex
	clients map[string]prometheus.Counter // issued counter per known client
	rules   map[string]struct{}           // rule ids admitted as label values
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
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "webhook_deliveries_total",
			Help: "Expiry-notice webhook deliveries, by result: delivered (2xx) or failed (every retry refused or unanswered).",
		}, []string{"result"}),
		federated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenwright", Name: "federated_exchanges_total",
			Help: "Foreign tokens exchanged at the token endpoint, by federation rule id (\"\" when no rule verified the token; " +
				"at most MaxFederationRules ids, then \"other\") and result (issued, refused, replayed).",
		}, []string{"rule", "result"}),
		clients: map[string]prometheus.Counter{},
		rules:   map[string]struct{}{},
	}
	// Both results exist from the start, so that an alert on failures
	// sees 0 rather than a missing series.
	m.webhooks.WithLabelValues(WebhookDelivered)
	m.webhooks.WithLabelValues(WebhookFailed)
	m.reg.MustRegister(m.issued, m.failed, m.latency, m.rateLimited, m.webhooks, m.federated, buildInfoGauge(buildinfo.Read()),
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
	if opts.StoreHealthy != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tokenwright", Name: "store_up",
			Help: "1 if the store answers and accepts writes (what /readyz checks), 0 otherwise.",
		}, func() float64 {
			if opts.StoreHealthy() {
				return 1
			}
			return 0
		}))
	}
	if opts.KeyCounts != nil {
		m.reg.MustRegister(&keyCountCollector{counts: opts.KeyCounts})
	}
	if opts.MirrorAge != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tokenwright", Name: "store_mirror_staleness_seconds",
			Help: "etcd: seconds since the newest proof that the local mirror held every committed write (+Inf before the first).",
		}, func() float64 {
			age, ok := opts.MirrorAge()
			if !ok {
				return math.Inf(1)
			}
			return age.Seconds()
		}))
	}
	return m
}

// WebhookDelivery counts a webhook delivery's final result (WebhookDelivered
// or WebhookFailed).
func (m *Metrics) WebhookDelivery(result string) {
	m.webhooks.WithLabelValues(result).Inc()
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

// MaxFederationRules bounds the rule label of tokenwright_federated_exchanges_total:
// rule ids are made by administrators and only counted once a token has
// verified against the rule, but a bound keeps the series finite anyway.
const MaxFederationRules = 1000

// FederatedExchange counts one exchange of a foreign token.
func (m *Metrics) FederatedExchange(rule string, result oauth.FederationResult) {
	m.mu.Lock()
	if _, ok := m.rules[rule]; !ok {
		if len(m.rules) >= MaxFederationRules {
			rule = "other"
		} else {
			m.rules[rule] = struct{}{}
		}
	}
	m.mu.Unlock()
	m.federated.WithLabelValues(rule, string(result)).Inc()
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

var (
	keyCountDesc = prometheus.NewDesc("tokenwright_keys",
		"API keys (kind service_account) and personal access tokens (kind personal) by status: follows every change of a key (on etcd, every replica's) and, within a minute, the passing of time.",
		[]string{"kind", "status"}, nil)
	keyCountAtDesc = prometheus.NewDesc("tokenwright_keys_counted_timestamp_seconds",
		"When the keys were last counted in full (at start; on etcd also when the mirror reloads), in seconds since the Unix epoch; tokenwright_keys follows every change in between.", nil, nil)
)

// keyCountCollector exposes the key counts; nothing before the first
// full count.
type keyCountCollector struct {
	counts func() ([]KeyCount, time.Time)
}

func (k *keyCountCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyCountDesc
	ch <- keyCountAtDesc
}

func (k *keyCountCollector) Collect(ch chan<- prometheus.Metric) {
	counts, at := k.counts()
	if at.IsZero() {
		return
	}
	for _, c := range counts {
		ch <- prometheus.MustNewConstMetric(keyCountDesc, prometheus.GaugeValue, float64(c.N), c.Kind, c.Status)
	}
	ch <- prometheus.MustNewConstMetric(keyCountAtDesc, prometheus.GaugeValue, float64(at.UnixMilli())/1000)
}
