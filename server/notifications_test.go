package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/notify"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store"
)

// receiver is a webhook endpoint on 127.0.0.1 that verifies every
// delivery's signature and fails the first failFirst attempts of each.
type receiver struct {
	secret    []byte
	now       func() time.Time // the clock the signature's timestamp is checked on
	failFirst int

	mu       sync.Mutex
	attempts map[string]int // per delivery id
	notices  map[string]int // accepted notices per key id
	payloads map[string]notify.Payload
	bad      []string
}

func startReceiver(t *testing.T, secret string, failFirst int, now func() time.Time) (*receiver, string) {
	t.Helper()
	rc := &receiver{secret: []byte(secret), now: now, failFirst: failFirst, attempts: map[string]int{}, notices: map[string]int{},
		payloads: map[string]notify.Payload{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return rc, "http://" + ln.Addr().String() + "/hooks/tokenwright"
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := notify.Verify(rc.secret, r.Header.Get("X-Tokenwright-Timestamp"), r.Header.Get("X-Tokenwright-Signature"),
		body, rc.now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil || r.Method != http.MethodPost || p.Delivery != r.Header.Get("X-Tokenwright-Delivery") {
		rc.bad = append(rc.bad, "malformed delivery: "+string(body))
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	// Issue 16, finding 3: deliveries say which tokenwright sent them.
	if ua := r.UserAgent(); ua != buildinfo.UserAgent() {
		rc.bad = append(rc.bad, "User-Agent "+ua+", want "+buildinfo.UserAgent())
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	rc.attempts[p.Delivery]++
	if rc.attempts[p.Delivery] <= rc.failFirst {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	rc.notices[p.Key.ID]++
	rc.payloads[p.Key.ID] = p
}

func (rc *receiver) counts() (map[string]int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for k, v := range rc.notices {
		out[k] = v
	}
	return out, append([]string(nil), rc.bad...)
}

func TestExpiryNoticesWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec-test-0123456789abcdef"
	// The job runs every 100 ms from the start: a key created expiring
	// soon and revoked a moment later may rightly be noticed in between.
	// So the key to revoke is created outside the window (7 days), revoked,
	// and only then does the clock move it inside: it is never both usable
	// and expiring soon.
	clock := newFakeClock(time.Now().UTC())
	// The receiver checks the signature's timestamp on the same clock.
	rc, hook := startReceiver(t, secret, 2, clock.Now) // every delivery fails twice first
	s := servertest.Start(t, servertest.Options{
		Now: clock.Now,
		Configure: func(c *config.Config) {
			c.Notifications.Interval = config.Duration(100 * time.Millisecond)
			c.Notifications.Webhook.URL = hook
			c.Notifications.Webhook.RetryBackoff = config.Duration(20 * time.Millisecond)
		},
		Environ: func(k string) string {
			if k == "TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET" {
				return secret
			}
			return ""
		},
	})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	days := func(n int64) *int64 { v := n * 24 * 3600; return &v }
	revoked := s.CreateKey(t, "svc", api.CreateKey{Name: "revoked", ExpiresIn: days(10)})
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/svc/keys/"+revoked.ID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	clock.Advance(9 * 24 * time.Hour) // the revoked key now expires in a day
	soon := s.CreateKey(t, "svc", api.CreateKey{Name: "soon", ExpiresIn: days(2)})
	later := s.CreateKey(t, "svc", api.CreateKey{Name: "later", ExpiresIn: days(30)})
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "bob", Email: "bob@example.com"}, nil); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	var pat api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/users/bob/tokens", api.CreateKey{Name: "laptop", ExpiresIn: days(3)}, &pat); code != 201 {
		t.Fatalf("create PAT: %d", code)
	}

	want := map[string]int{soon.ID: 1, pat.ID: 1}
	eventually.Nil(t, 15*time.Second, "notices delivered", func() error {
		got, bad := rc.counts()
		if len(bad) > 0 {
			t.Fatalf("receiver refused deliveries: %v", bad)
		}
		if got[soon.ID] >= 1 && got[pat.ID] >= 1 {
			return nil
		}
		return fmt.Errorf("notices received %v, want %v\n%s", got, want, s.Logs())
	})
	// Many more runs of the job (every 100 ms) must not repeat them.
	time.Sleep(time.Second)
	got, _ := rc.counts()
	if len(got) != 2 || got[soon.ID] != 1 || got[pat.ID] != 1 {
		t.Fatalf("notices %v, want exactly %v (not %s, not revoked %s)", got, want, later.ID, revoked.ID)
	}
	rc.mu.Lock()
	p := rc.payloads[pat.ID]
	rc.mu.Unlock()
	if p.Event != "key.expiring_soon" || p.Key.ClientID != "bob" || p.Key.Kind != "personal" || p.Key.Name != "laptop" ||
		p.Key.Status != "expiring_soon" || p.Key.ExpiresAt.IsZero() || p.Issuer != s.URL {
		t.Fatalf("payload %+v", p)
	}

	for _, id := range []string{soon.ID, pat.ID} {
		k, err := s.Server.Store().GetKey(context.Background(), id)
		if err != nil || k.ExpiryNoticeAt.IsZero() {
			t.Fatalf("key %s: ExpiryNoticeAt not recorded (%v)", id, err)
		}
	}
	events, err := s.Server.Store().ListAudit(context.Background(), store.AuditQuery{Action: "key.expiring_soon"})
	if err != nil || len(events) != 2 {
		t.Fatalf("audit events %v %v", events, err)
	}
	for _, e := range events {
		if e.Result != "success" || e.Details["webhook"] != "delivered" {
			t.Fatalf("audit event %+v", e)
		}
	}
	logs := s.Logs()
	if strings.Count(logs, `"event":"key.expiring_soon"`) != 2 || strings.Contains(logs, secret) {
		t.Fatal("want two notice log lines and no webhook secret in the log")
	}
}

func TestWebhookNeedsASecret(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Notifications.Webhook.URL = "http://127.0.0.1:1/hook"
	_, err := server.New(context.Background(), cfg, server.Options{Environ: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET") {
		t.Fatalf("webhook without secret: %v", err)
	}
	cfg.Notifications.Webhook.URL = "ftp://x"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "notifications.webhook.url") {
		t.Fatalf("bad webhook URL: %v", err)
	}
}

func TestNotificationSettingsFromTheEnvironment(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", []string{"TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_URL=https://hooks.example.com/tw",
		"TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET=not-a-setting-but-allowed", "TOKENWRIGHT_NOTIFICATIONS_INTERVAL=30s"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Notifications.Webhook.URL != "https://hooks.example.com/tw" || cfg.Notifications.Interval.Std() != 30*time.Second {
		t.Fatalf("%+v", cfg.Notifications)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Notifications.Interval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "notifications.interval") {
		t.Fatalf("zero interval: %v", err)
	}
}
