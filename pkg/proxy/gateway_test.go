package proxy_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/proxy"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// clock is a settable clock for the gateway's revalidation; it starts at
// the real time so that token expiry still compares sensibly.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type gatewayEnv struct {
	s        *servertest.Server
	up       *upstream
	url      string
	secret   string
	keyID    string
	narrowed string // a key restricted to /api/reports/*
}

func startGateway(t *testing.T, lifetime int64, now func() time.Time, revalidate time.Duration) *gatewayEnv {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	up := startUpstream(t, s.URL)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "tool", Email: "tool@example.com",
		AllowedAudiences: []string{"Domino", up.URL + "/api/*"}, TokenLifetime: lifetime})
	k := s.CreateKey(t, "tool", api.CreateKey{Name: "static"})
	narrow := s.CreateKey(t, "tool", api.CreateKey{Name: "reports", Audiences: []string{"Domino", up.URL + "/api/reports/*"}})
	upURL, _ := url.Parse(up.URL)
	g, err := proxy.NewGateway(proxy.GatewayConfig{Upstream: upURL, TokenURL: client.TokenURL(s.URL),
		Audiences: []string{"Domino"}, Revalidate: revalidate, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return &gatewayEnv{s: s, up: up, url: serve(t, g), secret: k.ClientSecret, keyID: k.ID, narrowed: narrow.ClientSecret}
}

func apiKey(v string) http.Header { return http.Header{"X-Api-Key": {v}} }

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

func TestGatewayAuthorisesKeysAndPaths(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	e := startGateway(t, 0, clk.Now, 5*time.Second)

	for name, tc := range map[string]struct {
		path   string
		header http.Header
		status int
		code   string
	}{
		"no key":               {"/api/data", nil, 401, "unauthenticated"},
		"bare key, no account": {"/api/data", apiKey(e.secret), 401, "unauthenticated"},
		"wrong key":            {"/api/data", apiKey("tool:" + servertest.WrongSecret(e.secret)), 401, "unauthenticated"},
		"wrong account":        {"/api/data", apiKey("other:" + e.secret), 401, "unauthenticated"},
		"outside the pattern":  {"/admin/data", apiKey("tool:" + e.secret), 403, "forbidden"},
		"dot segments":         {"/api/../admin/data", apiKey("tool:" + e.secret), 400, "invalid_request"},
		"encoded slash":        {"/api%2f..%2fadmin", apiKey("tool:" + e.secret), 400, "invalid_request"},
		"narrowed key":         {"/api/data", apiKey("tool:" + e.narrowed), 403, "forbidden"},
		"narrowed key inside":  {"/api/reports/1", apiKey("tool:" + e.narrowed), 200, ""},
		"X-Api-Key":            {"/api/data?q=1", apiKey("tool:" + e.secret), 200, ""},
		"Basic auth":           {"/api/other", basic("tool", e.secret), 200, ""},
	} {
		t.Run(name, func(t *testing.T) {
			// A raw request line keeps dot segments as the client wrote them.
			req, _ := http.NewRequest(http.MethodGet, e.url, nil)
			req.URL.Opaque = tc.path
			if strings.Contains(tc.path, "?") {
				req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(tc.path, "?")
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error, Sub, Path string }
			_ = decodeJSON(resp, &body)
			if resp.StatusCode != tc.status || body.Error != tc.code {
				t.Fatalf("%s: %d %+v, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == 200 && (body.Sub != "tool" || body.Path != strings.Split(tc.path, "?")[0]) {
				t.Fatalf("upstream answered %+v", body)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}

	// The upstream got the URL it served in the token's audience, and never
	// the key.
	_, failures, headers, auds := e.up.snapshot()
	if len(failures) > 0 {
		t.Fatalf("upstream refused: %v", failures)
	}
	for _, h := range headers {
		for name, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, e.secret[4:20]) || strings.Contains(v, e.narrowed[4:20]) || name == "X-Api-Key" {
					t.Fatalf("the key reached the upstream in %s", name)
				}
			}
		}
	}
	for _, a := range auds {
		if !slices.Contains(a, "Domino") || !slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, e.up.URL+"/api/") }) {
			t.Fatalf("token audience %v", a)
		}
	}

	// Within the revalidation period the exchange is reused...
	before := issued(e.s)
	for range 5 {
		if r := get(t, e.url+"/api/data", apiKey("tool:"+e.secret)); r.status != 200 {
			t.Fatalf("repeat: %d %s", r.status, r.body)
		}
	}
	if issued(e.s) != before {
		t.Fatalf("repeated requests within the revalidation period made %d token requests", issued(e.s)-before)
	}
	// ...and a revoked key is refused once it has passed.
	if code := e.s.Do(t, e.s.AdminToken, http.MethodPost, "/api/v1/service-accounts/tool/keys/"+e.keyID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: HTTP %d", code)
	}
	clk.Advance(5 * time.Second)
	if r := get(t, e.url+"/api/data", apiKey("tool:"+e.secret)); r.status != 401 {
		t.Fatalf("revoked key after the revalidation period: %d %s", r.status, r.body)
	}
}

func TestGatewayRefreshesAcrossExpiry(t *testing.T) {
	t.Parallel()
	// A long revalidation period: only token expiry makes the gateway
	// exchange again.
	e := startGateway(t, 4, time.Now, time.Minute)
	var n int
	for start := time.Now(); time.Since(start) < refreshWindow; n++ {
		h := apiKey("tool:" + e.secret)
		if n%2 == 1 {
			h = basic("tool", e.secret)
		}
		if r := get(t, e.url+"/api/data", h); r.status != 200 {
			t.Fatalf("request %d: %d %s", n, r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tokens, failures, _, _ := e.up.snapshot()
	if len(failures) > 0 || tokens < 3 || issued(e.s) != tokens {
		t.Fatalf("%d requests: %d tokens, server issued %d, failures %v", n, tokens, issued(e.s), failures)
	}
}

// The token endpoint's own trouble (rate limiting, errors) is reported as
// such and never cached: the next request asks again.
func TestGatewayTokenEndpointTrouble(t *testing.T) {
	t.Parallel()
	var calls, status atomic.Int32
	status.Store(http.StatusTooManyRequests)
	tokenEndpoint := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"error":"slow_down"}`))
	}))
	upURL, _ := url.Parse("http://127.0.0.1:1")
	g, err := proxy.NewGateway(proxy.GatewayConfig{Upstream: upURL, TokenURL: tokenEndpoint + "/oauth/token", ClientID: "tool"})
	if err != nil {
		t.Fatal(err)
	}
	gw := serve(t, g)
	for i := range 2 {
		if r := get(t, gw+"/x", apiKey("twk_x")); r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"rate_limited"`) {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	status.Store(http.StatusInternalServerError)
	if r := get(t, gw+"/x", apiKey("twk_x")); r.status != http.StatusBadGateway || !strings.Contains(r.body, `"token_unavailable"`) {
		t.Fatalf("server error: %d %s", r.status, r.body)
	}
	if calls.Load() != 3 {
		t.Fatalf("token endpoint asked %d times, want 3 (failures that are not the key's are not cached)", calls.Load())
	}
}

// getFrom sends a request from a chosen loopback source address.
func getFrom(t *testing.T, src, u string, header http.Header) reply {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(body)}
}

// By default the gateway forwards its caller's address; with the gateway
// listed in tokenwright's trustedProxies, a key's CIDR allow-list then
// applies to the gateway's caller. OmitClientIP turns forwarding off.
func TestGatewayForwardsClientIPForCIDRs(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1/32"} // the gateway's address towards tokenwright
	}})
	up := startUpstream(t, s.URL)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "tool", Email: "tool@example.com",
		AllowedAudiences: []string{"Domino", up.URL + "/api/*"}})
	key := s.CreateKey(t, "tool", api.CreateKey{Name: "from-two", CIDRs: []string{"127.0.0.2/32"}}).ClientSecret
	upURL, _ := url.Parse(up.URL)
	gateway := func(forward bool) string {
		g, err := proxy.NewGateway(proxy.GatewayConfig{Upstream: upURL, TokenURL: client.TokenURL(s.URL),
			Audiences: []string{"Domino"}, OmitClientIP: !forward})
		if err != nil {
			t.Fatal(err)
		}
		return serve(t, g)
	}
	fwd, plain := gateway(true), gateway(false)
	h := apiKey("tool:" + key)
	// A caller's own X-Forwarded-For must not count.
	spoof := http.Header{"X-Api-Key": {"tool:" + key}, "X-Forwarded-For": {"127.0.0.2"}}
	for _, tc := range []struct {
		name, gw, src string
		header        http.Header
		want          int
	}{
		{"allowed caller", fwd, "127.0.0.2", h, 200},
		{"other caller", fwd, "127.0.0.3", h, 401},
		{"other caller claiming the allowed address", fwd, "127.0.0.3", spoof, 401},
		{"without forwarding tokenwright sees the gateway", plain, "127.0.0.2", h, 401},
	} {
		if r := getFrom(t, tc.src, tc.gw+"/api/data", tc.header); r.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.want)
		}
	}
}
