package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/proxy"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// upstream is a resource server on 127.0.0.1 that accepts only bearer
// tokens that go-oidc verifies against the tokenwright test server, with
// audience "Domino".
type upstream struct {
	URL string

	mu       sync.Mutex
	tokens   map[string]bool // distinct bearer tokens seen
	failures []string
	headers  []http.Header
	auds     [][]string
}

func startUpstream(t *testing.T, issuer string) *upstream {
	t.Helper()
	u := &upstream{tokens: map[string]bool{}}
	u.URL = servertest.Upstream(t, issuer, "Domino", func(w http.ResponseWriter, r *http.Request, tok *oidc.IDToken, err error) {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.headers = append(u.headers, r.Header.Clone())
		if err != nil {
			u.failures = append(u.failures, r.URL.Path+": "+err.Error())
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		u.tokens[raw] = true
		u.auds = append(u.auds, tok.Audience)
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": tok.Subject, "path": r.URL.Path, "query": r.URL.RawQuery})
	})
	return u
}

func (u *upstream) snapshot() (tokens int, failures []string, headers []http.Header, auds [][]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.tokens), append([]string(nil), u.failures...), append([]http.Header(nil), u.headers...), append([][]string(nil), u.auds...)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

type reply struct {
	status int
	body   string
}

func get(t *testing.T, u string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(body)}
}

func issued(s *servertest.Server) int { return strings.Count(s.Logs(), `"event":"token.issued"`) }

// refreshWindow is how long the refresh tests keep sending requests: with
// 4-second tokens, long enough to cross several expiries.
const refreshWindow = 7 * time.Second

func TestInjectorRefreshesAcrossExpiry(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	up := startUpstream(t, s.URL)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "script", Email: "script@example.com",
		AllowedAudiences: []string{"Domino"}, TokenLifetime: 4})
	secret := s.CreateKey(t, "script", api.CreateKey{Name: "notebook"}).ClientSecret
	upURL, _ := url.Parse(up.URL + "/base/")
	h := proxy.NewInjector(proxy.InjectorConfig{Upstream: upURL, Tokens: client.TokenSource(context.Background(), client.TokenConfig{
		Issuer: s.URL, ClientID: "script", ClientSecret: secret, RefreshMargin: 2 * time.Second})})
	p := serve(t, h)

	// The caller's own credentials are replaced, never forwarded.
	hostile := http.Header{"Authorization": {"Bearer caller-token"}, "X-Api-Key": {"caller-key"}}
	var n int
	for start := time.Now(); time.Since(start) < refreshWindow; n++ {
		r := get(t, p+"/api/data?x=1", hostile)
		if r.status != http.StatusOK || !strings.Contains(r.body, `"path":"/base/api/data"`) || !strings.Contains(r.body, `"query":"x=1"`) {
			t.Fatalf("request %d: %d %s", n, r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tokens, failures, headers, _ := up.snapshot()
	if len(failures) > 0 {
		t.Fatalf("the upstream refused %d requests: %v", len(failures), failures)
	}
	// 7 s of 4-second tokens refreshed 2 s early: at least three tokens.
	if tokens < 3 || issued(s) != tokens {
		t.Fatalf("%d requests used %d tokens; server issued %d", n, tokens, issued(s))
	}
	for _, h := range headers {
		if h.Get("X-Api-Key") != "" || strings.Contains(h.Get("Authorization"), "caller-token") {
			t.Fatalf("caller credentials reached the upstream: %v", h)
		}
	}

	// Broken credentials: a JSON 502, no secret in the answer.
	bad := proxy.NewInjector(proxy.InjectorConfig{Upstream: upURL, Tokens: client.TokenSource(context.Background(), client.TokenConfig{
		Issuer: s.URL, ClientID: "script", ClientSecret: servertest.WrongSecret(secret)})})
	r := get(t, serve(t, bad)+"/api/data", nil)
	if r.status != http.StatusBadGateway || !strings.Contains(r.body, `"error":"token_unavailable"`) || strings.Contains(r.body, secret[:20]) {
		t.Fatalf("bad credentials: %d %s", r.status, r.body)
	}
}

func TestCheckListen(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:8081": true, "[::1]:8081": true, "localhost:1": true,
		"0.0.0.0:8081": false, ":8081": false, "192.0.2.1:80": false, "nonsense": false} {
		if err := proxy.CheckListen(addr, false); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v", addr, err)
		}
	}
	if err := proxy.CheckListen("0.0.0.0:8081", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
