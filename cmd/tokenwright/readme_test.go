package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/internal/eventually"
)

// TestReadmeQuickStart (issue 16, "the README's quick start still works
// verbatim") runs the shell commands of the README's Quick start and "From
// zero to a verified token" blocks, as written, against the real binary:
// `serve` from an empty directory, then every later line through bash in
// that directory. Only what cannot run here is changed, each on purpose:
// the server listens on a free loopback port instead of 8080 (the CLI is
// pointed at it with TOKENWRIGHT_SERVER and the curl lines' URLs are
// rewritten), the secret the README says to paste is the one `key create`
// printed, and the call to https://domino.example.com runs only its
// $(tokenwright token …) part, whose JWT is then verified through
// discovery.
func TestReadmeQuickStart(t *testing.T) {
	bin := cliBinary(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatal("curl is missing (TOKENWRIGHT_TEST_STRICT=1 forbids skipping)")
		}
		t.Skip("curl is missing")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	quick := shellBlockAfter(t, readme, "## Quick start")
	walk := shellBlockAfter(t, readme, "### From zero to a verified token")
	exchange := shellBlockAfter(t, readme, "The same exchange with plain curl")
	discovery := shellBlockAfter(t, readme, "Verifiers find everything through discovery")

	// Quick start: `go run ./cmd/tokenwright serve` is this binary's serve,
	// with its defaults (data in ./tokenwright-data) but another port.
	if len(quick) == 0 || quick[0] != "go run ./cmd/tokenwright serve" {
		t.Fatalf("the Quick start's first command is %q, not the serve this test runs", quick)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	url := "http://" + addr
	stderr := &syncBuffer{}
	serve := exec.Command(bin, "serve", "--listen", addr)
	serve.Dir, serve.Env, serve.Stderr = dir, cleanEnv(), stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	eventually.Nil(t, 20*time.Second, "server ready", func() error { return answers200(url+"/readyz", stderr) })

	// The commands run through bash with ./tokenwright being this binary
	// (what the block's `go build -o tokenwright` makes) and curl on PATH.
	if err := os.Symlink(bin, filepath.Join(dir, "tokenwright")); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "TOKENWRIGHT_SERVER="+url, "PATH="+filepath.Dir(curl)+":/usr/bin:/bin")
	sh := func(line string) string {
		t.Helper()
		line = strings.ReplaceAll(line, "http://127.0.0.1:8080", url)
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", line)
		cmd.Dir, cmd.Env = dir, env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("README command %q: %v\nstdout: %s\nstderr: %s\nserver log:\n%s", line, err, out.String(), errOut.String(), stderr)
		}
		return out.String()
	}

	secretPattern := regexp.MustCompile(`twk_[A-Za-z0-9_-]+`)
	var secret, jwt string
	for _, line := range walk {
		switch {
		case line == "go build -o tokenwright ./cmd/tokenwright":
			// ./tokenwright is already this binary.
		case strings.HasPrefix(line, "export "):
			name, value, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			value, _, _ = strings.Cut(value, " ") // drop a trailing comment
			if strings.HasSuffix(value, "...") {
				if secret == "" {
					t.Fatalf("README says to paste %s, but no command before it printed a secret", name)
				}
				value = secret
			}
			env = append(env, name+"="+value)
		case strings.Contains(line, "https://domino.example.com/api/"):
			inner := regexp.MustCompile(`\$\((\./tokenwright token[^)]*)\)`).FindStringSubmatch(line)
			if inner == nil {
				t.Fatalf("the Domino call %q has no $(./tokenwright token …) to run", line)
			}
			jwt = strings.TrimSpace(sh(inner[1]))
		default:
			out := sh(line)
			if s := secretPattern.FindString(out); s != "" {
				secret = s
			}
		}
	}
	if jwt == "" {
		t.Fatal("the walk-through never obtained a token")
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "https://domino.example.com"}).Verify(ctx, jwt); err != nil {
		t.Fatalf("the README's token does not verify for its Domino audience: %v", err)
	}

	// The plain-curl exchange answers what the README's comment shows,
	// but for the token itself.
	var shown, got struct {
		TokenType string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
		Scope     string `json:"scope"`
	}
	if len(exchange) != 2 || !strings.HasPrefix(exchange[1], "# {") {
		t.Fatalf("the plain-curl block is %q, want a command and the answer as a comment", exchange)
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.TrimPrefix(exchange[1], "# "), "...", "")), &shown); err != nil {
		t.Fatalf("the README's answer %q: %v", exchange[1], err)
	}
	if err := json.Unmarshal([]byte(sh(exchange[0])), &got); err != nil || got != shown {
		t.Fatalf("plain curl answered %+v (%v), the README shows %+v", got, err, shown)
	}

	for _, line := range discovery {
		var doc map[string]any
		if err := json.Unmarshal([]byte(sh(line)), &doc); err != nil || len(doc) == 0 {
			t.Fatalf("%q did not answer a JSON document: %v", line, err)
		}
	}
}

// shellBlockAfter is the first ```sh block after the line that starts with
// heading, as commands: comment-only lines dropped except in the
// answer-comment form the curl block uses, continuation lines joined,
// trailing comments kept (bash ignores them).
func shellBlockAfter(t *testing.T, readme []byte, heading string) []string {
	t.Helper()
	text := string(readme)
	at := strings.Index(text, "\n"+heading)
	if at < 0 {
		t.Fatalf("README has no %q", heading)
	}
	rest := text[at:]
	start := strings.Index(rest, "\n```sh\n")
	if start < 0 {
		t.Fatalf("no ```sh block after %q", heading)
	}
	rest = rest[start+len("\n```sh\n"):]
	rest = rest[:strings.Index(rest, "\n```")]
	var commands []string
	pending := ""
	for _, raw := range strings.Split(rest, "\n") {
		line := strings.TrimSpace(raw)
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSpace(strings.TrimSuffix(line, `\`))
			continue
		}
		if line == "" || (strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# {")) {
			continue
		}
		// A command's own trailing comment (`serve      # the server…`).
		if i := strings.Index(line, "  #"); i > 0 && !strings.HasPrefix(line, "#") {
			line = strings.TrimSpace(line[:i])
		}
		commands = append(commands, line)
	}
	return commands
}
