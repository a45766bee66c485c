package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

// BinaryEnv names the environment variable with the path of a tokenwright
// binary built from this tree: .ci/run builds it once per run and every
// package whose tests run the real binary uses it. Without it the binary is
// built here, once per test process, on first use.
const BinaryEnv = "TOKENWRIGHT_TEST_BINARY"

var (
	tempDir    string // this process's scratch directory
	buildOnce  sync.Once
	binaryPath string
	buildErr   error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokenwright-cli")
	if err != nil {
		panic(err)
	}
	tempDir = dir
	// `tokenwright token` caches tokens in the user cache directory: keep
	// the tests' tokens out of the developer's. Go's build cache defaults
	// to the same directory: pin it first, or every `go build` these tests
	// run would start from an empty cache and recompile every package (the
	// stamped build in TestVersionCommand took three minutes so).
	if os.Getenv("GOCACHE") == "" {
		if user, err := os.UserCacheDir(); err == nil {
			os.Setenv("GOCACHE", filepath.Join(user, "go-build"))
		}
	}
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	// `tokenwright login` stores sign-ins in the user config directory,
	// and admin commands read them: keep the developer's out of the tests.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	code := m.Run()
	ssotest.Cleanup() // the example OpenID provider built by the sign-in and sso check tests
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliBinary is the real tokenwright binary, which every test that runs it
// gets here: under -short (the fast layer) those tests are skipped, since
// building and starting real processes is what makes them slow.
func cliBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	buildOnce.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			binaryPath = p
			return
		}
		binaryPath = filepath.Join(tempDir, "tokenwright")
		if out, err := releaseLikeBuild("-o", binaryPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the binary: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binaryPath
}

// releaseLikeBuild is `go build` with the release program's settings
// (static, -trimpath), the binary users run, and the settings .ci/run
// builds and vets with: the packages are compiled once and each of these
// builds only links.
func releaseLikeBuild(args ...string) *exec.Cmd {
	cmd := exec.Command("go", append([]string{"build", "-trimpath"}, args...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// daemon is a `tokenwright serve` process.
type daemon struct {
	cmd    *exec.Cmd
	url    string
	data   string
	stdout *syncBuffer
	stderr *syncBuffer
	// exited is closed once the process has ended, waitErr then holds
	// what Wait returned; tests call wait, never cmd.Wait.
	exited  chan struct{}
	waitErr error
}

// wait waits for the daemon to end and returns what exec.Cmd.Wait returned.
func (d *daemon) wait() error {
	<-d.exited
	return d.waitErr
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startDaemon(t *testing.T, data string, extraEnv ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, freeAddr, data, extraEnv...)
}

// startDaemonOn is startDaemon with the address picker given (a test
// hands it one that is taken).
func startDaemonOn(t *testing.T, pickAddr func(*testing.T) string, data string, extraEnv ...string) *daemon {
	t.Helper()
	// freeAddr's port is free when it returns, not when the daemon binds
	// it: another process (an etcd member, a parallel test's server) may
	// take it in between. A daemon that lost its port that way is started
	// again on another; any other exit fails the test.
	for attempt := 1; ; attempt++ {
		addr := pickAddr(t)
		d := launchDaemon(t, addr, data, extraEnv)
		eventually.Nil(t, 20*time.Second, "server ready", func() error {
			select {
			case <-d.exited:
				return nil
			default:
				return answers200(d.url+"/readyz", d.stderr)
			}
		})
		select {
		case <-d.exited:
			if strings.Contains(d.stderr.String(), "address already in use") && attempt < 5 {
				t.Logf("port %s taken before the daemon bound it; starting again", addr)
				continue
			}
			t.Fatalf("the daemon exited before it was ready:\n%s", d.stderr)
		default:
			return d
		}
	}
}

// launchDaemon starts `tokenwright serve` on addr and reaps it in the
// background (d.exited, d.wait); the test's cleanup kills it.
func launchDaemon(t *testing.T, addr, data string, env []string) *daemon {
	t.Helper()
	d := &daemon{url: "http://" + addr, data: data, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(cliBinary(t), "serve", "--data", data, "--listen", addr, "--issuer", d.url)
	d.cmd.Env = append(cleanEnv(), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); <-d.exited })
	return d
}

// answers200 is nil once url answers 200; its error carries the child's log.
// It gives up on a probe without an answer: a port taken by another process
// may accept the connection and never speak HTTP.
func answers200(url string, log fmt.Stringer) error {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return fmt.Errorf("%v\n%s", err, log)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d\n%s", resp.StatusCode, log)
	}
	return nil
}

// cleanEnv drops TOKENWRIGHT_* variables of the developer's shell.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKENWRIGHT_") {
			out = append(out, kv)
		}
	}
	return out
}

// run executes the CLI and returns stdout; it fails the test on error
// unless wantErr is set, in which case it returns stderr.
func run(t *testing.T, env []string, wantErr bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if wantErr {
		if err == nil {
			t.Fatalf("tokenwright %v succeeded, want failure; stdout: %s", args, stdout.String())
		}
		return stderr.String()
	}
	if err != nil {
		t.Fatalf("tokenwright %v: %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.String()
}

// A port taken between picking it and the daemon's bind (another process
// got there first) costs a restart on another port, not the test.
func TestStartDaemonRetriesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	pick := func(t *testing.T) string {
		picks++
		if picks == 1 {
			return taken.Addr().String()
		}
		return freeAddr(t)
	}
	d := startDaemonOn(t, pick, filepath.Join(t.TempDir(), "data"))
	if picks != 2 || d.url == "http://"+taken.Addr().String() {
		t.Fatalf("picks %d, daemon at %s; want a second pick, not the taken %s", picks, d.url, taken.Addr())
	}
	if err := answers200(d.url+"/readyz", d.stderr); err != nil {
		t.Fatal(err)
	}
}

func TestCLIWalkThrough(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	// The bootstrap token is in DATA/admin.token, named by the log, and
	// neither in the log nor on a stdout that is not a terminal.
	if strings.Contains(d.stderr.String()+d.stdout.String(), "twp_") || !strings.Contains(d.stderr.String(), "admin.token") {
		t.Fatalf("serve's output and the bootstrap token:\nstdout: %s\nstderr: %s", d.stdout, d.stderr)
	}
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}

	run(t, env, false, "sa", "create", "ci-bot", "--email", "ci-bot@example.com", "--notes-name", "CN=ci-bot/O=Acme",
		"--role", "deployer", "--scope", "Domino.user.all", "--scope", "$DATA", "--audience", "https://domino.example.com")
	out := run(t, env, false, "key", "create", "ci-bot", "--name", "pipeline", "--expires-in", "30d", "-o", "json")
	var key map[string]any
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatalf("key create -o json printed %q: %v", out, err)
	}
	for _, field := range []string{"id", "name", "clientId", "clientSecret", "createdAt", "expiresAt"} {
		if key[field] == nil || key[field] == "" {
			t.Fatalf("key create -o json lacks %s: %v", field, key)
		}
	}
	secret := key["clientSecret"].(string)

	table := run(t, env, false, "key", "list", "ci-bot")
	if !strings.Contains(table, "pipeline") || !strings.Contains(table, "STATUS") || strings.Contains(table, secret) {
		t.Fatalf("key list table:\n%s", table)
	}
	if list := run(t, env, false, "sa", "list", "-o", "json"); !strings.Contains(list, `"userName": "ci-bot"`) {
		t.Fatalf("sa list -o json:\n%s", list)
	}

	jwt := strings.TrimSpace(run(t, append(env, "TOKENWRIGHT_CLIENT_SECRET="+secret), false,
		"token", "--client-id", "ci-bot", "--scope", "Domino.user.all"))
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, d.url)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "https://domino.example.com"}).Verify(ctx, jwt)
	if err != nil {
		t.Fatalf("token printed by the CLI does not verify: %v", err)
	}
	var claims struct {
		Scope, Email string
	}
	_ = idt.Claims(&claims)
	if claims.Scope != "Domino.user.all" || claims.Email != "ci-bot@example.com" {
		t.Fatalf("claims %+v", claims)
	}

	errOut := run(t, append(env, "TOKENWRIGHT_CLIENT_SECRET="+servertest.WrongSecret(secret)), true, "token", "--client-id", "ci-bot")
	if !strings.Contains(errOut, "invalid_client") {
		t.Fatalf("bad secret: %s", errOut)
	}
	errOut = run(t, env, true, "sa", "create", "ci-bot", "--email", "x@example.com")
	if !strings.Contains(errOut, "already_exists") {
		t.Fatalf("duplicate: %s", errOut)
	}
	if audit := run(t, env, false, "audit"); !strings.Contains(audit, "key.create") {
		t.Fatalf("audit:\n%s", audit)
	}

	// SIGTERM drains and exits cleanly.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM\n%s", err, d.stderr)
	}
	if strings.Contains(d.stderr.String(), secret) {
		t.Fatal("the server log contains a client secret")
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	out := run(t, nil, true, "serve", "--data", t.TempDir(), "--issuer", "http://idp.example.com")
	if !strings.Contains(out, "issuer") || !strings.Contains(out, "https") {
		t.Fatalf("plain-http public issuer: %s", out)
	}
	out = run(t, []string{"TOKENWRIGHT_TOKENS_LIFETME=5m"}, true, "serve", "--data", t.TempDir())
	if !strings.Contains(out, "TOKENWRIGHT_TOKENS_LIFETME") {
		t.Fatalf("misspelt env: %s", out)
	}
}

// runErr runs the CLI and returns its error (with stderr) or nil.
func runErr(t *testing.T, env []string, args ...string) error {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, stderr.String())
	}
	return nil
}
