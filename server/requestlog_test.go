package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// send makes a real request to s and returns the X-Request-Id of the
// answer and its status.
func send(t *testing.T, r *http.Request) (id string, status int) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	// Reading the answer to its end means the handler has returned, so
	// its log line (written inside the handler chain) is in the buffer.
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Header.Get("X-Request-Id"), resp.StatusCode
}

func newRequest(t *testing.T, method, url string, body string) *http.Request {
	t.Helper()
	var r *http.Request
	var err error
	if body == "" {
		r, err = http.NewRequest(method, url, nil)
	} else {
		r, err = http.NewRequest(method, url, strings.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// requestLine returns the request log line with request_id id.
func requestLine(t *testing.T, s *servertest.Server, id string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(s.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["request_id"] == id && m["path"] != nil {
			return m
		}
	}
	t.Fatalf("no request line with request_id %q in:\n%s", id, s.Logs())
	return nil
}

// TestRequestLogLines (issue 16, finding 6): every request has an id,
// made here unless a trusted proxy sent a sane one, returned in
// X-Request-Id and on its log line; a refused token request's line names
// the claimed client and the typed reason, never the secret; an admin
// request's line names the actor; lines have millisecond RFC 3339
// timestamps and duration_ms; /metrics scrapes are logged at debug.
func TestRequestLogLines(t *testing.T) {
	s, key := setup(t)

	// No trusted proxy: the client's own X-Request-Id is not believed.
	r := newRequest(t, http.MethodGet, s.URL+"/healthz", "")
	r.Header.Set("X-Request-Id", "chosen-by-client")
	id, _ := send(t, r)
	if !hexID.MatchString(id) {
		t.Fatalf("X-Request-Id %q: want a new 32-hex id", id)
	}
	line := requestLine(t, s, id)
	if _, ok := line["duration_ms"].(float64); !ok || line["duration"] != nil {
		t.Errorf("want duration_ms (a number) and no duration: %v", line)
	}
	if ts, _ := line["time"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(ts) {
		t.Errorf("time %q: want RFC 3339 with milliseconds", ts)
	}

	// A failed token request: claimed client id and reason, no secret.
	wrong := servertest.WrongSecret(key.ClientSecret)
	r = newRequest(t, http.MethodPost, s.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}.Encode())
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("ci-bot", wrong)
	id, status := send(t, r)
	if status != http.StatusUnauthorized {
		t.Fatalf("token with a wrong secret: %d", status)
	}
	line = requestLine(t, s, id)
	// The reason is the typed code the separate authentication line
	// carries (a changed check character: malformed_credential), which
	// also carries the request id.
	auth := logLines(t, s.Logs(), "client authentication failed")
	if len(auth) == 0 || auth[len(auth)-1]["request_id"] != id {
		t.Fatalf("authentication failure line without the request id: %v", auth)
	}
	if reason := auth[len(auth)-1]["reason"]; line["client_id"] != "ci-bot" || reason == "" || line["reason"] != reason || line["status"] != float64(401) {
		t.Errorf("refused token request line: %v", line)
	}
	if strings.Contains(s.Logs(), wrong) || strings.Contains(s.Logs(), key.ClientSecret) {
		t.Error("a secret reached the log")
	}

	// An admin request: the actor (user name and key id).
	r = newRequest(t, http.MethodGet, s.URL+"/api/v1/service-accounts", "")
	r.Header.Set("Authorization", "Bearer "+s.AdminToken)
	id, status = send(t, r)
	if status != http.StatusOK {
		t.Fatalf("admin request: %d", status)
	}
	line = requestLine(t, s, id)
	if kid, _ := line["actor_key_id"].(string); line["actor"] != "admin" || kid == "" || !strings.Contains(s.AdminToken, kid) {
		t.Errorf("admin request line without its actor: %v", line)
	}
	if strings.Contains(s.Logs(), s.AdminToken) {
		t.Error("the admin token reached the log")
	}

	// A /metrics scrape is logged at debug, not info.
	id, status = send(t, newRequest(t, http.MethodGet, s.URL+"/metrics", ""))
	if status != http.StatusOK {
		t.Fatalf("metrics: %d", status)
	}
	if line = requestLine(t, s, id); line["level"] != "debug" {
		t.Errorf("metrics scrape logged at %v", line["level"])
	}
}

// TestRequestIDFromTrustedProxy (issue 16, finding 6): a trusted proxy's
// X-Request-Id is kept; a malformed one (space, overlong) is replaced.
func TestRequestIDFromTrustedProxy(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1"} }})
	for _, tc := range []struct{ sent, want string }{
		{"0191b0a2-7c4e-7d4b-9a6e-3f1c2b5d8e90", "0191b0a2-7c4e-7d4b-9a6e-3f1c2b5d8e90"},
		{"01J9Z3K8Q4W2X5Y6Z7A8B9C0D1", "01J9Z3K8Q4W2X5Y6Z7A8B9C0D1"},
		{`bad id" injected`, ""},
		{strings.Repeat("a", 129), ""},
	} {
		r := newRequest(t, http.MethodGet, s.URL+"/healthz", "")
		r.Header.Set("X-Request-Id", tc.sent)
		id, _ := send(t, r)
		if tc.want != "" && id != tc.want || tc.want == "" && !hexID.MatchString(id) {
			t.Errorf("sent %q, answered %q", tc.sent, id)
		}
		requestLine(t, s, id)
	}
}
