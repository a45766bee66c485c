package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
)

// logLines returns the JSON log lines whose message contains msg.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(fmt.Sprint(m["message"]), msg) {
			out = append(out, m)
		}
	}
	return out
}

// TestServeRefusesExpiredCertificate (issue 15, finding 8): a certificate
// outside its validity period stops the start, naming the file and the
// date, unless tls.allowExpired says to serve it anyway.
func TestServeRefusesExpiredCertificate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	expired := tlstest.Issue(t, now.AddDate(-1, 0, 0), now.Add(-48*time.Hour))
	future := tlstest.Issue(t, now.Add(72*time.Hour), now.AddDate(1, 0, 0))
	for name, c := range map[string]struct {
		pki  tlstest.PKI
		want string
	}{
		"expired":       {expired, "expired on " + expired.Leaf.NotAfter.UTC().Format("2006-01-02")},
		"not yet valid": {future, "not valid before " + future.Leaf.NotBefore.UTC().Format("2006-01-02")},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Listen = "127.0.0.1:0"
			cfg.Issuer = "https://127.0.0.1:8443"
			cfg.TLS = tlsconfig.Source{Cert: c.pki.CertFile, Key: c.pki.KeyFile}
			srv, err := server.New(context.Background(), cfg, server.Options{Logger: zerolog.Nop(), Environ: func(string) string { return "" }})
			if err == nil {
				srv.Close()
				t.Fatal("server started with a certificate outside its validity period")
			}
			for _, want := range []string{c.pki.CertFile, c.want, "tls.allowExpired"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			}
			// The refusal comes before anything is written.
			if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
				t.Fatalf("data directory written: %v", entries)
			}
		})
	}

	t.Run("allowExpired", func(t *testing.T) {
		s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
			c.TLS = tlsconfig.Source{Cert: expired.CertFile, Key: expired.KeyFile, AllowExpired: true}
			c.Issuer = "https://" + c.Listen
		}})
		warns := logLines(t, s.Logs(), "TLS certificate expired")
		if len(warns) != 1 || warns[0]["level"] != "warn" || warns[0]["not_after"] == nil {
			t.Fatalf("no warning about the expired certificate:\n%s", s.Logs())
		}
		// It is served: a client that ignores expiry (as a test only may) gets it.
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // only to see which certificate is served
		}}}
		resp, err := hc.Get(s.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !resp.TLS.PeerCertificates[0].Equal(expired.Leaf) {
			t.Fatal("another certificate is served")
		}
	})
}

// TestTLSCertificateExpiryWarningAndMetric (finding 8): fewer than 14 days
// left is a warn-level log line at start and on reload; the expiry is a
// gauge on /metrics.
func TestTLSCertificateExpiryWarningAndMetric(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := tlstest.NewCA(t)
	soon := ca.Issue(t, now.Add(-time.Hour), now.Add(10*24*time.Hour))
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.TLS = tlsconfig.Source{Cert: soon.CertFile, Key: soon.KeyFile}
		c.Issuer = "https://" + c.Listen
	}})
	warns := logLines(t, s.Logs(), "TLS certificate expires in")
	if len(warns) != 1 || warns[0]["level"] != "warn" {
		t.Fatalf("no warning for a certificate with 10 days left:\n%s", s.Logs())
	}
	if got, want := warns[0]["not_after"], soon.Leaf.NotAfter.UTC().Format(time.RFC3339); got != want {
		t.Fatalf("not_after %v, want %v", got, want)
	}

	scrape := func() string {
		t.Helper()
		resp, err := tlstest.Client(t, soon.CAFile).Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	metric := func(leaf *x509.Certificate) string {
		return fmt.Sprintf("tokenwright_tls_certificate_expiry_timestamp_seconds %s",
			strings.TrimSuffix(fmt.Sprintf("%g", float64(leaf.NotAfter.Unix())), ".0"))
	}
	if out := scrape(); !strings.Contains(out, metric(soon.Leaf)) {
		t.Fatalf("no %q in /metrics:\n%s", metric(soon.Leaf), out)
	}

	// Reload: the replacement's expiry is announced and exported; an
	// expired replacement is refused and the current certificate stays.
	later := ca.Issue(t, now.Add(-time.Hour), now.Add(5*24*time.Hour))
	replace(t, later, soon)
	if err := s.Server.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	// (The file watcher may have reloaded it too: at least one more warning.)
	if warns := logLines(t, s.Logs(), "TLS certificate expires in"); len(warns) < 2 {
		t.Fatalf("reload did not warn:\n%s", s.Logs())
	}
	if out := scrape(); !strings.Contains(out, metric(later.Leaf)) {
		t.Fatalf("metric not updated on reload:\n%s", out)
	}
	gone := ca.Issue(t, now.AddDate(-1, 0, 0), now.Add(-time.Hour))
	replace(t, gone, soon)
	err := s.Server.ReloadTLS()
	if err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Fatalf("expired replacement: %v", err)
	}
	if out := scrape(); !strings.Contains(out, metric(later.Leaf)) {
		t.Fatalf("the expired replacement replaced the certificate:\n%s", out)
	}
}

// replace copies from's certificate and key over into's files.
func replace(t *testing.T, from, into tlstest.PKI) {
	t.Helper()
	for src, dst := range map[string]string{from.CertFile: into.CertFile, from.KeyFile: into.KeyFile} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tls.allowExpired is a known key in the file and in the environment, and
// means nothing without a certificate.
func TestTLSAllowExpiredSetting(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(writeConfig(t, "tls:\n  cert: c.pem\n  key: k.pem\n  allowExpired: true\n"), nil)
	if err != nil || !cfg.TLS.AllowExpired {
		t.Fatalf("from the file: %v %+v", err, cfg.TLS)
	}
	cfg, err = config.Load("", []string{"TOKENWRIGHT_TLS_ALLOW_EXPIRED=true"})
	if err != nil || !cfg.TLS.AllowExpired {
		t.Fatalf("from the environment: %v %+v", err, cfg.TLS)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tls.allowExpired needs a certificate") {
		t.Fatalf("allowExpired without a certificate: %v", err)
	}
	if _, err := config.Load(writeConfig(t, "tls:\n  allowexpired: true\n"), nil); err == nil {
		t.Fatal("a misspelt key was accepted")
	}
}
