package main_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// fakeGitHub answers GET /repos/OWNER/NAME like api.github.com on
// 127.0.0.1: acme/deploy exists, acme/old-name redirects (renamed), the
// rest is unknown. It counts the lookups and keeps the last
// Authorization header.
func fakeGitHub(t *testing.T) (url string, lookups *atomic.Int32, auth *atomic.Value) {
	lookups, auth = &atomic.Int32{}, &atomic.Value{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		auth.Store(r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/repos/acme/deploy":
			_, _ = w.Write([]byte(`{"id": 123456789, "full_name": "acme/deploy", "owner": {"login": "acme", "id": 987654}}`))
		case "/repos/acme/old-name":
			http.Redirect(w, r, "/repositories/123456789", http.StatusMovedPermanently)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, lookups, auth
}

func addRule(t *testing.T, env []string, args ...string) api.FederationRule {
	t.Helper()
	var r api.FederationRule
	out := run(t, env, false, append(append([]string{"sa", "federation", "add", "ci-bot"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return r
}

// claimsOf writes a rule's claims as k=v1|v2, sorted by key.
func claimsOf(r api.FederationRule) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Claims)) {
		parts = append(parts, k+"="+strings.Join(r.Claims[k], "|"))
	}
	return strings.Join(parts, " ")
}

// The federation commands through the real binary against a real server:
// each preset pins what it promises (GitHub: the numeric ids, looked up
// once on the GitHub API or given; GitLab: project_id; Kubernetes and
// SPIFFE: the subject, tokens without jti bounded by an hour); flags add
// to a preset; mistakes are usage errors before anything is sent; the
// server's refusals (a CEL condition that does not compile) come back
// naming the field; list and remove (by name or id) work.
func TestCLIFederationRules(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	gh, lookups, auth := fakeGitHub(t)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token"),
		"TOKENWRIGHT_GITHUB_API=" + gh, "GITHUB_TOKEN=ghp_test"}
	run(t, env, false, "sa", "create", "ci-bot", "--email", "ci-bot@example.com")

	r := addRule(t, env, "--name", "deploy", "--github-repo", "acme/deploy", "--ref", "main")
	if r.Issuer != "https://token.actions.githubusercontent.com" || r.Audience != d.url ||
		claimsOf(r) != "ref=refs/heads/main repository=acme/deploy repository_id=123456789 repository_owner_id=987654" ||
		r.AllowMissingJTI || r.MaxTokenAge != 0 || r.Subject != "" {
		t.Fatalf("--github-repo rule = %+v", r)
	}
	if lookups.Load() != 1 || auth.Load() != "Bearer ghp_test" {
		t.Fatalf("GitHub lookups %d (auth %q), want 1 with GITHUB_TOKEN", lookups.Load(), auth.Load())
	}
	r = addRule(t, env, "--name", "prod", "--github-repo", "acme/deploy", "--environment", "prod",
		"--github-repository-id", "111", "--github-owner-id", "222", "--claim", "job_workflow_ref=acme/deploy/.github/workflows/release.yml@refs/heads/main")
	if claimsOf(r) != "environment=prod job_workflow_ref=acme/deploy/.github/workflows/release.yml@refs/heads/main repository=acme/deploy repository_id=111 repository_owner_id=222" {
		t.Fatalf("--github-repo with ids = %q", claimsOf(r))
	}
	if lookups.Load() != 1 {
		t.Fatalf("ids given, yet GitHub was asked (%d lookups)", lookups.Load())
	}
	errOut := run(t, env, true, "sa", "federation", "add", "ci-bot", "--name", "old", "--github-repo", "acme/old-name")
	if !strings.Contains(errOut, "renamed or transferred") {
		t.Fatalf("a redirected repository: %s", errOut)
	}
	errOut = run(t, env, true, "sa", "federation", "add", "ci-bot", "--name", "x", "--github-repo", "acme/nothing")
	if !strings.Contains(errOut, "no repository acme/nothing") {
		t.Fatalf("an unknown repository: %s", errOut)
	}

	r = addRule(t, env, "--name", "gitlab", "--gitlab-project", "4711", "--ref", "main", "--protected")
	if r.Issuer != "https://gitlab.com" || claimsOf(r) != "project_id=4711 ref=main ref_protected=true" {
		t.Fatalf("--gitlab-project rule = %+v", r)
	}
	r = addRule(t, env, "--name", "gitlab-self", "--gitlab-project", "12", "--issuer", "https://gitlab.example.com")
	if r.Issuer != "https://gitlab.example.com" || claimsOf(r) != "project_id=12" {
		t.Fatalf("--gitlab-project with --issuer = %+v", r)
	}

	r = addRule(t, env, "--name", "k8s", "--kubernetes-service-account", "ci/deployer", "--issuer", "https://oidc.cluster.example.com")
	if r.Subject != "system:serviceaccount:ci:deployer" || !r.AllowMissingJTI || r.MaxTokenAge != 3600 {
		t.Fatalf("--kubernetes-service-account rule = %+v", r)
	}
	r = addRule(t, env, "--name", "spiffe", "--spiffe-id", "spiffe://example.org/ns/ci/sa/deployer",
		"--issuer", "https://spire.example.org", "--jwks-uri", "https://spire.example.org/keys", "--max-token-age", "5m")
	if r.Subject != "spiffe://example.org/ns/ci/sa/deployer" || !r.AllowMissingJTI || r.MaxTokenAge != 300 || r.JWKSURI != "https://spire.example.org/keys" {
		t.Fatalf("--spiffe-id rule = %+v", r)
	}
	r = addRule(t, env, "--name", "custom", "--issuer", "https://issuer.example.com", "--audience", "tokenwright",
		"--claim", "tier=1", "--claim", "tier=2", "--condition", `claims.env.startsWith("prod")`, "--max-token-age", "10m")
	if claimsOf(r) != "tier=1|2" || r.Condition != `claims.env.startsWith("prod")` || r.MaxTokenAge != 600 || r.Audience != "tokenwright" {
		t.Fatalf("custom rule = %+v", r)
	}

	// Mistakes the CLI catches (usage errors, exit 2) and the server's
	// refusals (exit 1, naming the field).
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--name", "x"}, 2, "--issuer is required"},
		{[]string{"--name", "x", "--github-repo", "acme/deploy", "--gitlab-project", "1"}, 2, "one preset per rule"},
		{[]string{"--name", "x", "--github-repo", "acme"}, 2, "OWNER/NAME"},
		{[]string{"--name", "x", "--gitlab-project", "acme/deploy"}, 2, "numeric ID"},
		{[]string{"--name", "x", "--kubernetes-service-account", "ci/deployer"}, 2, "needs --issuer"},
		{[]string{"--name", "x", "--spiffe-id", "example.org/x", "--issuer", "https://spire.example.org"}, 2, "SPIFFE ID"},
		{[]string{"--name", "x", "--issuer", "https://i.example.com", "--claim", "novalue"}, 2, "KEY=VALUE"},
		{[]string{"--name", "x", "--issuer", "https://i.example.com", "--ref", "main", "--subject", "s"}, 2, "--ref and --environment go with"},
		{[]string{"--name", "x", "--issuer", "https://i.example.com", "--max-token-age", "soon", "--subject", "s"}, 2, "--max-token-age"},
		{[]string{"--issuer", "https://i.example.com", "--subject", "s"}, 2, "name"},
		{[]string{"--name", "x", "--issuer", "https://i.example.com", "--condition", "claims.ref =="}, 1, "condition"},
		{[]string{"--name", "x", "--issuer", "http://i.example.com", "--subject", "s"}, 1, "issuer"},
		{[]string{"--name", "deploy", "--issuer", "https://i.example.com", "--subject", "s"}, 1, "already"},
	} {
		_, stderr, code := runStatus(t, env, append([]string{"sa", "federation", "add", "ci-bot"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("add %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if _, stderr, code := runStatus(t, env, "sa", "federation", "add", "nobody", "--name", "x", "--issuer", "https://i.example.com", "--subject", "s"); code != 1 || !strings.Contains(stderr, `service account "nobody" not found`) {
		t.Errorf("add to an unknown account: exit %d, %s", code, stderr)
	}

	table := run(t, env, false, "sa", "federation", "list", "ci-bot")
	for _, want := range []string{"NAME", "deploy", "gitlab", "k8s", "system:serviceaccount:ci:deployer", "repository_id=123456789"} {
		if !strings.Contains(table, want) {
			t.Fatalf("list lacks %q:\n%s", want, table)
		}
	}
	var list api.List[api.FederationRule]
	if err := json.Unmarshal([]byte(run(t, env, false, "sa", "federation", "list", "ci-bot", "-o", "json")), &list); err != nil || len(list.Items) != 7 {
		t.Fatalf("list -o json: %d rules, %v", len(list.Items), err)
	}
	if out := run(t, env, false, "sa", "federation", "remove", "ci-bot", "deploy"); !strings.Contains(out, "Removed federation rule deploy") {
		t.Fatalf("remove by name: %s", out)
	}
	run(t, env, false, "sa", "federation", "remove", "ci-bot", r.ID)
	if _, stderr, code := runStatus(t, env, "sa", "federation", "remove", "ci-bot", r.ID); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("remove again: exit %d, %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(run(t, env, false, "sa", "federation", "list", "ci-bot", "-o", "json")), &list); err != nil || len(list.Items) != 5 {
		t.Fatalf("after two removals: %d rules, %v", len(list.Items), err)
	}
}
