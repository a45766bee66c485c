package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
)

func TestCLISigningKeysAndKEKRotation(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(data, "admin.token")}

	table := run(t, env, false, "keys", "list")
	if !strings.Contains(table, "KID") || !strings.Contains(table, "RS256") || !strings.Contains(table, "active") {
		t.Fatalf("keys list:\n%s", table)
	}
	out := run(t, env, false, "keys", "rotate", "-o", "json")
	var pending map[string]any
	if err := json.Unmarshal([]byte(out), &pending); err != nil || pending["state"] != "pending" || pending["activateAt"] == nil {
		t.Fatalf("keys rotate -o json: %s (%v)", out, err)
	}
	if errOut := run(t, env, true, "keys", "rotate"); !strings.Contains(errOut, "already pending") {
		t.Fatalf("second rotate: %s", errOut)
	}
	run(t, env, false, "keys", "rotate", "--now", "--yes")
	var list struct {
		Items []struct{ KID, State string }
	}
	if err := json.Unmarshal([]byte(run(t, env, false, "keys", "list", "-o", "json")), &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("keys list -o json: %v %+v", err, list)
	}
	if list.Items[0].KID != pending["kid"] || list.Items[0].State != "active" || list.Items[1].State != "retired" {
		t.Fatalf("after rotate --now: %+v", list.Items)
	}
	run(t, env, false, "keys", "remove", "--", list.Items[1].KID)
	if errOut := run(t, env, true, "keys", "remove", "--", list.Items[0].KID); !strings.Contains(errOut, "active") {
		t.Fatalf("removing the active key: %s", errOut)
	}

	// KEK rotation is offline: with the server running it refuses (the
	// database is locked); stopped, it re-encrypts, and afterwards only the
	// new KEK starts the server.
	newKEK := filepath.Join(t.TempDir(), "kek.new")
	if errOut := run(t, nil, true, "kek", "rotate", "--data", data, "--new-kek-file", newKEK, "--generate"); !strings.Contains(errOut, "running") {
		t.Fatalf("kek rotate while serving: %s", errOut)
	}
	_ = d.cmd.Process.Kill()
	_ = d.wait()
	if _, err := os.Stat(newKEK); err == nil {
		t.Fatal("a failed rotation left a new KEK file behind")
	}
	out = run(t, nil, false, "kek", "rotate", "--data", data, "--new-kek-file", newKEK, "--generate")
	if !strings.Contains(out, "Re-encrypted 1 signing keys") {
		t.Fatalf("kek rotate: %s", out)
	}
	if fi, err := os.Stat(newKEK); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new KEK file: %v %v", err, fi)
	}
	if errOut := run(t, nil, true, "kek", "rotate", "--data", data, "--new-kek-file", newKEK); !strings.Contains(errOut, "already under the new KEK") {
		t.Fatalf("rotating twice: %s", errOut)
	}
	// The old KEK (still in DATA/kek) no longer opens the keys.
	if errOut := runErr(t, nil, "serve", "--data", data, "--listen", freeAddr(t)); errOut == nil || !strings.Contains(errOut.Error(), "different key-encryption key") {
		t.Fatalf("serve with the old KEK: %v", errOut)
	}
	d2 := startDaemon(t, data, "TOKENWRIGHT_KEK_FILE="+newKEK)
	env[0] = "TOKENWRIGHT_SERVER=" + d2.url
	if table := run(t, env, false, "keys", "list"); !strings.Contains(table, list.Items[0].KID) {
		t.Fatalf("after KEK rotation the key set changed:\n%s", table)
	}
}

// runCode runs the CLI (stdin not a terminal) and returns its stdout,
// stderr and exit status.
func runCode(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runFrom(t, nil, env, args...)
}

// runFrom runs the CLI with stdin (nil: none) and returns its stdout,
// stderr and exit status.
func runFrom(t *testing.T, stdin io.Reader, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running tokenwright %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func signingKeys(t *testing.T, env []string) []api.SigningKey {
	t.Helper()
	var list api.List[api.SigningKey]
	if err := json.Unmarshal([]byte(run(t, env, false, "keys", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// `keys rotate --now` says, before acting, which verifiers will reject
// tokens and for how long, and acts only with --yes: without it, and with
// no terminal to ask on, it refuses with exit status 2 and rotates nothing
// (issue 15, finding 4).
func TestCLIRotateNowWarnsAndNeedsYes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(data, "admin.token")}
	before := signingKeys(t, env)

	stdout, stderr, code := runCode(t, env, "keys", "rotate", "--now")
	if code != 2 || stdout != "" {
		t.Fatalf("keys rotate --now without --yes: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"lestrrat-go/jwx", "15 min", "signing.jwksMaxAge", "keyfunc", "5 min",
		"Domino REST API, jwt mode", "restart restapi", "--yes"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("keys rotate --now does not say %q:\n%s", want, stderr)
		}
	}
	if after := signingKeys(t, env); len(after) != len(before) || after[0].KID != before[0].KID || after[0].State != "active" {
		t.Fatalf("a refused --now changed the key set: %+v", after)
	}

	// On a terminal it asks, and only "y" rotates.
	if tty := openPTY(t); tty != nil {
		stdout, stderr, code = runOnTTY(t, tty, "n\n", env, "keys", "rotate", "--now")
		if code != 2 || !strings.Contains(stderr, "Rotate now? [y/N]") || !strings.Contains(stderr, "keyfunc") {
			t.Fatalf("answering n: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
		if after := signingKeys(t, env); len(after) != 1 {
			t.Fatalf("answering n rotated: %+v", after)
		}
		tty = openPTY(t)
		stdout, stderr, code = runOnTTY(t, tty, "y\n", env, "keys", "rotate", "--now")
		if code != 0 || !strings.Contains(stdout, "state active") {
			t.Fatalf("answering y: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
		before = signingKeys(t, env)[:1]
	}

	stdout, stderr, code = runCode(t, env, "keys", "rotate", "--now", "--yes")
	if code != 0 || !strings.Contains(stdout, "state active") || !strings.Contains(stderr, "keyfunc") {
		t.Fatalf("keys rotate --now --yes: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if after := signingKeys(t, env); len(after) < 2 || after[0].State != "active" || after[1].KID != before[0].KID || after[1].State != "retired" {
		t.Fatalf("after keys rotate --now --yes: %+v", after)
	}
}

// `keys rotate --algorithm` publishes a key of another algorithm through
// the pre-published path, says which verifiers refuse that algorithm, and
// reports that signing.algorithm now differs (issue 15, findings 3 and 6).
func TestCLIRotateAlgorithm(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(data, "admin.token")}

	stdout, stderr, code := runCode(t, env, "keys", "rotate", "--algorithm", "EdDSA")
	if code != 0 || !strings.Contains(stdout, "(EdDSA), state pending") {
		t.Fatalf("keys rotate --algorithm EdDSA: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"mod_auth_openidc", "mod_oauth2", "jwks-rsa", "express-jwt", "passport-jwt", "HAProxy 2.6",
		"from RS256 to EdDSA", "allow-list", "signing.algorithm is RS256"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("keys rotate --algorithm EdDSA does not say %q:\n%s", want, stderr)
		}
	}
	keys := signingKeys(t, env)
	if keys[0].Algorithm != "EdDSA" || keys[0].State != "pending" || keys[0].ConfiguredAlgorithm != "RS256" {
		t.Fatalf("after keys rotate --algorithm EdDSA: %+v", keys)
	}

	// --now would promote the pending EdDSA key, not make a PS256 one.
	if _, stderr, code := runCode(t, env, "keys", "rotate", "--now", "--yes", "--algorithm", "PS256"); code != 1 || !strings.Contains(stderr, "remove it first") {
		t.Fatalf("--now --algorithm PS256 with an EdDSA key pending: exit %d, %s", code, stderr)
	}
	run(t, env, false, "keys", "remove", "--", keys[0].KID)
	_, stderr, code = runCode(t, env, "keys", "rotate", "--algorithm", "PS256")
	if code != 0 || !strings.Contains(stderr, "PS256 is not supported by HAProxy 2.6") || strings.Contains(stderr, "mod_auth_openidc") {
		t.Fatalf("keys rotate --algorithm PS256: exit %d, %s", code, stderr)
	}

	if _, stderr, code := runCode(t, env, "keys", "rotate", "--algorithm", "HS256"); code != 2 || !strings.Contains(stderr, "unsupported signing algorithm") {
		t.Fatalf("keys rotate --algorithm HS256: exit %d, %s", code, stderr)
	}
}

// pty is a pseudo-terminal: the child reads tty, the test writes to ptmx.
type pty struct{ ptmx, tty *os.File }

// runOnTTY runs the CLI with the terminal as its stdin, typing answer.
func runOnTTY(t *testing.T, p *pty, answer string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// Typed ahead: the line discipline holds the line until it is read.
	if _, err := p.ptmx.WriteString(answer); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, p.ptmx) }() // the echo
	return runFrom(t, p.tty, env, args...)
}
