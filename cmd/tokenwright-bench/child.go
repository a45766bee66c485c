//go:build unix

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
)

// childServeArg makes this binary run the server instead of the benchmark,
// so that the server is measured in its own process (its own RSS, its own
// scheduler) exactly as `tokenwright serve` runs it.
const childServeArg = "__serve"

func serveChild(args []string) error {
	fs := flag.NewFlagSet(childServeArg, flag.ContinueOnError)
	data := fs.String("data", "", "")
	listen := fs.String("listen", "", "")
	alg := fs.String("alg", "RS256", "")
	logFile := fs.String("log", "", "")
	cpuProfile := fs.String("cpuprofile", "", "")
	tlsCert := fs.String("tls-cert", "", "")
	tlsKey := fs.String("tls-key", "", "")
	etcdEndpoints := fs.String("etcd-endpoints", "", "")
	kekFile := fs.String("kek-file", "", "") // a second replica shares the first one's KEK
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = pf.Close() }()
	}
	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.Issuer = *data, *listen, "http://"+*listen
	if *tlsCert != "" {
		cfg.TLS.Cert, cfg.TLS.Key, cfg.Issuer = *tlsCert, *tlsKey, "https://"+*listen
	}
	if *etcdEndpoints != "" { // the settings a deployment on etcd writes (store: etcd, etcd.endpoints)
		cfg.Store, cfg.Etcd.Endpoints = config.StoreEtcd, strings.Split(*etcdEndpoints, ",")
	}
	cfg.KEK.File = *kekFile
	server.TuneRuntime(os.Getenv, cfg.Store) // as `tokenwright serve` does
	cfg.Signing.Algorithm = *alg
	// The benchmark drives one client from one address far above the
	// default abuse limits; it measures the token path, not the limiter.
	cfg.Limits.Enabled = false
	f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// Info level, JSON to a file: what a production server writes.
	log := zerolog.New(f).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	slog.SetDefault(slog.New(zerolog.NewSlogHandler(log))) // zitadel/oidc logs through slog
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { // the parent closes our stdin to stop us
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		stop()
	}()
	return server.Run(ctx, cfg, server.Options{Logger: log, Environ: func(string) string { return "" }})
}

// child is a server process started by the benchmark.
type child struct {
	cmd        *exec.Cmd
	stdin      interface{ Close() error }
	url        string
	dataDir    string
	adminToken string
	startup    time.Duration
	seedTime   time.Duration
	ownDir     bool
	pki        *benchPKI    // with -tls
	etcd       *etcdCluster // with -store etcd
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startChild seeds a data directory (offline, straight into the store,
// when many keys are wanted) and starts the server on it.
func startChild(ctx context.Context, o options) (*child, error) {
	c := &child{dataDir: o.dataDir}
	if c.dataDir == "" {
		dir, err := os.MkdirTemp("", "tokenwright-bench")
		if err != nil {
			return nil, err
		}
		c.dataDir, c.ownDir = dir, true
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	c.url = "http://" + addr
	extraArgs := []string{}
	if o.tls {
		if c.pki, err = writePKI(c.dataDir, o.tlsCert); err != nil {
			return nil, err
		}
		c.url = "https://" + addr
		extraArgs = []string{"-tls-cert", c.pki.certFile, "-tls-key", c.pki.keyFile}
	}
	var endpoints []string
	if o.store == storeEtcd {
		bin, err := etcdBinary(o.etcdBinary)
		if err != nil {
			c.stop()
			return nil, err
		}
		if c.etcd, err = startEtcd(ctx, bin, o.etcdMembers, c.dataDir, !o.etcdNoFsync); err != nil {
			c.stop()
			return nil, err
		}
		endpoints = c.etcd.endpoints
		extraArgs = append(extraArgs, "-etcd-endpoints", strings.Join(endpoints, ","))
	}
	seedStart := time.Now()
	if err := seedOffline(ctx, c.dataDir, endpoints, o.keys); err != nil {
		c.stop()
		return nil, fmt.Errorf("seeding: %w", err)
	}
	c.seedTime = time.Since(seedStart)

	args := append([]string{"-data", c.dataDir, "-listen", addr, "-alg", o.alg,
		"-log", filepath.Join(c.dataDir, "server.log"), "-cpuprofile", o.cpuProfile}, extraArgs...)
	if err := c.spawn(ctx, args); err != nil {
		c.stop()
		return nil, err
	}
	token, err := os.ReadFile(filepath.Join(c.dataDir, server.AdminTokenFile))
	if err != nil {
		c.stop()
		return nil, err
	}
	c.adminToken = strings.TrimSpace(string(token))
	return c, nil
}

// spawn starts this binary as the server with args (serveChild's flags)
// and waits until it answers /readyz at c.url, which it records as
// c.startup.
func (c *child) spawn(ctx context.Context, args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c.cmd = exec.CommandContext(ctx, self, append([]string{childServeArg}, args...)...)
	c.cmd.Stderr = os.Stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		return err
	}
	c.stdin = stdin
	start := time.Now()
	if err := c.cmd.Start(); err != nil {
		return err
	}
	if err := waitReady(ctx, c.url, c.roots()); err != nil {
		return err
	}
	c.startup = time.Since(start)
	return nil
}

// roots are the CAs to trust for the child's https URL (nil: the system's).
func (c *child) roots() *x509.CertPool {
	if c == nil || c.pki == nil {
		return nil
	}
	return c.pki.roots
}

func waitReady(ctx context.Context, base string, roots *x509.CertPool) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return errors.New("the server did not become ready within 60s")
}

// rss returns the server's current and peak resident memory in MB.
func (c *child) rss() (current, peak float64) { return procRSS(c.cmd.Process.Pid) }

// procRSS returns a process's current and peak resident memory in MB.
func procRSS(pid int) (current, peak float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			current = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return current, peak
}

// cpuSeconds is the server process's user+system CPU time so far.
func (c *child) cpuSeconds() float64 { return procCPUSeconds(c.cmd.Process.Pid) }

// procCPUSeconds is a process's user+system CPU time so far.
func procCPUSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields overall, in clock ticks (USER_HZ = 100).
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

// selfCPUSeconds is this process's user+system CPU time so far.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func (c *child) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.stdin.Close()
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
	}
	if c.etcd != nil {
		c.etcd.stop()
	}
	if c.ownDir {
		_ = os.RemoveAll(c.dataDir)
	}
}
