package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// keyCounts is the tokenwright_keys series of a real scrape of s, as
// "kind/status" → count, zeros left out.
func keyCounts(t *testing.T, s *servertest.Server) map[string]float64 {
	t.Helper()
	_, body := scrape(t, s.URL+"/metrics", "")
	out := map[string]float64{}
	for _, kind := range []string{"service_account", "personal"} {
		for _, status := range []string{"active", "expiring_soon", "expired", "revoked"} {
			v, ok := servertest.Sample(body, `tokenwright_keys{kind="`+kind+`",status="`+status+`"}`)
			if !ok {
				return nil // not counted yet
			}
			if v != 0 {
				out[kind+"/"+status] = v
			}
		}
	}
	return out
}

func wantCounts(t *testing.T, s *servertest.Server, step string, want map[string]float64) {
	t.Helper()
	if got := keyCounts(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after %s: tokenwright_keys %v, want %v", step, got, want)
	}
}

// TestKeyCountsFollowEveryChange (issue 16, metrics: keys by status
// maintained incrementally): on bbolt the counts follow each creation,
// revocation and deletion by the time the API has answered, and a key's
// passage into expiring_soon and expired as the clock moves, with no
// recount (the expiry-notice schedule, which used to recount, is an hour
// here and never comes round).
func TestKeyCountsFollowEveryChange(t *testing.T) {
	clock := newFakeClock(time.Now().UTC().Truncate(time.Minute))
	s := servertest.Start(t, servertest.Options{Now: clock.Now, Configure: func(c *config.Config) {
		c.Notifications.Interval = config.Duration(time.Hour)
	}})
	// The one full count, at the start: the administrator's PAT.
	eventually.True(t, 30*time.Second, "the first count", func() bool { return keyCounts(t, s) != nil })
	wantCounts(t, s, "the start", map[string]float64{"personal/active": 1})

	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	month, day := int64(30*24*3600), int64(24*3600)
	long := s.CreateKey(t, "svc", api.CreateKey{Name: "long", ExpiresIn: &month})
	s.CreateKey(t, "svc", api.CreateKey{Name: "soon", ExpiresIn: &day})
	doomed := s.CreateKey(t, "svc", api.CreateKey{Name: "doomed", ExpiresIn: &month})
	wantCounts(t, s, "three creations", map[string]float64{"personal/active": 1, "service_account/active": 2, "service_account/expiring_soon": 1})

	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/svc/keys/"+long.ID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	wantCounts(t, s, "a revocation", map[string]float64{"personal/active": 1, "service_account/active": 1,
		"service_account/expiring_soon": 1, "service_account/revoked": 1})
	if code := s.Do(t, s.AdminToken, http.MethodDelete, "/api/v1/service-accounts/svc/keys/"+doomed.ID, nil, nil); code != 204 && code != 200 {
		t.Fatalf("delete: %d", code)
	}
	wantCounts(t, s, "a deletion", map[string]float64{"personal/active": 1, "service_account/expiring_soon": 1, "service_account/revoked": 1})

	// Time alone: a month-long key enters its expiring-soon window (7 days
	// by default) and the day-long one expires.
	s.CreateKey(t, "svc", api.CreateKey{Name: "later", ExpiresIn: &month})
	clock.Advance(2 * 24 * time.Hour)
	wantCounts(t, s, "two days", map[string]float64{"personal/active": 1, "service_account/active": 1,
		"service_account/expired": 1, "service_account/revoked": 1})
	clock.Advance(22*24*time.Hour + time.Minute)
	wantCounts(t, s, "24 days", map[string]float64{"personal/active": 1, "service_account/expiring_soon": 1,
		"service_account/expired": 1, "service_account/revoked": 1})

	// Deleting the account deletes its keys (one transaction, every key
	// told).
	if code := s.Do(t, s.AdminToken, http.MethodDelete, "/api/v1/service-accounts/svc", nil, nil); code != 204 && code != 200 {
		t.Fatalf("delete account: %d", code)
	}
	wantCounts(t, s, "deleting the account", map[string]float64{"personal/active": 1})
}

// TestHAKeyCountsFollowOtherReplicas (issue 16): on etcd, a key created
// or revoked through replica A shows in replica B's counts (B hears it
// from its mirror's watch), without a recount.
func TestHAKeyCountsFollowOtherReplicas(t *testing.T) {
	etcdtest.Each(t, testHAKeyCountsFollowOtherReplicas)
}

func testHAKeyCountsFollowOtherReplicas(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	a, b := servertest.Replicas(t, c.Endpoints(), func(cfg *config.Config) { cfg.Notifications.Interval = config.Duration(time.Hour) })
	counts := func(s *servertest.Server, want map[string]float64) {
		t.Helper()
		eventually.True(t, 10*time.Second, fmt.Sprintf("counts %v on %s", want, s.URL), func() bool {
			return fmt.Sprint(keyCounts(t, s)) == fmt.Sprint(want)
		})
	}
	counts(b, map[string]float64{"personal/active": 1})

	a.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	day := int64(24 * 3600)
	k := a.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	a.CreateKey(t, "svc", api.CreateKey{Name: "soon", ExpiresIn: &day})
	counts(b, map[string]float64{"personal/active": 1, "service_account/active": 1, "service_account/expiring_soon": 1})

	if code := a.Do(t, a.AdminToken, http.MethodPost, "/api/v1/service-accounts/svc/keys/"+k.ID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	counts(b, map[string]float64{"personal/active": 1, "service_account/expiring_soon": 1, "service_account/revoked": 1})
	// And the other way round: B's write shows on A.
	if code := b.Do(t, b.AdminToken, http.MethodDelete, "/api/v1/service-accounts/svc", nil, nil); code != 204 && code != 200 {
		t.Fatalf("delete account: %d", code)
	}
	counts(a, map[string]float64{"personal/active": 1})
	counts(b, map[string]float64{"personal/active": 1})
}
