//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the benchmark binary: the
// benchmark re-executes itself with __serve to start the server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childServeArg {
		if err := serveChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The tool itself is tested for correctness with tiny, bounded runs; the
// numbers it prints are for people (README, docs/performance.md), never
// asserted.
func TestModesProduceResults(t *testing.T) {
	for _, mode := range []string{"token", "jwks", "discovery", "introspect", "keycreate"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			args := []string{"-mode", mode, "-duration", "300ms", "-sign-duration", "100ms", "-workers", "2", "-keys", "20", "-json"}
			if err := run(context.Background(), args, &out); err != nil {
				t.Fatal(err)
			}
			var r result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if r.Requests == 0 || r.Errors != 0 || r.P99ms <= 0 || r.ServerRSSMB <= 0 || r.StartupToReady <= 0 {
				t.Fatalf("result %+v", r)
			}
			if mode == "token" && (r.RawSignsPerSec <= 0 || r.Ratio <= 0) {
				t.Fatalf("no signing ceiling: %+v", r)
			}
			// The server's own handler time of each request is part of
			// the latency the generator sees, so it is no larger at any
			// percentile.
			if mode != "keycreate" && (r.HandlerP50ms <= 0 || r.HandlerP99ms > r.P99ms+0.001 || r.HandlerMaxMs > r.MaxMs+0.001) {
				t.Fatalf("server handler p50 %v p99 %v max %v against latency p99 %v max %v", r.HandlerP50ms, r.HandlerP99ms, r.HandlerMaxMs, r.P99ms, r.MaxMs)
			}
			// The ceiling is the mean of the measurements before and
			// after the load, both reported.
			if mode == "token" && (r.RawSignsBefore <= 0 || r.RawSignsAfter <= 0 ||
				math.Abs(r.RawSignsPerSec-(r.RawSignsBefore+r.RawSignsAfter)/2) > 1e-6*r.RawSignsPerSec) {
				t.Fatalf("raw signing %v is not the mean of %v before and %v after", r.RawSignsPerSec, r.RawSignsBefore, r.RawSignsAfter)
			}
		})
	}
}

func TestOpenLoopRate(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-mode", "jwks", "-duration", "1s", "-rate", "200", "-workers", "4", "-json"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	var r result
	_ = json.Unmarshal(out.Bytes(), &r)
	// 200/s for 1 s: the dispatcher, not the workers, sets the pace.
	if r.Requests < 150 || r.Requests > 210 {
		t.Fatalf("open loop at 200/s made %d requests", r.Requests)
	}
	// Latency from the due moment = release lag + latency from the
	// release, so neither part can exceed the whole, and the lag is never
	// negative.
	if r.FromReleaseP50ms <= 0 || r.FromReleaseMaxMs > r.MaxMs+1e-9 || r.ReleaseLagP50ms < 0 || r.ReleaseLagP99ms > r.MaxMs+1e-9 {
		t.Fatalf("from release p50 %v max %v, release lag p50 %v p99 %v, latency max %v",
			r.FromReleaseP50ms, r.FromReleaseMaxMs, r.ReleaseLagP50ms, r.ReleaseLagP99ms, r.MaxMs)
	}
}

func TestRefusesNonLoopbackTargets(t *testing.T) {
	for _, target := range []string{"http://10.0.0.1:8080", "https://example.com", "http://192.168.1.1"} {
		if _, err := parseFlags([]string{"-target", target}, &bytes.Buffer{}); err == nil {
			t.Errorf("target %s accepted", target)
		}
	}
	for _, target := range []string{"http://127.0.0.1:8080", "http://[::1]:9000", "http://localhost:1"} {
		if _, err := parseFlags([]string{"-target", target}, &bytes.Buffer{}); err != nil {
			t.Errorf("target %s refused: %v", target, err)
		}
	}
}

// -tls serves the child over HTTPS with each certificate type; keepalive
// makes one handshake per worker, new a full handshake per request and
// never resumes, resume a full handshake per worker and then resumes.
func TestTLSConnectionModes(t *testing.T) {
	const workers = 2
	for _, cert := range []string{"p256", "rsa2048"} {
		for _, conn := range []string{tlsKeepAlive, tlsNew, tlsResume} {
			t.Run(cert+"/"+conn, func(t *testing.T) {
				var out bytes.Buffer
				args := []string{"-tls", "-tls-cert", cert, "-tls-conn", conn, "-alg", "ES256", "-duration", "300ms",
					"-sign-duration", "50ms", "-workers", fmt.Sprint(workers), "-keys", "5", "-json"}
				if err := run(context.Background(), args, &out); err != nil {
					t.Fatal(err)
				}
				var r result
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					t.Fatalf("output %q: %v", out.String(), err)
				}
				if r.Requests == 0 || r.Errors != 0 || r.ServerCPUus <= 0 || r.TLSCert != cert || r.TLSConn != conn {
					t.Fatalf("result %+v", r)
				}
				full, resumed := r.TLSFullHandshakes, r.TLSResumedHandshakes
				switch conn {
				case tlsKeepAlive:
					if full != workers || resumed != 0 {
						t.Fatalf("keepalive: %d full, %d resumed handshakes for %d workers", full, resumed, workers)
					}
				case tlsNew:
					if resumed != 0 || full < r.Requests {
						t.Fatalf("new: %d full, %d resumed handshakes for %d requests", full, resumed, r.Requests)
					}
				case tlsResume:
					// One full handshake per worker gets the first ticket;
					// the rest resume (a worker may need one more full one
					// if its first connection closed before the ticket).
					if full < workers || full > 2*workers || resumed == 0 || full+resumed < r.Requests {
						t.Fatalf("resume: %d full, %d resumed handshakes for %d requests", full, resumed, r.Requests)
					}
				}
			})
		}
	}
}

// docs/performance.md says a TLS tokenwright offers HTTP/2 by ALPN: an
// HTTP/2 client gets HTTP/2 from the server the benchmark starts.
func TestTLSServerSpeaksHTTP2(t *testing.T) {
	o, err := parseFlags([]string{"-tls", "-keys", "1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startChild(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.roots()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.ProtoMajor != 2 || resp.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("got %s over TLS %v", resp.Proto, resp.TLS != nil)
	}
}

// -store etcd starts a 3-member cluster on 127.0.0.1 (fsync on), seeds the
// keys into it and nowhere else, and serves tokens from it: a token issued
// with a seeded key proves the server read the key from etcd.
func TestEtcdStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real etcd cluster; skipped with -short")
	}
	if _, err := etcdBinary(""); err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var out bytes.Buffer
	args := []string{"-store", "etcd", "-etcd-members", "3", "-mode", "token", "-duration", "1s",
		"-sign-duration", "50ms", "-workers", "2", "-keys", "5", "-json"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if r.Requests == 0 || r.Errors != 0 || r.Store != storeEtcd || r.EtcdMembers != 3 || !r.EtcdFsync {
		t.Fatalf("result %+v", r)
	}
}

func TestEtcdStoreFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-store", "etcd", "-target", "http://127.0.0.1:8080"}, // the tool starts both, on loopback
		{"-store", "etcd", "-data", t.TempDir()},               // a kept seed would not be in the new cluster
		{"-store", "etcd", "-etcd-members", "0"},
		{"-store", "postgres"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// -mode revoke starts two replicas on a real 3-member cluster, keeps B
// under token load, and revokes -revocations keys through A: every one is
// counted, every one is refused by B in the end, and no token is issued by
// B to a request sent more than etcd.FreshnessBound after A answered (the
// promise of docs/high-availability.md), while the load meets no error.
func TestRevokeMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real etcd cluster and two servers; skipped with -short")
	}
	if _, err := etcdBinary(""); err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	const n = 10
	var out bytes.Buffer
	args := []string{"-store", "etcd", "-mode", "revoke", "-revocations", fmt.Sprint(n), "-alg", "ES256",
		"-workers", "2", "-keys", "5", "-json"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	var r revokeResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	t.Logf("%+v", r)
	switch {
	case r.Revocations != n || r.Replicas != 2 || r.EtcdMembers != 3 || !r.EtcdFsync:
		t.Fatalf("ran %d revocations on %d replicas, %d members (fsync %v); want %d on 2, 3 (fsync on)",
			r.Revocations, r.Replicas, r.EtcdMembers, r.EtcdFsync, n)
	case r.NeverRefused != 0:
		t.Fatalf("B did not refuse %d of %d revoked keys within %v of the revoke", r.NeverRefused, n, probeGiveUp)
	case r.RefusedP50ms <= 0 || r.RefusedMaxMs < r.RefusedP99ms || r.RevokeCallP50ms <= 0:
		t.Fatalf("implausible figures: %+v", r)
	case r.WindowMaxMs > r.BoundMs:
		t.Fatalf("B issued a token to a request sent %.1fms after A answered the revoke; the bound is %.0fms", r.WindowMaxMs, r.BoundMs)
	case r.RefusedBeforeUsable != 0:
		t.Fatalf("B refused a key A had created %d times (docs/high-availability.md: usable on B at once)", r.RefusedBeforeUsable)
	case r.LoadRequests == 0 || r.LoadErrors != 0:
		t.Fatalf("load on B: %d tokens, %d errors", r.LoadRequests, r.LoadErrors)
	}
}

func TestRevokeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "revoke"}, // needs two replicas on one cluster
		{"-mode", "revoke", "-store", "etcd", "-tls"},
		{"-mode", "revoke", "-store", "etcd", "-revocations", "0"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-mode", "revoke", "-store", "etcd", "-revocations", "3"}, &bytes.Buffer{}); err != nil {
		t.Error(err)
	}
}
