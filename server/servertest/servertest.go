// Package servertest starts real tokenwright servers for tests: a bbolt
// file in a temporary directory, a real listener on 127.0.0.1, and the
// complete HTTP handler. Other packages' tests (CLI, SDK, benchmarks) use
// it so that every test exercises the same assembly that `serve` runs.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
)

// Server is a running test server.
type Server struct {
	URL        string // the issuer, http://127.0.0.1:PORT
	Addr       string
	DataDir    string
	AdminToken string
	Config     config.Config
	Server     *server.Server
	logs       *LockedBuffer
	client     *http.Client

	cancel context.CancelFunc
	done   chan error
}

// Options tune Start.
type Options struct {
	// DataDir reuses a directory (restart tests); empty means a new temp dir.
	DataDir string
	// Addr listens on a specific address (restart tests keep the issuer).
	Addr string
	// Configure edits the configuration before the server starts.
	Configure func(*config.Config)
	// Now replaces the clock.
	Now func() time.Time
	// Monotonic replaces the process's own interval clock (default Now).
	Monotonic func() time.Time
	// Environ replaces the environment lookup (KEK tests).
	Environ func(string) string
	// HTTPClient is used by Do and DoRaw (default http.DefaultClient); a
	// TLS test server needs one that trusts the test CA.
	HTTPClient *http.Client
	// FederationClient fetches foreign issuers' keys (server.Options).
	FederationClient *http.Client
	// TLSTicketRefresh replaces how often the TLS session-ticket keys are
	// re-read (server.Options).
	TLSTicketRefresh time.Duration
}

// quietOIDC silences zitadel/oidc, which logs through the global slog
// default; each test server's own log is captured in Logs instead.
var quietOIDC sync.Once

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	quietOIDC.Do(func() { slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) })
	dir := opts.DataDir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "data")
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := listen(addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "http://" + ln.Addr().String()
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	if opts.Environ == nil {
		opts.Environ = func(string) string { return "" }
	}
	logs := &LockedBuffer{}
	var out io.Writer = logs
	if _, benchmark := t.(*testing.B); benchmark {
		// Benchmarks still format every log line, as production does, but
		// must not measure an ever-growing in-memory buffer.
		out = io.Discard
	}
	// The production logger (redaction included), JSON into the buffer.
	level := "info"
	if out == logs {
		level = "debug"
	}
	log, err := server.NewLogger(out, "json", level)
	if err != nil {
		_ = ln.Close()
		t.Fatalf("logger: %v", err)
	}
	srv, err := server.New(context.Background(), cfg, server.Options{Logger: log, Now: opts.Now, Monotonic: opts.Monotonic, Environ: opts.Environ,
		FederationClient: opts.FederationClient, TLSTicketRefresh: opts.TLSTicketRefresh})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{URL: cfg.Issuer, Addr: ln.Addr().String(), DataDir: dir, Config: cfg, Server: srv, logs: logs,
		client: opts.HTTPClient, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	if data, err := os.ReadFile(filepath.Join(dir, server.AdminTokenFile)); err == nil {
		s.AdminToken = strings.TrimSpace(string(data))
	}
	t.Cleanup(s.Stop)
	return s
}

// listen retries briefly: a restarted server re-binds its old port.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

// Stop shuts the server down and closes its store. It is idempotent.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		panic(fmt.Sprintf("servertest: serve: %v", err))
	}
	_ = s.Server.Close()
}

// Do sends an admin API request with the given bearer token and decodes a
// JSON answer into out (if not nil). It returns the status code.
func (s *Server) Do(t testing.TB, token, method, path string, in, out any) int {
	t.Helper()
	status, data := s.send(t, token, method, path, in)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return status
}

// DoRaw sends a request and returns the raw response body.
func (s *Server) DoRaw(t testing.TB, token, method, path string) string {
	t.Helper()
	_, data := s.send(t, token, method, path, nil)
	return string(data)
}

func (s *Server) send(t testing.TB, token, method, path string, in any) (int, []byte) {
	t.Helper()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// CreateAccount creates a service account as the administrator.
func (s *Server) CreateAccount(t testing.TB, in api.CreateServiceAccount) api.ServiceAccount {
	t.Helper()
	var out api.ServiceAccount
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts", in, &out); code != http.StatusCreated {
		t.Fatalf("creating account %s: HTTP %d", in.UserName, code)
	}
	return out
}

// CreateKey creates a key as the administrator and returns it with its secret.
func (s *Server) CreateKey(t testing.TB, account string, in api.CreateKey) api.KeyWithSecret {
	t.Helper()
	var out api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/"+account+"/keys", in, &out); code != http.StatusCreated {
		t.Fatalf("creating key for %s: HTTP %d", account, code)
	}
	return out
}

// Logs returns everything the server logged so far (JSON lines).
func (s *Server) Logs() string { return s.logs.String() }

// LockedBuffer is a buffer safe for concurrent writers: the server's log
// sink, and the stderr of processes tests start (exec's copier).
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WrongSecret returns secret with its last character changed to another
// one: the same shape, never the same value (appending a fixed letter would
// return the secret itself when it already ends in that letter).
func WrongSecret(secret string) string {
	if secret == "" {
		return "x"
	}
	last := secret[len(secret)-1]
	repl := byte('x')
	if last == 'x' {
		repl = 'y'
	}
	return secret[:len(secret)-1] + string(repl)
}

// httpClient is Options.HTTPClient, or http.DefaultClient.
func (s *Server) httpClient() *http.Client {
	if s.client == nil {
		return http.DefaultClient
	}
	return s.client
}
