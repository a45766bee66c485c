package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/bolt"
)

func TestSecretsInQueryStringsAreRefusedEverywhere(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	for _, target := range []string{
		"/oauth/token?client_secret=x",
		"/keys?access_token=x",
		"/.well-known/openid-configuration?api_key=x",
		"/api/v1/service-accounts?ACCESS_TOKEN=" + s.AdminToken,
		"/?a=1;client_secret=x",
		"/healthz?client%5Fsecret=x",
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+target, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body["error"] != "invalid_request" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: HTTP %d %v", target, resp.StatusCode, body)
		}
	}
	// Harmless parameters still work.
	if code := s.Do(t, "", http.MethodGet, "/keys?v=2", nil, nil); code != 200 {
		t.Errorf("/keys?v=2: HTTP %d", code)
	}
}

func TestSecurityHeadersAndNoStore(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	check := func(method, path, token string, body any, wantNoStore bool) {
		t.Helper()
		var rd *strings.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = strings.NewReader(string(data))
		} else {
			rd = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, s.URL+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s %s: security headers missing: %v", method, path, h)
		}
		if wantNoStore && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, h.Get("Cache-Control"))
		}
	}
	check("GET", "/", "", nil, false)
	check("GET", "/api/v1/service-accounts", s.AdminToken, nil, true)
	check("POST", "/api/v1/service-accounts/ci-bot/keys", s.AdminToken, map[string]string{"name": "k"}, true) // carries a secret
	check("POST", "/api/v1/users/admin/tokens", s.AdminToken, map[string]string{"name": "p"}, true)           // carries a secret
	check("GET", "/api/v1/service-accounts", "", nil, true)                                                   // 401
}

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	post := func(path, ctype string, size int, auth string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(`{"userName":"`+strings.Repeat("a", size)+`"}`))
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/api/v1/service-accounts", "application/json", 100<<10, s.AdminToken); code != 413 {
		t.Errorf("admin 100 KiB body: HTTP %d, want 413", code)
	}
	if code := post("/api/v1/service-accounts", "text/plain", 10, s.AdminToken); code != 415 {
		t.Errorf("admin text/plain body: HTTP %d, want 415", code)
	}
	if code := post("/api/v1/service-accounts", "application/json", 2<<20, ""); code != 413 {
		t.Errorf("unauthenticated 2 MiB body: HTTP %d, want 413", code)
	}
	if code := post("/oauth/token", "application/x-www-form-urlencoded", 9<<10, ""); code != 413 {
		t.Errorf("token endpoint 9 KiB body: HTTP %d, want 413", code)
	}
}

func TestLoosePermissionsWarnAtStartup(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	dir := s.DataDir
	for _, f := range []string{dir, filepath.Join(dir, bolt.FileName), filepath.Join(dir, "kek")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s created with mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	if strings.Contains(s.Logs(), "accessible to other users") {
		t.Fatal("warning on a correctly created data directory")
	}
	s.Stop()
	if err := os.Chmod(filepath.Join(dir, bolt.FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "kek"), 0o604); err != nil {
		t.Fatal(err)
	}
	s2 := servertest.Start(t, servertest.Options{DataDir: dir})
	logs := s2.Logs()
	for _, want := range []string{"the database is accessible to other users", "the key-encryption key is accessible to other users"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no startup warning %q in\n%s", want, logs)
		}
	}
}

// TestFailuresDoNotRevealWhetherAnAccountExists: every failed client
// authentication gets the same status, headers and body, whatever failed.
func TestFailuresDoNotRevealWhetherAnAccountExists(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	for _, n := range []string{"alpha", "beta"} {
		s.CreateAccount(t, api.CreateServiceAccount{UserName: n, Email: n + "@example.com"})
	}
	a := s.CreateKey(t, "alpha", api.CreateKey{Name: "k"})
	b := s.CreateKey(t, "beta", api.CreateKey{Name: "k"})
	revoked := s.CreateKey(t, "alpha", api.CreateKey{Name: "r"})
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/alpha/keys/"+revoked.ID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: HTTP %d", code)
	}
	wrong := a.ClientSecret[:30] + "0" + a.ClientSecret[31:]
	if wrong == a.ClientSecret {
		wrong = a.ClientSecret[:30] + "1" + a.ClientSecret[31:]
	}
	cases := map[string][2]string{
		"no such account":            {"nobody", a.ClientSecret},
		"no such key":                {"alpha", "twk_0123456789abcdef_" + strings.Repeat("x", 49)},
		"wrong secret":               {"alpha", wrong},
		"another account's key":      {"alpha", b.ClientSecret},
		"revoked key":                {"alpha", revoked.ClientSecret},
		"homoglyph of the client id": {"\u0430lpha", a.ClientSecret},
	}
	var first string
	for name, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c[0], c[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		got, _ := json.Marshal([]any{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body})
		if first == "" {
			first = string(got)
			if resp.StatusCode != 401 {
				t.Fatalf("%s: HTTP %d", name, resp.StatusCode)
			}
		} else if string(got) != first {
			t.Errorf("%s answered %s, others %s", name, got, first)
		}
	}
}
