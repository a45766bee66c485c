//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// createClient makes a service account and one key on a running
// tokenwright through its admin API, as an operator would, and returns
// the client id and secret.
func createClient(t *testing.T, srv *child, name string) (id, secret string) {
	t.Helper()
	call := func(path, body string) []byte {
		req, _ := http.NewRequest(http.MethodPost, srv.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: HTTP %d %s", path, resp.StatusCode, out)
		}
		return out
	}
	call("/api/v1/service-accounts", fmt.Sprintf(`{"userName":%q,"email":"%s@example.com"}`, name, name))
	var key struct{ ClientSecret string }
	if err := json.Unmarshal(call("/api/v1/service-accounts/"+name+"/keys", `{"name":"peer"}`), &key); err != nil || key.ClientSecret == "" {
		t.Fatalf("no client secret: %v", err)
	}
	return name, key.ClientSecret
}

// startTarget starts a tokenwright the way an operator would have it
// running for -target: the tool's own child process, but driven below only
// through its URL, a client created through the admin API and its pid.
func startTarget(t *testing.T, alg string) *child {
	t.Helper()
	o, err := parseFlags([]string{"-alg", alg, "-keys", "1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startChild(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return srv
}

// A server the tool did not start is driven with a client it did not
// create: every token request succeeds (a wrong secret would fail each
// one), and -target-pid gives server CPU and memory from that process, as
// for a started child.
func TestTargetWithGivenClient(t *testing.T) {
	srv := startTarget(t, "ES256")
	id, secret := createClient(t, srv, "peer-client")
	pid := srv.cmd.Process.Pid
	var out bytes.Buffer
	args := []string{"-target", srv.url, "-client-id", id, "-client-secret", secret, "-target-pid", fmt.Sprint(pid),
		"-alg", "ES256", "-duration", "300ms", "-sign-duration", "50ms", "-workers", "2", "-json"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if r.Requests == 0 || r.Errors != 0 || r.Keys != 1 || r.Target != srv.url || r.TargetPID != pid {
		t.Fatalf("result %+v", r)
	}
	if r.ServerCPUus <= 0 || r.ServerCapacity <= 0 || r.ServerRSSMB <= 0 || r.RawSignsPerSec <= 0 || r.Ratio <= 0 {
		t.Fatalf("no server measurements: %+v", r)
	}
	if r.StartupToReady != 0 || r.SeedSeconds != 0 || r.Store != "" {
		t.Fatalf("a target the tool did not start reported as started: %+v", r)
	}

	// Without -target-pid: the load runs, and no server figure is made up.
	out.Reset()
	args = []string{"-target", srv.url, "-client-id", id, "-client-secret", secret,
		"-alg", "ES256", "-duration", "200ms", "-sign-duration", "50ms", "-workers", "2", "-json"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	r = result{}
	_ = json.Unmarshal(out.Bytes(), &r)
	if r.Requests == 0 || r.Errors != 0 || r.ServerCPUus != 0 || r.ServerRSSMB != 0 {
		t.Fatalf("result without -target-pid %+v", r)
	}
}

// What would make a comparison wrong is refused before any load: a wrong
// secret, a server signing with another algorithm than -alg (the ratio to
// raw signing would compare algorithms), a pid that is not the server's
// (its CPU would be reported as the server's), a wrong token path.
func TestTargetRefusesWhatWouldMismeasure(t *testing.T) {
	srv := startTarget(t, "ES256")
	id, secret := createClient(t, srv, "peer-client")
	base := []string{"-target", srv.url, "-duration", "100ms", "-sign-duration", "10ms", "-workers", "1"}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong secret", []string{"-client-id", id, "-client-secret", secret + "x", "-alg", "ES256"}, "HTTP 401"},
		{"other algorithm", []string{"-client-id", id, "-client-secret", secret, "-alg", "RS256"}, "signs its tokens with ES256, not -alg RS256"},
		{"not the server's pid", []string{"-client-id", id, "-client-secret", secret, "-alg", "ES256", "-target-pid", fmt.Sprint(os.Getpid())}, "does not hold the socket listening"},
		{"wrong token path", []string{"-client-id", id, "-client-secret", secret, "-alg", "ES256", "-token-url", "/no-such-endpoint"}, "/no-such-endpoint: HTTP 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := run(context.Background(), append(append([]string{}, base...), c.args...), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestGivenClientFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-client-id", "a", "-client-secret", "b"},                                                   // no -target
		{"-target", "http://127.0.0.1:1", "-client-id", "a"},                                         // no secret
		{"-target", "http://127.0.0.1:1", "-client-secret", "b"},                                     // no id
		{"-target", "http://127.0.0.1:1", "-client-id", "a", "-client-secret", "b", "-mode", "jwks"}, // token mode only
		{"-target-pid", "1"}, // a started child is measured anyway
		{"-target", "http://127.0.0.1:1", "-token-url", "token"},                     // a path
		{"-target", "http://10.0.0.1:1", "-client-id", "a", "-client-secret", "b"},   // loopback only, as before
		{"-target", "https://127.0.0.1:1", "-client-id", "a", "-client-secret", "b"}, // TLS only to a started server
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	o, err := parseFlags([]string{"-target", "http://127.0.0.1:5556", "-token-url", "/token", "-client-id", "a",
		"-client-secret", "b", "-target-pid", "42"}, &bytes.Buffer{})
	if err != nil || o.tokenPath != "/token" || o.clientID != "a" || o.clientSecret != "b" || o.targetPID != 42 {
		t.Fatalf("%+v %v", o, err)
	}
}
