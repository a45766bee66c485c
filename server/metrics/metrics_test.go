package metrics_test

import (
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/metrics"
)

func TestClientLabelsAreBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := metrics.New(func() []metrics.SigningKey {
		return []metrics.SigningKey{
			{State: "active", CreatedAt: now.Add(-time.Hour), Active: true},
			{State: "retired", CreatedAt: now.Add(-48 * time.Hour)},
		}
	}, func() time.Time { return now })
	// Attacker-chosen ids never become labels.
	for i := range 5000 {
		m.TokenFailed("unknown key id", "random-"+strconv.Itoa(i))
	}
	m.TokenIssued("etl")
	m.TokenFailed("wrong secret", "etl")
	// Issued clients are capped.
	for i := range metrics.MaxClients + 50 {
		m.TokenIssued("acct-" + strconv.Itoa(i))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text, _ := io.ReadAll(rec.Body)
	out := string(text)
	for _, want := range []string{
		`tokenwright_tokens_failed_total{client="unknown",reason="unknown_key_id"} 5000`,
		`tokenwright_tokens_failed_total{client="etl",reason="wrong_secret"} 1`,
		`tokenwright_tokens_issued_total{client="other"} 51`, // "etl" took one of the MaxClients slots
		`tokenwright_signing_keys{state="active"} 1`,
		`tokenwright_signing_keys{state="retired"} 1`,
		`tokenwright_signing_keys{state="pending"} 0`,
		`tokenwright_signing_key_age_seconds 3600`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	if n := strings.Count(out, "tokenwright_tokens_issued_total{"); n != metrics.MaxClients+1 {
		t.Errorf("%d issued series, want %d", n, metrics.MaxClients+1)
	}
}
