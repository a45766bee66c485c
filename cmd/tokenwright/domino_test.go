package main_test

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/domino")

const (
	pkiDir = "../../testdata/tls"
	site   = "https://domino.example.com"
)

// startHTTPS starts an in-process server with the test certificate.
func startHTTPS(t *testing.T, edit func(*config.Config)) *servertest.Server {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return servertest.Start(t, servertest.Options{HTTPClient: hc, Configure: func(c *config.Config) {
		c.TLS = tlsconfig.Source{Cert: filepath.Join(pkiDir, "server.pem"), Key: filepath.Join(pkiDir, "server.key")}
		c.Issuer = "https://" + c.Listen
		if edit != nil {
			edit(c)
		}
	}})
}

// runStatus runs the CLI and returns stdout, stderr and the exit status.
func runStatus(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestDominoConfigGolden(t *testing.T) {
	s := startHTTPS(t, func(c *config.Config) { c.Domino.RestAPI = true })
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		AllowedScopes: []string{"$DATA", "MAIL"}, AllowedAudiences: []string{site}})
	// The CLI trusts the system roots; SSL_CERT_FILE points Go at the test CA.
	env := []string{"TOKENWRIGHT_SERVER=" + s.URL, "TOKENWRIGHT_TOKEN=" + s.AdminToken, "SSL_CERT_FILE=" + filepath.Join(pkiDir, "ca.pem")}
	out, stderr, code := runStatus(t, env, "domino", "config", "--site", site, "--account", "ci-bot")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The port is random; the golden file has a fixed issuer.
	got := strings.ReplaceAll(out, s.URL, "https://idp.example.com")
	path := filepath.Join("../../testdata/domino", "cli-config-account.txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("domino config output differs from %s (go test ./cmd/tokenwright -run DominoConfig -update):\n%s", path, got)
	}

	// JSON output is the API contract, and errors name the parameter.
	js, _, code := runStatus(t, env, "domino", "config", "--site", site, "-o", "json")
	if code != 0 || !strings.Contains(js, `"sections"`) || !strings.Contains(js, `"id": "keepconfig"`) {
		t.Fatalf("json: %d %s", code, js)
	}
	_, stderr, code = runStatus(t, env, "domino", "config", "--site", "http://domino.example.com")
	if code == 0 || !strings.Contains(stderr, "site:") {
		t.Fatalf("http site: %d %s", code, stderr)
	}
}

func TestDominoCheck(t *testing.T) {
	cliBinary(t) // here, not first in a subtest: the subtests run the binary through check, with this t
	good := startHTTPS(t, func(c *config.Config) { c.Domino.Sites = []string{site}; c.Domino.RestAPI = true })
	good.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		AllowedScopes: []string{"$DATA"}})
	good.CreateAccount(t, api.CreateServiceAccount{UserName: "elsewhere", Email: "elsewhere@example.com",
		AllowedAudiences: []string{"https://api.example.com"}})
	good.CreateAccount(t, api.CreateServiceAccount{UserName: "gen", Email: "gen@example.com", Profile: "generic",
		AllowedAudiences: []string{site}})
	secret := func(s *servertest.Server, account string) string {
		return s.CreateKey(t, account, api.CreateKey{Name: "k"}).ClientSecret
	}
	ca := filepath.Join(pkiDir, "ca.pem")
	check := func(s *servertest.Server, account, sec string, extra ...string) (string, int) {
		t.Helper()
		args := append([]string{"domino", "check", "--server", s.URL, "--site", site, "--client-id", account}, extra...)
		out, stderr, code := runStatus(t, []string{"TOKENWRIGHT_CLIENT_SECRET=" + sec}, args...)
		return out + stderr, code
	}
	wantLine := func(t *testing.T, out, prefix string) {
		t.Helper()
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, prefix) {
				return
			}
		}
		t.Fatalf("no line starting %q in:\n%s", prefix, out)
	}

	t.Run("good", func(t *testing.T) {
		out, code := check(good, "ci-bot", secret(good, "ci-bot"), "--cacert", ca)
		if code != 0 || strings.Contains(out, "FAIL") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, rule := range []string{"discovery over https", "issuer equals the idpcat Base URL", "JWKS over https",
			"JWKS Cache-Control max-age", "token obtained", "alg accepted by Domino", "kid present in JWKS",
			"iss equals the discovery issuer", "aud contains the site", "scope has Domino.user.all", "iat and exp sane",
			"email present", "azp equals the client ID", "CN is a Notes name (REST API)"} {
			wantLine(t, out, "PASS  "+rule+":")
		}
	})
	t.Run("secret file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(file, []byte(secret(good, "ci-bot")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, code := runStatus(t, nil, "domino", "check", "--server", good.URL, "--site", site, "--client-id", "ci-bot",
			"--secret-file", file, "--cacert", ca)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("account without the site audience", func(t *testing.T) {
		out, code := check(good, "elsewhere", secret(good, "elsewhere"), "--cacert", ca)
		if code != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantLine(t, out, "FAIL  aud contains the site:")
		if !strings.Contains(out, "fix: add the site to domino.sites") {
			t.Fatalf("no fix:\n%s", out)
		}
	})
	t.Run("generic profile", func(t *testing.T) {
		out, code := check(good, "gen", secret(good, "gen"), "--cacert", ca)
		if code != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantLine(t, out, "FAIL  scope has Domino.user.all:")
		wantLine(t, out, "WARN  typ:")
	})
	t.Run("untrusted chain", func(t *testing.T) {
		out, code := check(good, "ci-bot", secret(good, "ci-bot")) // system roots only
		if code != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantLine(t, out, "FAIL  TLS certificate:")
		if !strings.Contains(out, "cacert.pem") {
			t.Fatalf("no fix:\n%s", out)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		out, code := check(good, "ci-bot", "twk_wrong", "--cacert", ca)
		if code != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantLine(t, out, "FAIL  token obtained:")
	})
	t.Run("plain http", func(t *testing.T) {
		plain := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Domino.Sites = []string{site} }})
		plain.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme"})
		out, code := check(plain, "ci-bot", secret(plain, "ci-bot"))
		if code != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantLine(t, out, "FAIL  discovery over https:")
		wantLine(t, out, "FAIL  JWKS over https:")
		// The token itself is fine: the transport is what Domino refuses.
		wantLine(t, out, "PASS  aud contains the site:")
	})
	t.Run("missing arguments", func(t *testing.T) {
		_, stderr, code := runStatus(t, nil, "domino", "check", "--site", site)
		if code == 0 || !strings.Contains(stderr, "--client-id") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}

// TestServeTLSReloadOnSIGHUP runs `tokenwright serve` with TLS and a health
// listener from the environment, swaps the certificate and sends SIGHUP.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyTo := func(from, to string) {
		data, err := os.ReadFile(filepath.Join(pkiDir, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(to+".tmp", to); err != nil {
			t.Fatal(err)
		}
	}
	copyTo("server.pem", certFile)
	copyTo("server.key", keyFile)
	addr, health := freeAddr(t), freeAddr(t)
	cmd := exec.Command(cliBinary(t), "serve", "--data", filepath.Join(dir, "data"), "--listen", addr, "--issuer", "https://"+addr)
	cmd.Env = append(cleanEnv(), "TOKENWRIGHT_TLS_CERT="+certFile, "TOKENWRIGHT_TLS_KEY="+keyFile,
		"TOKENWRIGHT_HEALTH_LISTEN="+health, "TOKENWRIGHT_LOG_FORMAT=json")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// The health listener speaks plain HTTP and serves only the probes.
	eventually.Nil(t, 20*time.Second, "health listener ready", func() error { return answers200("http://"+health+"/readyz", stderr) })
	resp, err := http.Get("http://" + health + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("health listener serves /keys: HTTP %d", resp.StatusCode)
	}

	pem, _ := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	peer := func() string {
		t.Helper()
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true, ForceAttemptHTTP2: true}}
		resp, err := hc.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("serve negotiated %s", resp.Proto)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if cn := peer(); cn != "server.localhost" {
		t.Fatalf("certificate %q", cn)
	}
	copyTo("server2.key", keyFile)
	copyTo("server2.pem", certFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 30*time.Second, "certificate replaced", func() bool { return peer() == "server2.localhost" })
	eventually.True(t, 15*time.Second, "SIGHUP handled", func() bool {
		return strings.Contains(stderr.String(), "SIGHUP: reloading the TLS certificate")
	})
	// SIGHUP must not stop the server.
	if cn := peer(); cn != "server2.localhost" {
		t.Fatalf("after SIGHUP: %q", cn)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v\n%s", err, stderr)
	}
}
