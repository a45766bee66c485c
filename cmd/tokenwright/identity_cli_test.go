package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// waitReady polls base/readyz until it answers 200 (or the test fails).
func waitReady(t *testing.T, base string, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ready(base) == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server at %s not ready\n%s", base, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIssuerFollowsListen (issue 16, finding 1): with no issuer configured,
// `serve --listen 127.0.0.1:PORT` advertises http://127.0.0.1:PORT in
// discovery and in the tokens' iss, where it actually listens.
func TestIssuerFollowsListen(t *testing.T) {
	addr := freeAddr(t)
	data := filepath.Join(t.TempDir(), "data")
	stderr := &syncBuffer{}
	cmd := exec.Command(cliBinary(t), "serve", "--data", data, "--listen", addr)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	waitReady(t, base, stderr)

	ctx := context.Background()
	// go-oidc refuses a discovery document whose issuer differs from the
	// URL it was fetched from.
	provider, err := oidc.NewProvider(ctx, base)
	if err != nil {
		t.Fatalf("discovery at %s: %v", base, err)
	}
	env := []string{"TOKENWRIGHT_SERVER=" + base, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(data, "admin.token")}
	run(t, env, false, "sa", "create", "iss-bot", "--email", "iss-bot@example.com", "--audience", "https://domino.example.com")
	out := run(t, env, false, "key", "create", "iss-bot", "--name", "iss", "-o", "json")
	secret := jsonField(t, out, "clientSecret")
	jwt := strings.TrimSpace(run(t, append(env, "TOKENWRIGHT_CLIENT_SECRET="+secret), false, "token", "--client-id", "iss-bot"))
	idt, err := provider.Verifier(&oidc.Config{ClientID: "https://domino.example.com"}).Verify(ctx, jwt)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	if idt.Issuer != base {
		t.Fatalf("iss = %q, want %q", idt.Issuer, base)
	}
}

// TestServeRefusesPublicListenWithoutIssuer (issue 16, finding 1): a
// listen address that is not loopback, with no issuer configured, is
// refused at start with a message naming what to set; so is one with a
// plain-http public issuer (the existing rule). Nothing is bound: the
// refusal comes before any listener.
func TestServeRefusesPublicListenWithoutIssuer(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:18099", ":18099", "192.0.2.10:8080", "[::]:18099"} {
		stdout, stderr, code := runBounded(t, nil, "serve", "--data", filepath.Join(t.TempDir(), "data"), "--listen", listen)
		if code == 0 || !strings.Contains(stderr, "issuer") || !strings.Contains(stderr, "TOKENWRIGHT_ISSUER") || !strings.Contains(stderr, "https://") {
			t.Fatalf("listen %s without issuer: exit %d\nstdout: %s\nstderr: %s", listen, code, stdout, stderr)
		}
	}
	// The environment form, as the container image passes it.
	_, stderr, code := runBounded(t, []string{"TOKENWRIGHT_LISTEN=0.0.0.0:18099", "TOKENWRIGHT_DATA=" + filepath.Join(t.TempDir(), "data")}, "serve")
	if code == 0 || !strings.Contains(stderr, "TOKENWRIGHT_ISSUER") {
		t.Fatalf("TOKENWRIGHT_LISTEN=0.0.0.0 without issuer: exit %d: %s", code, stderr)
	}
}

// runBounded is runCode for a command that should exit at once: a serve
// that starts instead of refusing is stopped after 20 s and fails the test.
func runBounded(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := cliBinary(t) // built (maybe for minutes) before the clock starts
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("tokenwright %v kept running: %s", args, errOut.String())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

type versionJSON struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

func versionOf(t *testing.T, bin string) versionJSON {
	t.Helper()
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	var v versionJSON
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("version -o json printed %q: %v", out, err)
	}
	return v
}

// TestVersionCommand (issue 16, finding 3): `tokenwright version -o json`
// prints version, commit, date and go; a release build stamped with the
// README's -ldflags prints exactly the stamped values, in `version`,
// `version -o json` and `--version`.
func TestVersionCommand(t *testing.T) {
	v := versionOf(t, cliBinary(t))
	if v.Version == "" || v.Commit == "" || v.Date == "" || v.Go != runtime.Version() {
		t.Fatalf("version -o json: %+v (go %s)", v, runtime.Version())
	}
	if text := run(t, nil, false, "version"); !strings.Contains(text, v.Version) || !strings.Contains(text, v.Go) {
		t.Fatalf("version: %s", text)
	}

	// The release stamping documented in the README (Building), built as
	// releases are: -ldflags -X only changes the link.
	stamped := filepath.Join(t.TempDir(), "tokenwright")
	const pkg = "github.com/tokenwright/tokenwright/pkg/buildinfo"
	ldflags := "-X " + pkg + ".version=v1.2.3 -X " + pkg + ".commit=0123456789abcdef0123456789abcdef01234567 -X " + pkg + ".date=2026-01-02T03:04:05Z"
	build := releaseLikeBuild("-ldflags", ldflags, "-o", stamped, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("stamped build: %v\n%s", err, out)
	}
	want := versionJSON{"v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-01-02T03:04:05Z", runtime.Version()}
	if got := versionOf(t, stamped); got != want {
		t.Fatalf("stamped version -o json = %+v, want %+v", got, want)
	}
	out, err := exec.Command(stamped, "--version").Output()
	if err != nil || !strings.Contains(string(out), "v1.2.3") {
		t.Fatalf("--version: %q, %v", out, err)
	}
}

// TestBuildIdentityIsVisible (issue 16, finding 3): the identity that
// `version` prints is the one in the startup log line, in
// tokenwright_build_info on /metrics, and in the User-Agent of the CLI's
// requests.
func TestBuildIdentityIsVisible(t *testing.T) {
	v := versionOf(t, cliBinary(t))
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"), "TOKENWRIGHT_LOG_FORMAT=json")

	var serving map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.stderr.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["message"] == "tokenwright is serving" {
			serving = line
		}
	}
	if serving == nil || serving["version"] != v.Version || serving["commit"] != v.Commit {
		t.Fatalf("startup line %v lacks version %q commit %q\n%s", serving, v.Version, v.Commit, d.stderr)
	}

	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	re := regexp.MustCompile(`(?m)^tokenwright_build_info\{([^}]*)\} 1$`)
	m := re.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no tokenwright_build_info gauge of 1 in /metrics:\n%s", body)
	}
	for _, label := range []string{`version="` + v.Version + `"`, `commit="` + v.Commit + `"`, `go="` + v.Go + `"`} {
		if !strings.Contains(m[1], label) {
			t.Fatalf("tokenwright_build_info{%s} lacks %s", m[1], label)
		}
	}

	// The CLI's requests, seen by a recording proxy in front of the server.
	target, _ := url.Parse(d.url)
	var mu sync.Mutex
	var agents []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer rec.Close()
	env := []string{"TOKENWRIGHT_SERVER=" + rec.URL, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "ua-bot", "--email", "ua-bot@example.com")
	secret := jsonField(t, run(t, env, false, "key", "create", "ua-bot", "--name", "ua", "-o", "json"), "clientSecret")
	run(t, append(env, "TOKENWRIGHT_CLIENT_SECRET="+secret), false, "token", "--client-id", "ua-bot", "--no-cache")
	mu.Lock()
	defer mu.Unlock()
	if len(agents) < 3 {
		t.Fatalf("the proxy saw %d requests", len(agents))
	}
	for _, ua := range agents {
		if ua != "tokenwright/"+v.Version {
			t.Fatalf("User-Agent %q, want tokenwright/%s (all: %q)", ua, v.Version, agents)
		}
	}
}

// TestHealthcheckCommand (issue 16, finding 2): `tokenwright healthcheck`
// exits 0 when the URL answers 200 and 1 otherwise (a closed port, a 503),
// which is what the image's HEALTHCHECK relies on.
func TestHealthcheckCommand(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	if _, stderr, code := runCode(t, nil, "healthcheck", "--url", d.url+"/readyz"); code != 0 {
		t.Fatalf("healthcheck of a ready server: exit %d: %s", code, stderr)
	}
	closed := freeAddr(t)
	if _, stderr, code := runCode(t, nil, "healthcheck", "--url", "http://"+closed+"/readyz"); code != 1 || stderr == "" {
		t.Fatalf("healthcheck of a closed port: exit %d: %q", code, stderr)
	}
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"status":"unavailable"}`, http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	if _, stderr, code := runCode(t, nil, "healthcheck", "--url", unavailable.URL+"/readyz"); code != 1 || !strings.Contains(stderr, "503") {
		t.Fatalf("healthcheck of a 503: exit %d: %q", code, stderr)
	}
	// A server that accepts and never answers: the short timeout decides.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	start := time.Now()
	if _, _, code := runCode(t, nil, "healthcheck", "--url", hang.URL+"/readyz", "--timeout", "300ms"); code != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("healthcheck of a hanging server: exit %d after %s", code, time.Since(start))
	}
}
