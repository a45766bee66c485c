package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/servertest"
)

// The Python and Node helpers: clients run once per server and print one
// JSON object; verifiers are long-lived processes answering one JSON line
// per token, so that one verifier instance spans the key rotation.

// debianPython is Debian's interpreter: the python3 on PATH may be another
// one (pyenv) without the Debian python3-* packages.
const debianPython = "/usr/bin/python3"

// nodeDir holds the pinned npm packages (package-lock.json) and scripts.
const nodeDir = "testdata/node"

// pythonModules requires Debian's python3 with modules importable (from
// Debian package pkg).
func pythonModules(pkg string, modules ...string) requirement {
	return memo(func() string {
		if _, err := os.Stat(debianPython); err != nil {
			return debianPython + " not found (Debian package python3)"
		}
		script := "import " + strings.Join(modules, ", ")
		if out, err := exec.Command(debianPython, "-c", script).CombinedOutput(); err != nil {
			return fmt.Sprintf("%s cannot %q (Debian package %s): %s", debianPython, script, pkg, bytes.TrimSpace(out))
		}
		return ""
	})
}

// nodePackages requires node and the packages package-lock.json pins.
var nodePackages = memo(func() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed (Debian package nodejs)"
	}
	for _, pkg := range []string{"jose", "openid-client"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", pkg, "package.json")); err != nil {
			return fmt.Sprintf("%s/node_modules/%s is missing: run npm ci in %s", nodeDir, pkg, nodeDir)
		}
	}
	return ""
})

// memo runs check once.
func memo(check func() string) requirement {
	return sync.OnceValue(check)
}

// scriptEnv is a helper's environment: the test CA trusted by Node
// (NODE_EXTRA_CA_CERTS) and by Python's ssl module (SSL_CERT_FILE).
func (e *env) scriptEnv() []string {
	return append(os.Environ(), "NODE_EXTRA_CA_CERTS="+e.CAFile, "SSL_CERT_FILE="+e.CAFile)
}

// scriptCases is what a client script is told about the cases.
type scriptCase struct {
	Name   string     `json:"name"`
	Method authMethod `json:"method"`
}

// runClientScript feeds e's credentials and the cases to a client script
// on stdin and returns its results.
func runClientScript(t *testing.T, e *env, cases []clientCase, name string, args ...string) map[string]obtained {
	t.Helper()
	in := map[string]any{"issuer": e.Issuer, "cafile": e.CAFile, "client_id": e.ClientID, "client_secret": e.ClientSecret,
		"assertion_client_id": e.AssertionClientID, "assertion_key_pem": e.AssertionKeyPEM, "alg": e.Alg}
	var sc []scriptCase
	for _, c := range cases {
		sc = append(sc, scriptCase{c.Name, c.Method})
	}
	in["cases"] = sc
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = e.scriptEnv()
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstderr: %s", name, args, err, stderr.String())
	}
	var out struct {
		Results map[string]struct{ Token, Error string }
	}
	decodeJSON(t, filepath.Base(args[len(args)-1]), stdout.Bytes(), &out)
	res := map[string]obtained{}
	for k, v := range out.Results {
		res[k] = obtained{Token: v.Token, Err: v.Error}
	}
	return res
}

func obtainAuthlib(t *testing.T, e *env, cases []clientCase) map[string]obtained {
	return runClientScript(t, e, cases, debianPython, "testdata/python/authlib_client.py")
}

func obtainOpenIDClient(t *testing.T, e *env, cases []clientCase) map[string]obtained {
	return runClientScript(t, e, cases, "node", filepath.Join(nodeDir, "client.mjs"))
}

// lineVerifier talks to a verifier process: a token per line in, a JSON
// verdict per line out.
type lineVerifier struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *servertest.LockedBuffer
	mu     sync.Mutex
}

// startLineVerifier starts the process and waits for its {"ready": true}
// (it has fetched discovery by then).
func startLineVerifier(e *env, name string, args ...string) (*lineVerifier, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = e.scriptEnv()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	v := &lineVerifier{name: filepath.Base(args[len(args)-1]), cmd: cmd, stdin: stdin, stderr: &servertest.LockedBuffer{}}
	cmd.Stderr = v.stderr
	v.out = bufio.NewScanner(stdout)
	v.out.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var ready struct{ Ready bool }
	if err := v.readLine(&ready); err != nil || !ready.Ready {
		v.Close()
		return nil, fmt.Errorf("%s did not start: %v\nstderr: %s", v.name, err, v.stderr)
	}
	return v, nil
}

func (v *lineVerifier) readLine(out any) error {
	if !v.out.Scan() {
		return errors.Join(errors.New("no answer"), v.out.Err())
	}
	return json.Unmarshal(v.out.Bytes(), out)
}

func (v *lineVerifier) Verify(_ context.Context, token string) (verdict, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := io.WriteString(v.stdin, token+"\n"); err != nil {
		return verdict{}, fmt.Errorf("%s: %v\nstderr: %s", v.name, err, v.stderr)
	}
	var ans struct {
		OK             bool
		Reason, Detail string
	}
	if err := v.readLine(&ans); err != nil {
		return verdict{}, fmt.Errorf("%s: %v\nstderr: %s", v.name, err, v.stderr)
	}
	return verdict{OK: ans.OK, Reason: ans.Reason, Detail: ans.Detail}, nil
}

// ExpireCache asks the process to refresh its JWK Set as its cache
// lifetime running out would.
func (v *lineVerifier) ExpireCache(ctx context.Context) error {
	d, err := v.Verify(ctx, "!expire-cache")
	if err == nil && !d.OK {
		err = fmt.Errorf("%s: refreshing the cache failed: %s", v.name, d.Detail)
	}
	return err
}

// Close ends the process by closing its input.
func (v *lineVerifier) Close() {
	_ = v.stdin.Close()
	done := make(chan struct{})
	go func() { _ = v.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-done
	}
}

func newPyJWT(_ context.Context, e *env) (verifier, error) {
	return startLineVerifier(e, debianPython, "testdata/python/pyjwt_verify.py", e.Issuer, e.Audience, strings.Join(suiteAlgorithms, ","))
}

func newJose(_ context.Context, e *env) (verifier, error) {
	return startLineVerifier(e, "node", filepath.Join(nodeDir, "verify.mjs"), e.Issuer, e.Audience)
}

// decodeJSON unmarshals a script's output, failing with the text.
func decodeJSON(t testing.TB, what string, data []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s printed %q: %v", what, data, err)
	}
}
