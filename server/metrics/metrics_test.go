package metrics_test

import (
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/server/oauth"
)

func scrape(m *metrics.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text, _ := io.ReadAll(rec.Body)
	return string(text)
}

func TestClientLabelsAreBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := metrics.New(metrics.Options{Keys: func() []metrics.SigningKey {
		return []metrics.SigningKey{
			{State: "active", CreatedAt: now.Add(-time.Hour), Active: true},
			{State: "retired", CreatedAt: now.Add(-48 * time.Hour)},
		}
	}, Now: func() time.Time { return now }, PerClient: true})
	for range 5000 {
		m.TokenFailed(oauth.ResultInvalidClient)
	}
	m.TokenIssued("etl")
	m.TokenFailed(oauth.ResultInvalidScope)
	// Issued clients are capped.
	for i := range metrics.MaxClients + 50 {
		m.TokenIssued("acct-" + strconv.Itoa(i))
	}
	out := scrape(m)
	for _, want := range []string{
		`tokenwright_tokens_failed_total{result="invalid_client"} 5000`,
		`tokenwright_tokens_failed_total{result="invalid_scope"} 1`,
		`tokenwright_tokens_issued_total 1051`,
		`tokenwright_tokens_issued_by_client_total{client="other"} 51`, // "etl" took one of the MaxClients slots
		`tokenwright_signing_keys{state="active"} 1`,
		`tokenwright_signing_keys{state="retired"} 1`,
		`tokenwright_signing_keys{state="pending"} 0`,
		`tokenwright_signing_key_age_seconds 3600`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	if n := strings.Count(out, "tokenwright_tokens_issued_by_client_total{"); n != metrics.MaxClients+1 {
		t.Errorf("%d issued series, want %d", n, metrics.MaxClients+1)
	}
}

// Public metrics name no client: neither who failed nor who got tokens.
func TestPublicMetricsNameNoClient(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.TokenIssued("payroll")
	m.TokenFailed(oauth.ResultInvalidClient)
	out := scrape(m)
	if strings.Contains(out, "payroll") || strings.Contains(out, "client=") {
		t.Errorf("public metrics name a client:\n%s", out)
	}
	if !strings.Contains(out, "tokenwright_tokens_issued_total 1") {
		t.Error("issued total missing")
	}
}

// Federation rule labels are bounded like client labels, and count by
// result.
func TestFederationRuleLabelsAreBounded(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.FederatedExchange("", oauth.FederationRefused)
	for i := range metrics.MaxFederationRules + 20 {
		m.FederatedExchange("rule-"+strconv.Itoa(i), oauth.FederationIssued)
	}
	m.FederatedExchange("rule-0", oauth.FederationReplayed)
	out := scrape(m)
	for _, want := range []string{
		`tokenwright_federated_exchanges_total{result="refused",rule=""} 1`,
		`tokenwright_federated_exchanges_total{result="issued",rule="rule-0"} 1`,
		`tokenwright_federated_exchanges_total{result="replayed",rule="rule-0"} 1`,
		`tokenwright_federated_exchanges_total{result="issued",rule="other"} 21`, // "" took one of the slots
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	if n := strings.Count(out, "tokenwright_federated_exchanges_total{"); n != metrics.MaxFederationRules+2 {
		t.Errorf("%d federated series, want %d", n, metrics.MaxFederationRules+2)
	}
}
