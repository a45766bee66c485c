// Package etcdtest starts real etcd clusters on 127.0.0.1 for tests:
// random free ports, temporary data directories, and members that can be
// killed and restarted.
//
// Tests run against every etcd version listed in TOKENWRIGHT_ETCD_BINARIES
// (Each), because the versions differ in ways tokenwright must survive
// (etcd 3.4.23 answers a progress request while a watch still has
// undelivered events; later versions do not). Without that variable the one
// binary Binary finds is used. A missing binary is left out, and with none
// left the test is skipped, unless TOKENWRIGHT_TEST_STRICT=1 (CI), where it
// fails, and where at least two versions are required. With -short every
// test that needs a cluster is skipped.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tokenwright/tokenwright/internal/eventually"
)

// BinariesEnv names the environment variable listing the etcd binaries to
// test against, separated like PATH (.ci/run sets it to Debian's 3.4 and
// the 3.6 it builds with .ci/etcd36/build).
const BinariesEnv = "TOKENWRIGHT_ETCD_BINARIES"

// strictVersions is how many distinct etcd versions CI must test against.
const strictVersions = 2

func strict() bool { return os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" }

// missing skips t, or fails it under TOKENWRIGHT_TEST_STRICT=1.
func missing(t testing.TB, msg string) {
	t.Helper()
	if strict() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Binary finds the etcd executable: $ETCD_BIN, then PATH, then Debian's
// /usr/bin/etcd. A missing binary skips t, or fails it under
// TOKENWRIGHT_TEST_STRICT=1.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ETCD_BIN"); p != "" {
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	} else if p, err := exec.LookPath("etcd"); err == nil {
		return p
	} else if _, err := exec.LookPath("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd"
	}
	missing(t, "etcd binary not found (apt-get install etcd-server, or set ETCD_BIN)")
	return ""
}

// Version is one etcd server binary.
type Version struct {
	// Name is what `etcd --version` reports, e.g. "3.4.23".
	Name string
	Bin  string
}

var versionLine = regexp.MustCompile(`(?m)^etcd Version: (\S+)$`)

// version asks bin for its version.
func version(bin string) (Version, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return Version{}, err
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	m := versionLine.FindSubmatch(out)
	if err != nil || m == nil {
		return Version{}, fmt.Errorf("%s --version: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	return Version{Name: string(m[1]), Bin: bin}, nil
}

// Versions lists the etcd versions to test against: every binary in
// TOKENWRIGHT_ETCD_BINARIES, or else the one Binary finds. A listed binary
// that is missing is left out (logged), or fails t under
// TOKENWRIGHT_TEST_STRICT=1, which also fails with fewer than two
// distinct versions. With none at all t is skipped.
//
// Every etcd test reaches a cluster through here, so this is where -short
// (the fast test layer) skips them all: they start real etcd processes.
func Versions(t testing.TB) []Version {
	t.Helper()
	if testing.Short() {
		t.Skip("etcdtest: starts real etcd clusters; skipped with -short")
	}
	list := filepath.SplitList(os.Getenv(BinariesEnv))
	if len(list) == 0 {
		list = []string{Binary(t)}
	}
	var out []Version
	for _, bin := range list {
		v, err := version(bin)
		if err != nil {
			msg := fmt.Sprintf("etcdtest: %s lists %s: %v (.ci/etcd36/build builds etcd 3.6)", BinariesEnv, bin, err)
			if strict() {
				t.Fatal(msg)
			}
			t.Log(msg + "; not tested")
			continue
		}
		for _, o := range out {
			if o.Name == v.Name {
				t.Fatalf("etcdtest: %s lists etcd %s twice (%s, %s)", BinariesEnv, v.Name, o.Bin, v.Bin)
			}
		}
		out = append(out, v)
	}
	if strict() && len(out) < strictVersions {
		t.Fatalf("etcdtest: TOKENWRIGHT_TEST_STRICT=1 needs %d etcd versions, found %d: list them in %s (.ci/run does)", strictVersions, len(out), BinariesEnv)
	}
	if len(out) == 0 {
		missing(t, "etcdtest: no etcd binary to test against")
	}
	return out
}

// Each runs fn once per version in Versions, as a subtest named "etcd-" +
// the version.
func Each(t *testing.T, fn func(t *testing.T, v Version)) {
	t.Helper()
	for _, v := range Versions(t) {
		t.Run("etcd-"+v.Name, func(t *testing.T) { fn(t, v) })
	}
}

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	logPath   string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

// Cluster is a set of members started together.
type Cluster struct {
	Members []*Member
	bin     string
	initial string
	token   string
	extra   []string // flags every member starts with (StartWith)
	t       testing.TB
}

// Start starts an n-member cluster of the first version in Versions; tests
// that should run on every version use Each and Version.Start.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return Versions(t)[0].Start(t, n)
}

// Start starts an n-member cluster of version v and waits until it has a
// leader. The cluster is stopped when the test ends.
func (v Version) Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return v.StartWith(t, n)
}

// StartWith is Start with extra etcd flags for every member (such as a
// small --quota-backend-bytes).
func (v Version) StartWith(t testing.TB, n int, flags ...string) *Cluster {
	t.Helper()
	bin := v.Bin
	dir := t.TempDir()
	c := &Cluster{bin: bin, t: t, token: fmt.Sprintf("tw-%d", time.Now().UnixNano()), extra: flags}
	var peers []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: "http://" + freeAddr(t),
			PeerURL:   "http://" + freeAddr(t),
			DataDir:   filepath.Join(dir, fmt.Sprintf("m%d", i)),
			logPath:   filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
		}
		c.Members = append(c.Members, m)
		peers = append(peers, m.Name+"="+m.PeerURL)
	}
	c.initial = strings.Join(peers, ",")
	t.Cleanup(c.Stop)
	for i := range c.Members {
		c.startMember(i)
	}
	c.WaitHealthy(c.Endpoints()...)
	return c
}

// freeAddr reserves a free loopback port. The port is released before etcd
// binds it; a collision in that window fails loudly at startup.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (c *Cluster) startMember(i int) {
	c.t.Helper()
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		c.t.Fatalf("etcdtest: member %s is already running", m.Name)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, append([]string{
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", c.initial,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", c.token,
		// Short heartbeats make elections after a kill quick.
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		// No fsync: the faults the tests inject are process kills and
		// pauses, which lose nothing the kernel already holds (fsync only
		// guards against a machine crash, which no test simulates). With
		// fsync, a CI machine busy compiling stalled a one-member cluster's
		// commits for seconds, past the stores' 1.5-3 s request timeouts.
		"--unsafe-no-fsync",
	}, c.extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		c.t.Fatalf("etcdtest: starting %s: %v", m.Name, err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	exited := m.exited
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
}

// Endpoints are the client URLs of all members.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Kill stops member i abruptly (SIGKILL).
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// Pause freezes member i (SIGSTOP): it keeps its connections open but
// answers nothing, like a stalled process or machine. Resume undoes it.
// It returns once every thread of the member has stopped.
func (c *Cluster) Pause(i int) {
	c.t.Helper()
	c.signal(i, stopSignal)
	m := c.Members[i]
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	eventually.True(c.t, 10*time.Second, "etcdtest: member "+m.Name+" stopped", func() bool { return stopped(cmd.Process.Pid) })
}

// Resume continues a paused member (SIGCONT).
func (c *Cluster) Resume(i int) { c.signal(i, continueSignal) }

func (c *Cluster) signal(i int, sig syscall.Signal) {
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(sig)
	}
}

// Restart starts a killed member again on its data directory and waits
// until it answers.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.startMember(i)
}

// Stop kills every member.
func (c *Cluster) Stop() {
	for i := range c.Members {
		c.Kill(i)
	}
}

// Log returns member i's output (for failure messages).
func (c *Cluster) Log(i int) string {
	data, _ := os.ReadFile(c.Members[i].logPath)
	return string(data)
}

// WaitHealthy waits until a linearizable read through endpoints succeeds,
// that is until the cluster has a leader and a quorum.
func (c *Cluster) WaitHealthy(endpoints ...string) {
	c.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatalf("etcdtest: client: %v", err)
	}
	defer cli.Close()
	eventually.Nil(c.t, 30*time.Second, "etcdtest: cluster healthy", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := cli.Get(ctx, "health"); err != nil {
			return fmt.Errorf("%v\n%s", err, c.Log(0))
		}
		return nil
	})
}

// Leader returns the index of the current leader (-1 if none answers).
func (c *Cluster) Leader() int {
	c.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return -1
	}
	defer cli.Close()
	for i, m := range c.Members {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err == nil && st.Header.MemberId == st.Leader {
			return i
		}
	}
	return -1
}
