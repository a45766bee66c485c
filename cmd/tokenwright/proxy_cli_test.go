package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// verifyingUpstream answers 200 with the token's subject when go-oidc
// accepts the bearer token (audience "Domino"), 401 otherwise.
func verifyingUpstream(t *testing.T, issuer string) string {
	return servertest.Upstream(t, issuer, "Domino", func(w http.ResponseWriter, r *http.Request, tok *oidc.IDToken, err error) {
		if err != nil || r.Header.Get("X-Api-Key") != "" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": tok.Subject, "path": r.URL.Path})
	})
}

// startProxy runs `tokenwright proxy` and waits until it accepts connections.
func startProxy(t *testing.T, env []string, args ...string) (string, *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(cliBinary(t), append([]string{"proxy", "--listen", addr}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually.Nil(t, 20*time.Second, "proxy listening", func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("%v\n%s", err, stderr)
		}
		return c.Close()
	})
	return "http://" + addr, stderr
}

func fetch(t *testing.T, u string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestProxyAndGatewayCommands(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	up := verifyingUpstream(t, d.url)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "nb", "--email", "nb@example.com", "--audience", "Domino", "--audience", up+"/api/*")
	var key struct{ ClientSecret string }
	if err := json.Unmarshal([]byte(run(t, env, false, "key", "create", "nb", "--name", "k", "-o", "json")), &key); err != nil {
		t.Fatal(err)
	}

	// Refused: a public listen address without --allow-remote.
	if out := run(t, env, true, "proxy", "--listen", "0.0.0.0:0", "--upstream", up); !strings.Contains(out, "--allow-remote") {
		t.Fatalf("non-loopback listen: %s", out)
	}

	// Proxy: the key from a file, curl-like callers send none.
	secretFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(secretFile, []byte(key.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, perr := startProxy(t, append(env, "TOKENWRIGHT_CLIENT_ID=nb"), "--upstream", up, "--audience", "Domino",
		"--client-secret-file", secretFile)
	if code, body := fetch(t, p+"/api/data", nil); code != 200 || !strings.Contains(body, `"sub":"nb"`) {
		t.Fatalf("through the proxy: %d %s", code, body)
	}

	// Wrong credentials stop the proxy at start, with the server's reason.
	if out := run(t, append(env, "TOKENWRIGHT_CLIENT_ID=nb", "TOKENWRIGHT_CLIENT_SECRET=twk_wrong"), true,
		"proxy", "--listen", "127.0.0.1:0", "--upstream", up); !strings.Contains(out, "invalid_client") {
		t.Fatalf("proxy with a wrong key: %s", out)
	}

	// Gateway: the caller brings the key.
	g, gerr := startProxy(t, env, "--upstream", up, "--accept-api-key", "--audience", "Domino", "--client-id", "nb")
	if code, body := fetch(t, g+"/api/data", http.Header{"X-Api-Key": {key.ClientSecret}}); code != 200 || !strings.Contains(body, `"sub":"nb"`) {
		t.Fatalf("through the gateway: %d %s", code, body)
	}
	if code, body := fetch(t, g+"/other", http.Header{"X-Api-Key": {key.ClientSecret}}); code != 403 || !strings.Contains(body, `"error":"forbidden"`) {
		t.Fatalf("gateway outside the URL patterns: %d %s", code, body)
	}
	if code, _ := fetch(t, g+"/api/data", nil); code != 401 {
		t.Fatalf("gateway without a key: %d", code)
	}
	for _, logs := range []string{perr.String(), gerr.String(), d.stderr.String()} {
		if strings.Contains(logs, key.ClientSecret) || strings.Contains(logs, key.ClientSecret[4:30]) {
			t.Fatal("a log contains the key")
		}
	}
}

// fetchFrom is fetch from a chosen loopback source address.
func fetchFrom(t *testing.T, src, u string, header http.Header) (int, http.Header, string) {
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
	return resp.StatusCode, resp.Header, string(body)
}

// The gateway's documented defaults and flags, through the binary: the
// caller's address is forwarded unless --forward-client-ip=false, the
// --caller-* flags bound what a caller's refusals may cost, and a path an
// upstream could normalise differently is refused.
func TestGatewayCommandForwardingLimitsAndPaths(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"), "TOKENWRIGHT_TRUSTED_PROXIES=127.0.0.1")
	up := verifyingUpstream(t, d.url)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "nb", "--email", "nb@example.com", "--audience", "Domino", "--audience", up+"/api/*")
	var key struct{ ClientSecret string }
	if err := json.Unmarshal([]byte(run(t, env, false, "key", "create", "nb", "--name", "k", "--cidr", "127.0.0.2/32", "-o", "json")), &key); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Api-Key": {"nb:" + key.ClientSecret}}

	// Defaults, except a bucket that refills too slowly to matter here:
	// two refusals (2 × 10) empty it.
	g, _ := startProxy(t, env, "--upstream", up, "--accept-api-key", "--audience", "Domino",
		"--caller-rate", "0.01", "--caller-burst", "20")
	if code, _, body := fetchFrom(t, "127.0.0.2", g+"/api/data", h); code != 200 || !strings.Contains(body, `"sub":"nb"`) {
		t.Fatalf("the key's own address, forwarded by default: %d %s", code, body)
	}
	if code, _, body := fetchFrom(t, "127.0.0.2", g+"/api/..;/data", h); code != 400 || !strings.Contains(body, `"error":"invalid_request"`) {
		t.Fatalf("a ';' path parameter: %d %s", code, body)
	}
	for i := range 2 {
		if code, _, body := fetchFrom(t, "127.0.0.3", g+"/api/data", h); code != 401 {
			t.Fatalf("refusal %d from an address outside the key's CIDRs: %d %s", i, code, body)
		}
	}
	code, hdr, body := fetchFrom(t, "127.0.0.3", g+"/api/data", h)
	if code != 429 || hdr.Get("Retry-After") == "" || hdr.Get("Cache-Control") != "no-store" || !strings.Contains(body, `"error":"rate_limited"`) {
		t.Fatalf("third refusal: %d %v %s", code, hdr, body)
	}
	if code, _, body := fetchFrom(t, "127.0.0.2", g+"/api/other", h); code != 200 {
		t.Fatalf("the other caller after the refusals: %d %s", code, body)
	}

	// --forward-client-ip=false: tokenwright sees the gateway, whose
	// address is outside the key's CIDRs.
	off, _ := startProxy(t, env, "--upstream", up, "--accept-api-key", "--audience", "Domino", "--forward-client-ip=false")
	if code, _, body := fetchFrom(t, "127.0.0.2", off+"/api/data", h); code != 401 {
		t.Fatalf("without forwarding: %d %s", code, body)
	}
}
