package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

const pkiDir = "../testdata/tls"

// caPool trusts only the test CA.
func caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in ca.pem")
	}
	return pool
}

// tlsClient trusts only the test CA and offers HTTP/2.
func tlsClient(t *testing.T, keepAlive bool) *http.Client {
	t.Helper()
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: caPool(t), MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: !keepAlive,
	}}
}

func startTLS(t *testing.T, src tlsconfig.Source) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.TLS = src
		c.Issuer = "https://" + c.Listen
	}})
}

func pki(name string) string { return filepath.Join(pkiDir, name) }

// TestTLSFullFlow runs discovery, the admin API, the token endpoint and
// JWKS-based verification over HTTPS for each certificate format, with a
// client that trusts only the test CA, and requires HTTP/2.
func TestTLSFullFlow(t *testing.T) {
	t.Parallel()
	sources := map[string]tlsconfig.Source{
		"pem":    {Cert: pki("server.pem"), Key: pki("server.key")},
		"pkcs12": {PKCS12: pki("server.p12"), Password: "tokenwright-test"},
		"jks":    {JKS: pki("server.jks"), PasswordFile: pki("password.txt"), Alias: "tokenwright"},
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			s := startTLS(t, src)
			if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
				t.Fatalf("issuer %s", s.URL)
			}
			hc := tlsClient(t, true)
			ctx := oidc.ClientContext(context.Background(), hc)

			resp, err := hc.Get(s.URL + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			var disc map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&disc)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("negotiated %s, want HTTP/2", resp.Proto)
			}
			if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
				t.Fatalf("TLS state %+v", resp.TLS)
			}
			if disc["issuer"] != s.URL || disc["jwks_uri"] != s.URL+"/keys" {
				t.Fatalf("discovery %v", disc)
			}

			admin, err := client.New(s.URL, s.AdminToken, hc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admin.CreateServiceAccount(ctx, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com",
				NotesName: "CN=svc/O=Acme", AllowedAudiences: []string{"https://domino.example.com"}}); err != nil {
				t.Fatal(err)
			}
			key, err := admin.CreateKey(ctx, "svc", api.CreateKey{Name: "k"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := client.TokenSource(ctx, client.TokenConfig{Issuer: s.URL, ClientID: "svc",
				ClientSecret: key.ClientSecret, HTTPClient: hc}).Token()
			if err != nil {
				t.Fatal(err)
			}
			// go-oidc fetches discovery and JWKS over the same HTTPS client.
			provider, err := oidc.NewProvider(ctx, s.URL)
			if err != nil {
				t.Fatal(err)
			}
			idt, err := provider.VerifierContext(ctx, &oidc.Config{ClientID: "https://domino.example.com",
				SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if idt.Issuer != s.URL {
				t.Fatalf("iss %q", idt.Issuer)
			}
		})
	}
}

// TestTLSRefusals: untrusted chains, old protocol versions and plain HTTP
// do not get through.
func TestTLSRefusals(t *testing.T) {
	t.Parallel()
	s := startTLS(t, tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key")})

	// The system roots do not include the test CA.
	sys := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := sys.Get(s.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted chain accepted: %v", err)
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: caPool(t), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(s.URL + "/healthz"); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	// TLS 1.2 with HTTP/1.1 only still works.
	h1 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: caPool(t), MaxVersion: tls.VersionTLS12}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	resp, err := h1.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS.Version != tls.VersionTLS12 {
		t.Fatalf("got %s over TLS %x", resp.Proto, resp.TLS.Version)
	}
	// Plain HTTP on the TLS port gets no service.
	plain, err := http.Get("http://" + s.Addr + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write to a temporary name and rename, as certificate tools do, so
	// the poller never sees a half-written file.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

func leafCN(resp *http.Response) string { return resp.TLS.PeerCertificates[0].Subject.CommonName }

// TestTLSReload swaps the certificate files under a running server: new
// connections see the new certificate, an established connection keeps
// working, and a broken replacement keeps the last good certificate.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, pki("server.pem"), certFile)
	copyFile(t, pki("server.key"), keyFile)
	s := startTLS(t, tlsconfig.Source{Cert: certFile, Key: keyFile})

	get := func(c *http.Client) *http.Response {
		t.Helper()
		resp, err := c.Get(s.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	old := tlsClient(t, true)
	if cn := leafCN(get(old)); cn != "server.localhost" {
		t.Fatalf("first certificate %q", cn)
	}

	copyFile(t, pki("server2.key"), keyFile)
	copyFile(t, pki("server2.pem"), certFile)
	eventually.True(t, 15*time.Second, "the new certificate picked up", func() bool {
		return leafCN(get(tlsClient(t, false))) == "server2.localhost"
	})
	// The HTTP/2 connection made before the swap is still open and still
	// carries the old certificate.
	if resp := get(old); leafCN(resp) != "server.localhost" || resp.ProtoMajor != 2 {
		t.Fatalf("old connection: %s %s", leafCN(resp), resp.Proto)
	}

	// A broken replacement: reload fails, the last good certificate stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Server.ReloadTLS(); err == nil {
		t.Fatal("reloading a broken certificate succeeded")
	}
	if cn := leafCN(get(tlsClient(t, false))); cn != "server2.localhost" {
		t.Fatalf("after a failed reload the server presents %q", cn)
	}
	if !strings.Contains(s.Logs(), "TLS certificate reload failed") {
		t.Fatal("the failed reload was not logged")
	}
}

// TestTLSConfigErrors: misconfigurations are startup errors naming the key.
func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"http issuer", func(c *config.Config) {
			// Set: an unset issuer with tls is derived as https://LISTEN.
			c.Issuer = "http://127.0.0.1:8080"
			c.TLS = tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key")}
		}, "issuer: must be an https URL"},
		{"cert without key", func(c *config.Config) { c.TLS = tlsconfig.Source{Cert: pki("server.pem")} }, "tls.cert and tls.key"},
		{"two sources", func(c *config.Config) {
			c.TLS = tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key"), PKCS12: pki("server.p12")}
		}, "tls: set only one"},
		{"alias without jks", func(c *config.Config) { c.TLS = tlsconfig.Source{PKCS12: pki("server.p12"), Alias: "x"} }, "tls.alias"},
		{"bad proxy", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, "trustedProxies"},
		{"bad health", func(c *config.Config) { c.HealthListen = "nope" }, "healthListen"},
		{"bad site", func(c *config.Config) { c.Domino.Sites = []string{"https://domino.example.com/"} }, "domino.sites"},
		{"http site", func(c *config.Config) { c.Domino.Sites = []string{"http://domino.example.com"} }, "domino.sites"},
	}
	for _, tc := range cases {
		cfg := config.Default()
		tc.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}

	// Wrong passwords fail at startup, naming the setting.
	for _, src := range []tlsconfig.Source{
		{PKCS12: pki("server.p12"), Password: "wrong"},
		{JKS: pki("server.jks"), Password: "wrong"},
	} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Issuer = "https://127.0.0.1:8443"
		cfg.TLS = src
		_, err := server.New(context.Background(), cfg, server.Options{Environ: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), "wrong password") {
			t.Errorf("%+v: got %v", src, err)
		}
	}
}

// TestHealthListener: the plain-HTTP listener serves the probes only.
func TestHealthListener(t *testing.T) {
	t.Parallel()
	s := startTLS(t, tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Server.ServeHealth(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/keys": 404,
		"/api/v1/service-accounts": 404, "/oauth/token": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
}
