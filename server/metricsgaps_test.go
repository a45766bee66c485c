package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// TestWebhookDeliveryMetrics (issue 16, finding 7): a webhook delivery
// that a real receiver refuses (500 on every attempt) is counted as
// failed; both results are exposed from the start.
func TestWebhookDeliveryMetrics(t *testing.T) {
	refused := make(chan struct{}, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
		refused <- struct{}{}
	}))
	t.Cleanup(hook.Close)
	s := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.Notifications.Interval = config.Duration(time.Hour) // one run at start, then the test's key waits
			c.Notifications.Webhook.URL = hook.URL
			c.Notifications.Webhook.RetryBackoff = config.Duration(10 * time.Millisecond)
		},
		Environ: func(k string) string {
			if k == "TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET" {
				return "whsec-test-0123456789abcdef"
			}
			return ""
		},
	})
	_, body := scrape(t, s.URL+"/metrics", "")
	for _, r := range []string{"delivered", "failed"} {
		if v, ok := servertest.Sample(body, `tokenwright_webhook_deliveries_total{result="`+r+`"}`); !ok || v != 0 {
			t.Fatalf("%s deliveries before any: %v %v", r, v, ok)
		}
	}
	if v, ok := servertest.Sample(body, "tokenwright_store_up"); !ok || v != 1 {
		t.Errorf("tokenwright_store_up = %v (present %v), want 1", v, ok)
	}
	if _, ok := servertest.Sample(body, "tokenwright_store_mirror_staleness_seconds"); ok {
		t.Error("a mirror staleness gauge on bbolt")
	}

	// A key in its expiring-soon window; the notifier is started again on
	// the same data directory so that its first run finds it.
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	in := int64(24 * 3600)
	s.CreateKey(t, "svc", api.CreateKey{Name: "soon", ExpiresIn: &in})
	s.Stop()
	s = servertest.Start(t, servertest.Options{DataDir: s.DataDir, Configure: func(c *config.Config) {
		c.Notifications.Interval = config.Duration(time.Hour)
		c.Notifications.Webhook.URL = hook.URL
		c.Notifications.Webhook.RetryBackoff = config.Duration(10 * time.Millisecond)
	}, Environ: func(k string) string {
		if k == "TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET" {
			return "whsec-test-0123456789abcdef"
		}
		return ""
	}})
	for range 5 { // the default attempts, all refused
		select {
		case <-refused:
		case <-time.After(30 * time.Second):
			t.Fatalf("the receiver was not called 5 times\n%s", s.Logs())
		}
	}
	// The failure is counted once the notifier has given up on the last
	// answer: poll the scrape (each is a real request) until it shows.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body = scrape(t, s.URL+"/metrics", "")
		if v, _ := servertest.Sample(body, `tokenwright_webhook_deliveries_total{result="failed"}`); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed deliveries not counted:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v, _ := servertest.Sample(body, `tokenwright_webhook_deliveries_total{result="delivered"}`); v != 0 {
		t.Errorf("delivered = %v", v)
	}
}

// TestAdminMetricsByRouteTemplate (issue 16, finding 7): admin requests
// are measured by route template, not lumped as "admin"; an unknown admin
// path keeps "admin" (bounded labels).
func TestAdminMetricsByRouteTemplate(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/svc", nil, nil)
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/no-such-thing", nil, nil)
	_, body := scrape(t, s.URL+"/metrics", "")
	for _, series := range []string{
		`tokenwright_http_request_duration_seconds_count{code="2xx",route="/api/v1/service-accounts/{name}"}`,
		`tokenwright_http_request_duration_seconds_count{code="2xx",route="/api/v1/service-accounts"}`,
		`tokenwright_http_request_duration_seconds_count{code="4xx",route="admin"}`,
	} {
		if v, ok := servertest.Sample(body, series); !ok || v < 1 {
			t.Errorf("%s = %v (present %v)", series, v, ok)
		}
	}
	if strings.Contains(body, "no-such-thing") {
		t.Error("an unknown path became a label")
	}
}

// TestKeyCountMetrics (issue 16, finding 7): tokenwright_keys counts API
// keys and PATs by status, expiring_soon included, and follows creations,
// revocations and keys entering their expiring-soon window (polled here
// through real scrapes; TestKeyCountsFollowEveryChange holds them to
// following at once, without a recount).
func TestKeyCountMetrics(t *testing.T) {
	clock := newFakeClock(time.Now().UTC())
	s := servertest.Start(t, servertest.Options{Now: clock.Now, Configure: func(c *config.Config) {
		c.Notifications.Interval = config.Duration(100 * time.Millisecond)
	}})
	// waitFor polls real scrapes until every series has its value.
	waitFor := func(want map[string]float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, body := scrape(t, s.URL+"/metrics", "")
			ok := true
			for series, v := range want {
				if got, present := servertest.Sample(body, series); !present || got != v {
					ok = false
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %v in:\n%s", want, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	series := func(kind, status string) string {
		return `tokenwright_keys{kind="` + kind + `",status="` + status + `"}`
	}
	// The bootstrap administrator's PAT is the one key at the start.
	waitFor(map[string]float64{series("service_account", "active"): 0, series("service_account", "expiring_soon"): 0,
		series("service_account", "revoked"): 0, series("personal", "active"): 1})

	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	month, day := int64(30*24*3600), int64(24*3600)
	long := s.CreateKey(t, "svc", api.CreateKey{Name: "long", ExpiresIn: &month})
	s.CreateKey(t, "svc", api.CreateKey{Name: "soon", ExpiresIn: &day})
	waitFor(map[string]float64{series("service_account", "active"): 1, series("service_account", "expiring_soon"): 1,
		series("service_account", "revoked"): 0})

	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/svc/keys/"+long.ID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	waitFor(map[string]float64{series("service_account", "active"): 0, series("service_account", "expiring_soon"): 1,
		series("service_account", "revoked"): 1})
	_, body := scrape(t, s.URL+"/metrics", "")
	if at, ok := servertest.Sample(body, "tokenwright_keys_counted_timestamp_seconds"); !ok || at < float64(clock.Now().Add(-time.Minute).Unix()) {
		t.Errorf("counted timestamp %v %v", at, ok)
	}

	// Time passes: a month-long key enters its expiring-soon window (7
	// days by default) and the day-long one expires, without any write.
	s.CreateKey(t, "svc", api.CreateKey{Name: "later", ExpiresIn: &month})
	waitFor(map[string]float64{series("service_account", "active"): 1})
	clock.Advance(24 * 24 * time.Hour)
	waitFor(map[string]float64{series("service_account", "active"): 0, series("service_account", "expiring_soon"): 1,
		series("service_account", "expired"): 1, series("service_account", "revoked"): 1})
}
