package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/cors"
	"github.com/tokenwright/tokenwright/server/servertest"
)

func corsRequest(t *testing.T, method, target, origin string, preflight bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	if preflight {
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.CORS = cors.Config{Origins: cors.Origins{"localhost": true, ".example.com": true, ".evil.example.com": false}}
	}})
	cases := []struct {
		origin string
		allow  bool
	}{
		{"http://localhost:3000", true},
		{"https://app.localhost", true},
		{"https://console.example.com", true},
		{"https://x.evil.example.com", false}, // the longer ending wins
		{"https://example.com", false},        // ".example.com" means subdomains
		{"https://evillocalhost", false},
		{"https://example.com.attacker.net", false},
		{"null", false},
	}
	for _, tc := range cases {
		resp := corsRequest(t, http.MethodGet, s.URL+"/keys", tc.origin, false)
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if tc.allow && got != tc.origin || !tc.allow && got != "" {
			t.Errorf("GET from %s: Allow-Origin %q", tc.origin, got)
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: credentials allowed", tc.origin)
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("%s: no Vary: Origin", tc.origin)
		}
		pre := corsRequest(t, http.MethodOptions, s.URL+"/api/v1/service-accounts", tc.origin, true)
		if tc.allow {
			if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != tc.origin ||
				!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight from %s: %d %v", tc.origin, pre.StatusCode, pre.Header)
			}
		} else if pre.StatusCode != http.StatusForbidden || pre.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v", tc.origin, pre.StatusCode, pre.Header)
		}
	}
	// The token endpoint is not covered unless cors.tokenEndpoint is set.
	pre := corsRequest(t, http.MethodOptions, s.URL+"/oauth/token", "https://console.example.com", true)
	if pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("token endpoint preflight allowed: %v", pre.Header)
	}

	s2 := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.CORS = cors.Config{TokenEndpoint: true, Origins: cors.Origins{".example.com": true}}
	}})
	pre = corsRequest(t, http.MethodOptions, s2.URL+"/oauth/token", "https://console.example.com", true)
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://console.example.com" {
		t.Fatalf("token endpoint preflight with tokenEndpoint: %d %v", pre.StatusCode, pre.Header)
	}

	// Off by default: no CORS headers at all.
	s3 := servertest.Start(t, servertest.Options{})
	if resp := corsRequest(t, http.MethodGet, s3.URL+"/keys", "http://localhost", false); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS answered without configuration")
	}
}

func TestCORSConfigFile(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "cors:\n  localhost: true\n  .example.com: true\n  .evil.example.com: false\n  tokenEndpoint: true\n")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.CORS.TokenEndpoint || len(cfg.CORS.Origins) != 3 || cfg.CORS.Origins[".evil.example.com"] {
		t.Fatalf("cors %+v", cfg.CORS)
	}
	if _, err := config.Load(writeConfig(t, "cors:\n  localhost: yes please\n"), nil); err == nil || !strings.Contains(err.Error(), "cors.localhost") {
		t.Fatalf("bad value: %v", err)
	}
	cfg, err = config.Load(writeConfig(t, "cors:\n  'bad host!': true\n"), nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "cors.bad host!") {
		t.Fatalf("bad ending: %v", err)
	}
	cfg, err = config.Load("", []string{"TOKENWRIGHT_CORS_ORIGINS=localhost=true,.evil.example.com=false",
		"TOKENWRIGHT_CORS_TOKEN_ENDPOINT=true", "TOKENWRIGHT_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1",
		"TOKENWRIGHT_DOMINO_SITES=https://domino.example.com", "TOKENWRIGHT_DOMINO_REST_API=true",
		"TOKENWRIGHT_TLS_PKCS12=/etc/tw.p12", "TOKENWRIGHT_TLS_PASSWORD_FILE=/etc/tw.pw", "TOKENWRIGHT_HEALTH_LISTEN=127.0.0.1:9090"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.CORS.Origins["localhost"] || !cfg.CORS.TokenEndpoint || len(cfg.TrustedProxies) != 2 || !cfg.Domino.RestAPI ||
		cfg.Domino.Sites[0] != "https://domino.example.com" || cfg.TLS.PKCS12 != "/etc/tw.p12" || cfg.TLS.PasswordFile != "/etc/tw.pw" ||
		cfg.HealthListen != "127.0.0.1:9090" {
		t.Fatalf("environment not applied: %+v", cfg)
	}
}

// TestTrustedProxies: X-Forwarded-For decides the client address (here:
// for an account's CIDR allow-list) only when the peer is a trusted proxy.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	run := func(trusted []string, xff string) error {
		s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.TrustedProxies = trusted }})
		s.CreateAccount(t, api.CreateServiceAccount{UserName: "netbot", Email: "netbot@example.com",
			AllowedCIDRs: []string{"203.0.113.0/24"}})
		key := s.CreateKey(t, "netbot", api.CreateKey{Name: "k"})
		cc := &clientcredentials.Config{ClientID: "netbot", ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader}
		hc := &http.Client{Transport: headerTransport{"X-Forwarded-For": xff}}
		_, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
		return err
	}
	// Untrusted peer: the header is ignored, 127.0.0.1 is outside the list.
	if err := run(nil, "203.0.113.7"); err == nil {
		t.Fatal("X-Forwarded-For believed without trustedProxies")
	}
	// Trusted loopback proxy: the client is 203.0.113.7.
	if err := run([]string{"127.0.0.0/8"}, "203.0.113.7"); err != nil {
		t.Fatalf("trusted proxy: %v", err)
	}
	// A client-supplied left-most entry cannot beat the proxy's own entry.
	if err := run([]string{"127.0.0.0/8"}, "203.0.113.7, 198.51.100.9"); err == nil {
		t.Fatal("spoofed left-most X-Forwarded-For entry believed")
	}
}

type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokenwright.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIssuerIgnoresForwardedHeaders: even behind a trusted proxy, the
// issuer in discovery and in tokens is the configured one.
func TestIssuerIgnoresForwardedHeaders(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	s2 := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.0/8"} }})
	forged := headerTransport{"X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https",
		"Forwarded": "host=evil.example.com;proto=https", "Host": "evil.example.com"}
	hc := &http.Client{Transport: forged}
	for _, srv := range []*servertest.Server{s, s2} {
		resp, err := hc.Get(srv.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var disc map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&disc)
		resp.Body.Close()
		if disc["issuer"] != srv.URL || disc["token_endpoint"] != srv.URL+"/oauth/token" {
			t.Fatalf("discovery follows forwarded headers: %v", disc)
		}
	}
	cc := ccConfig(s, "ci-bot", key.ClientSecret)
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c tokenClaims
	_ = json.Unmarshal(raw, &c)
	if c.Iss != s.URL {
		t.Fatalf("iss %q", c.Iss)
	}
}
