package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exitCode runs the CLI and returns its exit status, stdout and stderr.
func exitCode(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	stdout, stderr, code := runCode(t, env, args...)
	return code, stdout, stderr
}

// Issue 16, finding 8: exit status 0 on success, 1 for an error from the
// server or the network, 2 for a usage error.
func TestCLIExitCodes(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	closed := []string{"TOKENWRIGHT_SERVER=http://" + freeAddr(t), "TOKENWRIGHT_TOKEN=twp_x"}
	cases := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"success", env, []string{"sa", "list"}, 0},
		{"help", nil, []string{"--help"}, 0},
		{"group without subcommand shows help", nil, []string{"sa"}, 0},
		{"unknown command", nil, []string{"frobnicate"}, 2},
		{"unknown subcommand", nil, []string{"sa", "frobnicate"}, 2},
		{"unknown nested subcommand", nil, []string{"sa", "owners", "frobnicate"}, 2},
		{"unknown flag", env, []string{"sa", "list", "--frobnicate"}, 2},
		{"unknown root flag", nil, []string{"--frobnicate"}, 2},
		{"missing argument", env, []string{"sa", "get"}, 2},
		{"extra argument", env, []string{"sa", "list", "extra"}, 2},
		{"missing required flag", env, []string{"sa", "create", "bot"}, 2},
		{"bad flag value", env, []string{"sa", "list", "-o", "xml"}, 2},
		{"bad flag type", env, []string{"audit", "--limit", "many"}, 2},
		{"token bad format", nil, []string{"token", "--client-id", "x", "--client-secret", "y", "--format", "xml"}, 2},
		{"server error 404", env, []string{"sa", "get", "nosuch"}, 1},
		{"server error 401", []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN=twp_wrong"}, []string{"sa", "list"}, 1},
		{"network error", closed, []string{"sa", "list"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := exitCode(t, tc.env, tc.args...)
			if code != tc.want {
				t.Fatalf("tokenwright %v exited %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.want, stdout, stderr)
			}
			if tc.want == 2 && !strings.Contains(stderr, "--help") {
				t.Fatalf("usage error without a pointer to --help: %s", stderr)
			}
		})
	}
}

// Issue 16, finding 8: destructive commands ask, and without a terminal
// to ask on they refuse with exit 2 unless --yes is given.
func TestCLIDestructiveCommandsNeedYes(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "bot", "--email", "bot@example.com")
	run(t, env, false, "key", "create", "bot", "--name", "k1")
	run(t, env, false, "user", "create", "gina", "--email", "gina@example.com")
	run(t, env, false, "pat", "create", "--user", "gina", "--name", "p1")

	for _, args := range [][]string{
		{"key", "delete", "bot", "k1"},
		{"key", "revoke-all", "bot"},
		{"pat", "revoke-all", "--user", "gina"},
		{"user", "delete", "gina"},
		{"sa", "delete", "bot"},
	} {
		code, _, stderr := exitCode(t, env, args...)
		if code != 2 || !strings.Contains(stderr, "--yes") {
			t.Fatalf("tokenwright %v without --yes on a non-terminal: exit %d, stderr %s", args, code, stderr)
		}
	}
	// Nothing was deleted or revoked.
	if out := run(t, env, false, "key", "list", "bot"); !strings.Contains(out, "k1") || !strings.Contains(out, "active") {
		t.Fatalf("key list after refused deletes:\n%s", out)
	}
	if out := run(t, env, false, "pat", "list", "--user", "gina"); !strings.Contains(out, "active") {
		t.Fatalf("pat list after refused revoke-all:\n%s", out)
	}
	run(t, env, false, "user", "get", "gina")

	run(t, env, false, "key", "revoke-all", "bot", "--yes")
	run(t, env, false, "key", "delete", "bot", "k1", "--yes")
	run(t, env, false, "pat", "revoke-all", "--user", "gina", "--yes")
	run(t, env, false, "user", "delete", "gina", "--yes")
	run(t, env, false, "sa", "delete", "bot", "--yes")
	if code, _, _ := exitCode(t, env, "sa", "get", "bot"); code != 1 {
		t.Fatalf("sa get after sa delete --yes: exit %d", code)
	}
}

// Issue 16, finding 8: not-found errors name what was not found.
func TestCLINotFoundNamesWhat(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "bot", "--email", "bot@example.com")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"key", "create", "nosuch", "--name", "k"}, `service account "nosuch" not found`},
		{[]string{"key", "list", "nosuch"}, `service account "nosuch" not found`},
		{[]string{"sa", "get", "nosuch"}, `service account "nosuch" not found`},
		{[]string{"key", "revoke", "bot", "nokey"}, `key "nokey" of service account "bot" not found`},
		{[]string{"key", "revoke", "nosuch", "nokey"}, `service account "nosuch" not found`},
		{[]string{"user", "get", "nobody"}, `user "nobody" not found`},
	} {
		code, _, stderr := exitCode(t, env, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("tokenwright %v: exit %d, stderr %q, want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// Issue 16, finding 8: -o table|json|yaml on the commands that print
// data, the same document in JSON and YAML.
func TestCLIOutputFormats(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "bot", "--email", "bot@example.com")
	for _, args := range [][]string{{"sa", "get", "bot"}, {"sa", "list"}, {"keys", "list"}, {"audit"}, {"pat", "list"}} {
		var fromJSON, fromYAML any
		if err := json.Unmarshal([]byte(run(t, env, false, append(args, "-o", "json")...)), &fromJSON); err != nil {
			t.Fatalf("%v -o json: %v", args, err)
		}
		out := run(t, env, false, append(args, "-o", "yaml")...)
		if err := yaml.Unmarshal([]byte(out), &fromYAML); err != nil || strings.HasPrefix(strings.TrimSpace(out), "{") {
			t.Fatalf("%v -o yaml is not YAML (%v):\n%s", args, err, out)
		}
		// YAML decodes numbers and times in its own types; compare through JSON.
		j1, _ := json.Marshal(fromJSON)
		j2, err := json.Marshal(fromYAML)
		if err != nil || !bytes.Equal(j1, j2) {
			t.Fatalf("%v: -o yaml differs from -o json:\n%s\n%s", args, j1, j2)
		}
	}
}

// Issue 16, finding 8: token reads its secret from --client-secret-file
// (as proxy does), prints with -o as the other commands do, and still
// accepts --format.
func TestCLITokenSecretFileAndOutput(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "bot", "--email", "bot@example.com")
	secret := jsonField(t, run(t, env, false, "key", "create", "bot", "--name", "k", "-o", "json"), "clientSecret")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"token", "--server", d.url, "--client-id", "bot", "--client-secret-file", secretFile, "--no-cache"}
	if jwt := strings.TrimSpace(run(t, nil, false, base...)); strings.Count(jwt, ".") != 2 {
		t.Fatalf("token --client-secret-file printed %q", jwt)
	}
	var tok map[string]any
	if err := json.Unmarshal([]byte(run(t, nil, false, append(base, "-o", "json")...)), &tok); err != nil || tok["access_token"] == nil {
		t.Fatalf("token -o json: %v %v", tok, err)
	}
	if err := yaml.Unmarshal([]byte(run(t, nil, false, append(base, "-o", "yaml")...)), &tok); err != nil || tok["access_token"] == nil {
		t.Fatalf("token -o yaml: %v %v", tok, err)
	}
	if out := run(t, nil, false, append(base, "--format", "header")...); !strings.HasPrefix(out, "Authorization: Bearer ") {
		t.Fatalf("token --format header (deprecated alias) printed %q", out)
	}
	if code, _, _ := exitCode(t, nil, append(base, "--client-secret", "x")...); code != 2 {
		t.Fatalf("--client-secret with --client-secret-file: exit %d, want 2", code)
	}
}

// Issue 16, finding 8: every command's help has examples.
func TestCLIEveryCommandHasExamples(t *testing.T) {
	var walk func(path []string)
	walk = func(path []string) {
		out := run(t, nil, false, append(path, "--help")...)
		if len(path) > 0 && !strings.Contains(out, "Examples:") {
			t.Errorf("tokenwright %s --help has no examples", strings.Join(path, " "))
		}
		i := strings.Index(out, "Available Commands:")
		if i < 0 {
			return
		}
		for _, line := range strings.Split(out[i:], "\n")[1:] {
			f := strings.Fields(line)
			if len(f) == 0 {
				break
			}
			if f[0] == "help" || f[0] == "completion" {
				continue
			}
			walk(append(append([]string{}, path...), f[0]))
		}
	}
	walk(nil)
}

// Issue 16, finding 8: completion offers -o values, statuses, and the
// account names the server knows.
func TestCLICompletion(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "ci-bot", "--email", "bot@example.com")
	run(t, env, false, "key", "create", "ci-bot", "--name", "pipeline")
	for _, tc := range []struct {
		env  []string
		args []string
		want []string
	}{
		{nil, []string{"__complete", "sa", "list", "-o", ""}, []string{"table", "json", "yaml"}},
		{nil, []string{"__complete", "token", "-o", ""}, []string{"raw", "header", "json", "yaml"}},
		{nil, []string{"__complete", "key", "list", "x", "--status", ""}, []string{"active", "expired", "revoked"}},
		{env, []string{"__complete", "key", "list", ""}, []string{"ci-bot"}},
		{env, []string{"__complete", "sa", "get", "ci"}, []string{"ci-bot"}},
		{env, []string{"__complete", "key", "revoke", "ci-bot", ""}, []string{"pipeline"}},
	} {
		out := run(t, tc.env, false, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains("\n"+out, "\n"+w) {
				t.Errorf("%v: completion %q lacks %q", tc.args, out, w)
			}
		}
	}
	// Without credentials, account completion is silent (no error, no
	// candidates), not a failure.
	if out := run(t, nil, false, "__complete", "key", "list", ""); strings.Contains(out, "ci-bot") || strings.Contains(out, "error") {
		t.Fatalf("completion without credentials: %q", out)
	}
}

// Issue 16, finding 8: a misspelt setting in the config file is named by
// its path, with the setting meant, not by a Go type.
func TestServeConfigTypoNamesSetting(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("tokens:\n  lifetme: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := exitCode(t, nil, "serve", "--config", cfg, "--data", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "tokens.lifetme: unknown setting; did you mean tokens.lifetime?") ||
		strings.Contains(stderr, "struct") {
		t.Fatalf("serve with a misspelt setting: exit %d, stderr %s", code, stderr)
	}
}
