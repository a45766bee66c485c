//go:build unix

// Command tokenwright-bench measures tokenwright on this machine.
//
// It starts a real tokenwright server as a child process on 127.0.0.1 (or
// targets one you started, on a loopback address only), seeds accounts and
// keys, drives one endpoint with keep-alive workers for a bounded time, and
// prints throughput, latency percentiles, errors and the server's memory,
// beside the raw signing rate of the same algorithm measured in the same
// run on the same cores.
//
//	tokenwright-bench -mode token -alg RS256 -workers 8 -duration 10s
//	tokenwright-bench -mode token -alg ES256 -rate 2000        # latency at a fixed rate
//	tokenwright-bench -mode token -keys 1000000                 # flat cost at a million keys
//	tokenwright-bench -store etcd -mode revoke -revocations 200 # revocation on replica A seen by replica B
//	tokenwright-bench -mode jwks | -mode discovery | -mode introspect | -mode keycreate
//	tokenwright-bench -tls -tls-cert rsa2048|p256 -tls-conn keepalive|new|resume   # over HTTPS
//	tokenwright-bench -store etcd -etcd-members 3               # on a loopback etcd cluster it starts
//	tokenwright-bench -target http://127.0.0.1:5556 -token-url /token -client-id ID -client-secret S -target-pid PID
//	                                                            # a server it did not start (scripts/peers: Dex)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childServeArg {
		if err := serveChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	mode        string
	client      string
	alg         string
	workers     int
	duration    time.Duration
	rate        float64
	keys        int
	target      string
	adminToken  string
	json        bool
	signFor     time.Duration
	dataDir     string
	cpuProfile  string
	revocations int    // with -mode revoke: keys created, revoked and probed
	tls         bool   // the started server serves HTTPS with its own certificate
	tlsCert     string // its key type: rsa2048 or p256
	tlsConn     string // keepalive, new or resume
	store       string // bolt or etcd
	etcdMembers int    // with -store etcd: members of the started cluster
	etcdBinary  string // with -store etcd: the etcd executable
	etcdNoFsync bool   // with -store etcd: --unsafe-no-fsync
	// A -target the tool cannot seed (another server, see target.go).
	tokenPath    string // the token endpoint's path on the server
	clientID     string
	clientSecret string
	targetPID    int // the -target's process, measured like a started child
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("tokenwright-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.mode, "mode", "token", "what to drive: token, jwks, discovery, introspect, keycreate, revoke (with -store etcd: revocation propagation between two replicas)")
	fs.IntVar(&o.revocations, "revocations", 100, "with -mode revoke: how many keys to create on replica A, revoke there and probe on replica B")
	fs.StringVar(&o.client, "client", "raw", "load generator: raw (one keep-alive connection per worker, lightest) or nethttp (net/http's Transport)")
	fs.StringVar(&o.alg, "alg", "RS256", "signing algorithm of the server: RS256, ES256, EdDSA, ...")
	fs.IntVar(&o.workers, "workers", 2*runtime.GOMAXPROCS(0)+4, "concurrent keep-alive workers")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to drive the load")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop requests per second (0: as fast as the workers go)")
	fs.IntVar(&o.keys, "keys", 10, "API keys to seed (in one account); the load uses up to 1000 of them")
	fs.StringVar(&o.target, "target", "", "an already running server on a loopback address (default: start one)")
	fs.StringVar(&o.adminToken, "admin-token", "", "admin token for -target (seeding needs it)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.DurationVar(&o.signFor, "sign-duration", 3*time.Second, "how long to measure the raw signing rate")
	fs.StringVar(&o.dataDir, "data", "", "data directory for the started server, kept and reused across runs (default: a new temp dir)")
	fs.StringVar(&o.cpuProfile, "server-cpuprofile", "", "write the started server's CPU profile here (for go tool pprof)")
	fs.BoolVar(&o.tls, "tls", false, "the started server serves TLS with a throwaway CA's certificate; the load uses https")
	fs.StringVar(&o.tlsCert, "tls-cert", "p256", "with -tls: the server certificate's key, rsa2048 or p256")
	fs.StringVar(&o.tlsConn, "tls-conn", tlsKeepAlive, "with -tls: keepalive (one connection per worker), new (a connection and full handshake per request) or resume (a connection per request, TLS 1.3 session resumption)")
	fs.StringVar(&o.store, "store", storeBolt, "the started server's store: bolt (a file in the data directory) or etcd (a cluster the tool starts on 127.0.0.1)")
	fs.IntVar(&o.etcdMembers, "etcd-members", 3, "with -store etcd: members of the cluster")
	fs.StringVar(&o.etcdBinary, "etcd-binary", "", "with -store etcd: the etcd executable (default: $ETCD_BIN, etcd on PATH, /usr/bin/etcd)")
	fs.BoolVar(&o.etcdNoFsync, "etcd-no-fsync", false, "with -store etcd: run the members with --unsafe-no-fsync (a deployment keeps fsync on)")
	fs.StringVar(&o.tokenPath, "token-url", "/oauth/token", "the token endpoint's path on the server (Dex: /token under its issuer)")
	fs.StringVar(&o.clientID, "client-id", "", "with -target: drive the token endpoint as this existing client instead of seeding keys (no -admin-token needed)")
	fs.StringVar(&o.clientSecret, "client-secret", "", "with -client-id: its secret")
	fs.IntVar(&o.targetPID, "target-pid", 0, "with -target: the server's process id (it must hold the listening socket), to report its CPU per request and memory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch o.store {
	case storeBolt:
	case storeEtcd:
		// The tool starts the cluster and the server itself, both on
		// 127.0.0.1; it never points a server at a cluster elsewhere.
		if o.target != "" || o.dataDir != "" {
			return o, errors.New("-store etcd starts its own server and cluster on 127.0.0.1: no -target, no -data")
		}
		if o.etcdMembers < 1 {
			return o, errors.New("-etcd-members must be positive")
		}
	default:
		return o, fmt.Errorf("unknown -store %q (bolt, etcd)", o.store)
	}
	switch o.tlsConn {
	case tlsKeepAlive, tlsNew, tlsResume:
	default:
		return o, fmt.Errorf("unknown -tls-conn %q (keepalive, new, resume)", o.tlsConn)
	}
	switch o.tlsCert {
	case "rsa2048", "p256":
	default:
		return o, fmt.Errorf("unknown -tls-cert %q (rsa2048, p256)", o.tlsCert)
	}
	if o.tls && (o.client != "raw" || o.target != "") {
		return o, errors.New("-tls needs -client raw and a started server (no -target)")
	}
	switch o.client {
	case "raw", "nethttp":
	default:
		return o, fmt.Errorf("unknown -client %q (raw, nethttp)", o.client)
	}
	switch o.mode {
	case "token", "jwks", "discovery", "introspect", "keycreate":
	case modeRevoke:
		if err := checkRevokeFlags(o); err != nil {
			return o, err
		}
	default:
		return o, fmt.Errorf("unknown -mode %q (token, jwks, discovery, introspect, keycreate, revoke)", o.mode)
	}
	if o.workers < 1 || o.duration <= 0 || o.keys < 1 {
		return o, errors.New("-workers, -duration and -keys must be positive")
	}
	if o.target != "" {
		if err := requireLoopback(o.target); err != nil {
			return o, err
		}
	}
	if !strings.HasPrefix(o.tokenPath, "/") {
		return o, fmt.Errorf("-token-url must be a path starting with /, got %q", o.tokenPath)
	}
	return o, checkGivenClient(o)
}

// requireLoopback refuses any target that is not on this machine.
func requireLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-target must be a URL, got %q", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-target must be a loopback address (127.0.0.0/8, ::1, localhost), got %q", host)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	if o.mode == modeRevoke {
		return runRevoke(ctx, o, out)
	}
	res := result{Mode: o.mode, Algorithm: o.alg, Workers: o.workers, Keys: o.keys, Cores: runtime.GOMAXPROCS(0),
		TargetRate: o.rate, Target: o.target}
	if o.clientID != "" {
		res.Keys = 1 // the one given client
	}
	if o.target == "" {
		res.Store = o.store
		if o.store == storeEtcd {
			res.EtcdMembers, res.EtcdFsync = o.etcdMembers, !o.etcdNoFsync
		}
	}
	if o.tls {
		res.TLSCert, res.TLSConn = o.tlsCert, o.tlsConn
	}

	var srv *child
	var proc serverProcess // what "server CPU" and "server RSS" measure
	target, admin := o.target, o.adminToken
	if target == "" {
		if srv, err = startChild(ctx, o); err != nil {
			return err
		}
		defer srv.stop()
		proc = srv
		target, admin = srv.url, srv.adminToken
		res.StartupToReady = srv.startup.Seconds()
		res.SeedSeconds = srv.seedTime.Seconds()
	} else if o.targetPID != 0 {
		if err := checkListens(o.targetPID, target); err != nil {
			return err
		}
		proc, res.TargetPID = pidProcess(o.targetPID), o.targetPID
	}
	lg, err := newLoad(ctx, o, target, admin, srv)
	if err != nil {
		return err
	}

	// Raw signing is measured before and after the load and averaged: on
	// a shared (virtual) machine the cores' speed drifts, and a single
	// window either side would carry that drift into every ratio. The two
	// are reported, and a spread over 10 % is flagged.
	if o.mode == "token" {
		res.RawSignsBefore = rawSignRate(o.alg, o.signFor)
	}
	var serverCPU, clientCPU float64
	if proc != nil {
		serverCPU, clientCPU = proc.cpuSeconds(), selfCPUSeconds()
	}
	var logFrom int64
	if srv != nil {
		logFrom = srv.logSize()
	}
	stats, err := lg.drive(ctx)
	if err != nil {
		return err
	}
	res.fill(stats)
	if path := o.endpointPath(); srv != nil && path != "" {
		handler, err := srv.handlerLatencies(logFrom, path)
		if err != nil {
			return fmt.Errorf("reading the server's handler times: %w", err)
		}
		res.fillHandler(handler)
	}
	if proc != nil && stats.ok > 0 {
		serverCPU, clientCPU = proc.cpuSeconds()-serverCPU, selfCPUSeconds()-clientCPU
	}
	// After the CPU accounting, which must not count it.
	if o.mode == "token" {
		res.RawSignsAfter = rawSignRate(o.alg, o.signFor)
		res.RawSignsPerSec = (res.RawSignsBefore + res.RawSignsAfter) / 2
	}
	if proc != nil && stats.ok > 0 {
		res.ServerCPUus, res.ClientCPUus = 1e6*serverCPU/float64(stats.ok), 1e6*clientCPU/float64(stats.ok)
		if serverCPU > 0 {
			res.ServerCapacity = float64(stats.ok) / serverCPU * float64(res.Cores)
			if res.RawSignsPerSec > 0 {
				res.ServerCapacityRaw = res.ServerCapacity / res.RawSignsPerSec
			}
		}
	}
	if res.RawSignsPerSec > 0 {
		res.Ratio = res.PerSec / res.RawSignsPerSec
	}
	if proc != nil {
		res.ServerRSSMB, res.ServerPeakRSSMB = proc.rss()
	}
	return report(out, o.json, &res)
}
