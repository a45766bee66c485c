package examples_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/federation/federationtest"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// federatedSetup is a server whose account ci-bot accepts, with no key,
// GitHub-shaped tokens of one repository from a foreign issuer on
// 127.0.0.1 over TLS, and a Domino stand-in that verifies tokenwright's
// tokens.
func federatedSetup(t *testing.T) (s *servertest.Server, iss *federationtest.Issuer, dominoURL string) {
	t.Helper()
	iss = federationtest.New(t, federationtest.Options{})
	s = servertest.Start(t, servertest.Options{FederationClient: iss.Client})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"Domino"}})
	rule := map[string]any{"name": "deploy-main", "issuer": iss.URL, "claims": map[string]any{
		"repository_id": federationtest.GitHubRepositoryID, "repository_owner_id": federationtest.GitHubOwnerID}}
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot/federation", rule, nil); code != http.StatusCreated {
		t.Fatalf("creating the federation rule: HTTP %d", code)
	}
	return s, iss, domino(t, s.URL)
}

// steps returns the run: scripts of a workflow file's job steps, or of a
// GitLab job's script:, in order.
func steps(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	if jobs, ok := doc["jobs"].(map[string]any); ok { // GitHub Actions
		for _, job := range jobs {
			for _, st := range job.(map[string]any)["steps"].([]any) {
				if run, ok := st.(map[string]any)["run"].(string); ok {
					out = append(out, run)
				}
			}
		}
		return out
	}
	for _, job := range doc { // GitLab CI
		if m, ok := job.(map[string]any); ok {
			for _, line := range m["script"].([]any) {
				out = append(out, line.(string))
			}
		}
	}
	return out
}

// The keyless GitHub Actions example, its shell steps run as a runner
// would: the Actions runtime (on 127.0.0.1) hands out the job's OIDC
// token for the audience asked, the first step exchanges it at a real
// tokenwright and passes the JWT on through $GITHUB_OUTPUT, the second
// calls the Domino stand-in, which verifies it. No secret anywhere.
func TestGitHubActionsExampleNeedsNoSecret(t *testing.T) {
	need(t, "curl", "the GitHub Actions example")
	need(t, "jq", "the GitHub Actions example")
	bash := need(t, "bash", "the GitHub Actions example")
	s, iss, d := federatedSetup(t)
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runtime-secret" || r.URL.Query().Get("audience") != s.URL {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": iss.Mint(t, iss.GitHub(s.URL))})
	}))
	defer runtime.Close()
	run := steps(t, filepath.Join("ci", "github-actions.yml"))
	if len(run) != 2 {
		t.Fatalf("the workflow has %d run steps, want 2", len(run))
	}
	output := filepath.Join(t.TempDir(), "github_output")
	env := []string{"TOKENWRIGHT_SERVER=" + s.URL, "TOKENWRIGHT_CLIENT_ID=ci-bot", "DOMINO_URL=" + d, "GITHUB_OUTPUT=" + output,
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + runtime.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=runtime-secret"}
	runExample(t, "ci", env, bash, "-eo", "pipefail", "-c", run[0])
	data, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "token=")
	if !ok || strings.Count(token, ".") != 2 {
		t.Fatalf("the first step wrote %q to GITHUB_OUTPUT", data)
	}
	out := runExample(t, "ci", append(env, "TOKEN="+token), bash, "-eo", "pipefail", "-c", run[1])
	if !strings.Contains(out, `"verifiedSubject":"ci-bot"`) {
		t.Fatalf("the Domino step printed %q", out)
	}
}

// The keyless GitLab CI example's script with the job's id_tokens
// variable: the token exchanged and Domino called, no secret anywhere.
// (The token's claims are the rule's business, tested with GitLab-shaped
// tokens in server/federatedexchange_test.go; here the rule of
// federatedSetup is reused.)
func TestGitLabCIExampleNeedsNoSecret(t *testing.T) {
	need(t, "curl", "the GitLab CI example")
	sh := need(t, "sh", "the GitLab CI example")
	s, iss, d := federatedSetup(t)
	run := steps(t, filepath.Join("ci", "gitlab-ci.yml"))
	if len(run) != 1 {
		t.Fatalf("the job has %d script entries, want 1", len(run))
	}
	env := []string{"TOKENWRIGHT_SERVER=" + s.URL, "TOKENWRIGHT_CLIENT_ID=ci-bot", "DOMINO_URL=" + d,
		"TOKENWRIGHT_ID_TOKEN=" + iss.Mint(t, iss.GitHub(s.URL))}
	out := runExample(t, "ci", env, sh, "-e", "-c", run[0])
	if !strings.Contains(out, `"verifiedSubject":"ci-bot"`) {
		t.Fatalf("the GitLab job printed %q", out)
	}
}
