package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// scrape GETs url with an optional bearer token.
func scrape(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func ccToken(t *testing.T, s *servertest.Server, id, secret string) error {
	t.Helper()
	_, err := (&clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInHeader}).Token(context.Background())
	return err
}

// TestPublicMetricsHideWhyAuthenticationFailed (issue 13, finding 6): the
// unauthenticated /metrics must not tell an unknown client from a wrong
// secret or a CIDR-blocked valid secret, nor name any client; the reasons
// are in the log, as typed codes.
func TestPublicMetricsHideWhyAuthenticationFailed(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "payroll", Email: "payroll@example.com", AllowedCIDRs: []string{"10.0.0.0/8"}})
	blocked := s.CreateKey(t, "payroll", api.CreateKey{Name: "k"}).ClientSecret
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "etl", Email: "etl@example.com"})
	key := s.CreateKey(t, "etl", api.CreateKey{Name: "k"})
	good := key.ClientSecret
	wrong, err := apikey.Generate(apikey.ServiceKey, key.ID) // the right key id, a wrong secret
	if err != nil {
		t.Fatal(err)
	}
	if err := ccToken(t, s, "etl", good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, secret string }{
		{"payroll", blocked},                   // valid secret, source outside the CIDRs
		{"etl", wrong.String()},                // wrong secret
		{"ghost", good},                        // the key is not ghost's
		{"etl", "twk_AAAAAAAAAAAAAAAA_" + "x"}, // malformed
	} {
		if err := ccToken(t, s, c.id, c.secret); err == nil {
			t.Fatalf("%s: token issued", c.id)
		}
	}
	code, out := scrape(t, s.URL+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, leak := range []string{"payroll", "etl", "ghost", "client=", "reason=", "source_address", "unknown_client",
		"client_id_does_not_own", "wrong_secret", "malformed"} {
		if strings.Contains(out, leak) {
			t.Errorf("public /metrics reveals %q", leak)
		}
	}
	for _, want := range []string{`tokenwright_tokens_failed_total{result="invalid_client"} 4`, "tokenwright_tokens_issued_total 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("public /metrics lacks %s", want)
		}
	}
	for _, reason := range []string{"source_address_not_allowed", "wrong_secret", "client_id_does_not_own_the_key", "malformed_credential"} {
		if !strings.Contains(s.Logs(), `"reason":"`+reason+`"`) {
			t.Errorf("the log lacks reason %s:\n%s\n%s", reason, s.Logs(), out)
		}
	}
}

// TestMetricsListenAndBearerToken: with metricsListen the public listener
// answers 404 at /metrics and the metrics listener serves them behind the
// bearer token; protected metrics count tokens per client.
func TestMetricsListenAndBearerToken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const token = "metrics-scraper-token"
	s := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) { c.MetricsListen = ln.Addr().String() },
		Environ: func(name string) string {
			if name == "TOKENWRIGHT_METRICS_BEARER_TOKEN" {
				return token
			}
			return ""
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Server.ServeMetrics(ctx, ln) }()
	defer func() { cancel(); <-done }()

	s.CreateAccount(t, api.CreateServiceAccount{UserName: "etl", Email: "etl@example.com"})
	if err := ccToken(t, s, "etl", s.CreateKey(t, "etl", api.CreateKey{Name: "k"}).ClientSecret); err != nil {
		t.Fatal(err)
	}
	if code, _ := scrape(t, s.URL+"/metrics", token); code != http.StatusNotFound {
		t.Errorf("public /metrics with metricsListen set: HTTP %d, want 404", code)
	}
	private := "http://" + ln.Addr().String()
	for _, bearer := range []string{"", "wrong", token + "x", token[:len(token)-1]} {
		if code, _ := scrape(t, private+"/metrics", bearer); code != http.StatusUnauthorized {
			t.Errorf("bearer %q: HTTP %d, want 401", bearer, code)
		}
	}
	code, out := scrape(t, private+"/metrics", token)
	if code != 200 || !strings.Contains(out, `tokenwright_tokens_issued_by_client_total{client="etl"} 1`) {
		t.Errorf("private metrics: HTTP %d, per-client count missing:\n%s", code, out)
	}
	if code, _ := scrape(t, private+"/keys", token); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves /keys: HTTP %d", code)
	}
}

// TestMetricsBearerTokenFile: the bearer token alone (from its file)
// protects /metrics on the public listener.
func TestMetricsBearerTokenFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "metrics-token")
	if err := os.WriteFile(file, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.MetricsBearerTokenFile = file }})
	if code, _ := scrape(t, s.URL+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: HTTP %d, want 401", code)
	}
	if code, out := scrape(t, s.URL+"/metrics", "from-a-file"); code != 200 || !strings.Contains(out, "tokenwright_tokens_issued_total") {
		t.Errorf("with the token: HTTP %d", code)
	}
}

// TestMetricsSettings: the settings come from the environment and are
// validated; the token itself is not a config leaf.
func TestMetricsSettings(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", []string{"TOKENWRIGHT_METRICS_LISTEN=127.0.0.1:9091",
		"TOKENWRIGHT_METRICS_BEARER_TOKEN_FILE=/run/secrets/m", "TOKENWRIGHT_METRICS_BEARER_TOKEN=t"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsListen != "127.0.0.1:9091" || cfg.MetricsBearerTokenFile != "/run/secrets/m" {
		t.Fatalf("environment not applied: %q %q", cfg.MetricsListen, cfg.MetricsBearerTokenFile)
	}
	for _, bad := range []string{"nope", cfg.Listen} {
		c := config.Default()
		c.MetricsListen = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "metricsListen") {
			t.Errorf("metricsListen %q: %v", bad, err)
		}
	}
	c := config.Default()
	c.DataDir = t.TempDir()
	c.MetricsBearerTokenFile = filepath.Join(t.TempDir(), "missing")
	if _, err := server.New(context.Background(), c, server.Options{Environ: func(string) string { return "" }}); err == nil ||
		!strings.Contains(err.Error(), "metricsBearerTokenFile") {
		t.Errorf("missing token file: %v", err)
	}
}
