package client_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/client"
)

const jwtShaped = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"

// The GitHub Actions runtime's ID-token request, as a runner serves it:
// GET ACTIONS_ID_TOKEN_REQUEST_URL (which already has a query) plus
// &audience=…, bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN, answer {"value": …}.
// The runtime runs on 127.0.0.1 here; the request is the real protocol.
func TestGitHubActionsToken(t *testing.T) {
	t.Parallel()
	var gotAudience, gotVersion, gotAuth string
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAudience, gotVersion, gotAuth = r.URL.Query().Get("audience"), r.URL.Query().Get("api-version"), r.Header.Get("Authorization")
		if gotAuth != "Bearer runtime-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"count":1,"value":"` + jwtShaped + `"}`))
	}))
	defer runtime.Close()
	env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": runtime.URL + "/idtoken?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime-token"}
	get := client.GitHubActionsToken(func(k string) string { return env[k] }, nil, "https://idp.example.com")
	tok, err := get(t.Context())
	if err != nil || tok != jwtShaped {
		t.Fatalf("token %q, %v", tok, err)
	}
	if gotAudience != "https://idp.example.com" || gotVersion != "2.0" {
		t.Fatalf("the runtime was asked for audience %q (api-version %q)", gotAudience, gotVersion)
	}

	env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "wrong"
	if _, err := get(t.Context()); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("a refused runtime request: %v", err)
	}
	delete(env, "ACTIONS_ID_TOKEN_REQUEST_URL")
	if _, err := get(t.Context()); !errors.Is(err, client.ErrNoFederatedToken) || !strings.Contains(err.Error(), "id-token: write") {
		t.Fatalf("outside Actions: %v", err)
	}
}

func TestGitLabCIAndFileTokens(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TOKENWRIGHT_ID_TOKEN": jwtShaped + "\n"}
	getenv := func(k string) string { return env[k] }
	if tok, err := client.GitLabCIToken(getenv, "TOKENWRIGHT_ID_TOKEN")(t.Context()); err != nil || tok != jwtShaped {
		t.Fatalf("GitLab variable: %q, %v", tok, err)
	}
	if _, err := client.GitLabCIToken(getenv, "OTHER")(t.Context()); !errors.Is(err, client.ErrNoFederatedToken) || !strings.Contains(err.Error(), "OTHER") {
		t.Fatalf("an unset variable: %v", err)
	}

	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(jwtShaped+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	read := client.FederatedTokenFile(file)
	if tok, err := read(t.Context()); err != nil || tok != jwtShaped {
		t.Fatalf("file: %q, %v", tok, err)
	}
	// Re-read at every call: a projected token file is rewritten.
	if err := os.WriteFile(file, []byte("not a token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t.Context()); err == nil || strings.Contains(err.Error(), "not a token") {
		t.Fatalf("a file without a JWT: %v (the message must not quote the file)", err)
	}
	if err := os.WriteFile(file, []byte(strings.Repeat("a.", 40<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t.Context()); err == nil || !strings.Contains(err.Error(), "not a token") {
		t.Fatalf("an oversized file: %v", err)
	}
}
