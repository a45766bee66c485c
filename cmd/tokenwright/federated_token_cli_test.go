package main_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenwright/tokenwright/server/federation/federationtest"
)

// jwtPayload decodes a JWT's claims (the signature is the server's
// business; go-oidc checks it in the proxy test).
func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(data, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// Secretless scripts through the real binary: `tokenwright token` and
// `tokenwright proxy` exchange a job's own OIDC token (from a file, from
// the GitHub Actions runtime, from GitLab's id_tokens variable) for a
// token of the service account, with no API key anywhere. The foreign
// issuer runs on 127.0.0.1 (plain http is allowed for loopback issuers).
func TestCLIFederatedTokens(t *testing.T) {
	iss := federationtest.New(t, federationtest.Options{PlainHTTP: true})
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	admin := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	up := verifyingUpstream(t, d.url)
	run(t, admin, false, "sa", "create", "ci-bot", "--email", "ci-bot@example.com", "--audience", "Domino", "--audience", up+"/api/*")
	run(t, admin, false, "sa", "federation", "add", "ci-bot", "--name", "deploy-main", "--issuer", iss.URL,
		"--claim", "repository_id="+federationtest.GitHubRepositoryID, "--claim", "repository_owner_id="+federationtest.GitHubOwnerID,
		"--claim", "ref="+federationtest.GitHubRef)
	// The scripts know only the server and the account: no secret.
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_CLIENT_ID=ci-bot", "XDG_CACHE_HOME=" + t.TempDir()}

	// A token file (a Kubernetes projected token, a SPIFFE JWT-SVID…).
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(iss.Mint(t, iss.GitHub(d.url))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := run(t, env, false, "token", "--federated-token-file", file, "--audience", "Domino")
	claims := jwtPayload(t, first)
	act, _ := claims["act"].(map[string]any)
	if claims["sub"] != "ci-bot" || claims["client_id"] != "ci-bot" || act["iss"] != iss.URL || act["sub"] == nil {
		t.Fatalf("exchanged token's claims %v", claims)
	}
	// The same file again: served from the token cache, keyed by the
	// foreign token, so its jti is never presented twice...
	if again := run(t, env, false, "token", "--federated-token-file", file, "--audience", "Domino"); again != first {
		t.Fatal("a second run with the same federated token did not reuse the cached token")
	}
	// ...which the server would refuse: each foreign jti is accepted once.
	if out := run(t, env, true, "token", "--no-cache", "--federated-token-file", file, "--audience", "Domino"); !strings.Contains(out, "invalid_grant") {
		t.Fatalf("a replayed federated token: %s", out)
	}
	// An API key and a federated token together are a usage error.
	if out := run(t, env, true, "token", "--federated-token-file", file, "--client-secret", "x"); !strings.Contains(out, "not both") {
		t.Fatalf("secret and federated token: %s", out)
	}

	// GitHub Actions: the runtime's ID-token endpoint on 127.0.0.1, asked
	// for a token whose audience is the tokenwright server.
	var askedAudience atomic.Value
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runtime-secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		aud := r.URL.Query().Get("audience")
		askedAudience.Store(aud)
		_ = json.NewEncoder(w).Encode(map[string]string{"value": iss.Mint(t, iss.GitHub(aud))})
	}))
	defer runtime.Close()
	actions := append(env, "ACTIONS_ID_TOKEN_REQUEST_URL="+runtime.URL+"/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=runtime-secret")
	if tok := run(t, actions, false, "token", "--github-actions"); jwtPayload(t, tok)["sub"] != "ci-bot" {
		t.Fatalf("--github-actions token: %v", jwtPayload(t, tok))
	}
	if askedAudience.Load() != d.url {
		t.Fatalf("the Actions runtime was asked for audience %v, want the server %s", askedAudience.Load(), d.url)
	}
	if out := run(t, env, true, "token", "--github-actions"); !strings.Contains(out, "id-token: write") {
		t.Fatalf("--github-actions outside Actions: %s", out)
	}

	// GitLab CI: the id_tokens variable; another repository's token is
	// refused with the one message every refusal has.
	other := iss.GitHub(d.url)
	other["repository_id"] = "1"
	gitlab := append(env, "TOKENWRIGHT_ID_TOKEN="+iss.Mint(t, other))
	if out := run(t, gitlab, true, "token", "--gitlab-ci"); !strings.Contains(out, "invalid_grant") {
		t.Fatalf("a token no rule matches: %s", out)
	}

	// The proxy: requests reach the upstream (which verifies with go-oidc)
	// with a token of ci-bot obtained by exchanging the file's token.
	if err := os.WriteFile(file, []byte(iss.Mint(t, iss.GitHub(d.url))), 0o600); err != nil {
		t.Fatal(err)
	}
	proxyURL, _ := startProxy(t, env, "--upstream", up, "--audience", "Domino", "--federated-token-file", file)
	if code, body := fetch(t, proxyURL+"/api/data", nil); code != http.StatusOK || !strings.Contains(body, `"sub":"ci-bot"`) {
		t.Fatalf("through the proxy: %d %s", code, body)
	}
}
