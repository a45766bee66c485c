// Package examples_test runs the examples in this directory against a real
// tokenwright server and a Domino stand-in that verifies the bearer token
// with go-oidc, so that the published examples keep working.
package examples_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// need skips when a program is missing, except under
// TOKENWRIGHT_TEST_STRICT=1 (CI), where that is a failure. Every example
// test starts here, so this is also where -short (the fast test layer)
// skips them: they run external programs against a real server.
func need(t *testing.T, program, why string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the examples' programs; skipped with -short")
	}
	path, err := exec.LookPath(program)
	if err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatalf("%s is required (%s) but not installed", program, why)
		}
		t.Skipf("%s not installed (%s)", program, why)
	}
	return path
}

// domino is a stand-in for the Domino REST API: /api/v1/scopes answers 200
// only with a bearer token that verifies against tokenwright's JWKS and
// has the audience "Domino".
func domino(t *testing.T, issuer string) string {
	return servertest.Upstream(t, issuer, "Domino", func(w http.ResponseWriter, r *http.Request, tok *oidc.IDToken, err error) {
		if err != nil || r.URL.Path != "/api/v1/scopes" {
			http.Error(w, `{"status":401}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"verifiedSubject": tok.Subject})
	})
}

func setup(t *testing.T) (env []string, secret string) {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	d := domino(t, s.URL)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"Domino"}})
	secret = s.CreateKey(t, "ci-bot", api.CreateKey{Name: "pipeline"}).ClientSecret
	return []string{"TOKENWRIGHT_SERVER=" + s.URL, "TOKENWRIGHT_CLIENT_ID=ci-bot",
		"TOKENWRIGHT_CLIENT_SECRET=" + secret, "DOMINO_URL=" + d}, secret
}

func runExample(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", name, args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestNodeExample(t *testing.T) {
	node := need(t, "node", "the Node example")
	if _, err := os.Stat(filepath.Join("node", "node_modules", "openid-client")); err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatal("examples/node/node_modules is missing: run npm ci in examples/node (.ci/run does)")
		}
		t.Skip("examples/node: run npm ci first")
	}
	env, secret := setup(t)
	out := runExample(t, "node", env, node, "index.mjs")
	var got struct {
		Sub, Body string
		Aud       any
		Status    int
		ExpiresIn int
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("node example printed %q: %v", out, err)
	}
	if got.Sub != "ci-bot" || got.Status != 200 || !strings.Contains(got.Body, `"verifiedSubject":"ci-bot"`) || got.ExpiresIn <= 0 {
		t.Fatalf("node example: %+v", got)
	}
	if strings.Contains(out, secret) {
		t.Fatal("the node example printed the secret")
	}
}

func TestCurlExample(t *testing.T) {
	need(t, "curl", "the curl example")
	sh := need(t, "sh", "the curl example")
	env, _ := setup(t)
	out := runExample(t, "curl", env, sh, "call-domino.sh", "/api/v1/scopes")
	if !strings.Contains(out, `"verifiedSubject":"ci-bot"`) {
		t.Fatalf("curl example printed %q", out)
	}
}
