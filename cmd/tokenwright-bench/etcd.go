//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Store backends the benchmark can run the server on.
const (
	storeBolt = "bolt"
	storeEtcd = "etcd"
)

// etcdCluster is an etcd cluster the benchmark started on 127.0.0.1 for
// one run: its members' data directories live in the run's directory and
// the members are killed when the run ends.
//
// store/etcd/etcdtest starts clusters for tests, but through testing.TB
// (t.TempDir, t.Fatal, t.Cleanup) and without fsync; a benchmark keeps
// fsync on by default, because a deployment does.
type etcdCluster struct {
	endpoints []string
	members   []*exec.Cmd
	exited    []chan struct{}
	logs      []string
}

// etcdBinary is the etcd executable to run: -etcd-binary, else $ETCD_BIN,
// else etcd on PATH, else Debian's /usr/bin/etcd.
func etcdBinary(flagValue string) (string, error) {
	for _, p := range []string{flagValue, os.Getenv("ETCD_BIN"), "etcd", "/usr/bin/etcd"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
		if p == flagValue || p == os.Getenv("ETCD_BIN") {
			return "", fmt.Errorf("etcd binary %q not found", p)
		}
	}
	return "", errors.New("etcd binary not found (apt-get install etcd-server, or -etcd-binary PATH)")
}

// startEtcd starts n members of bin on free 127.0.0.1 ports, data in dir,
// and returns once a linearizable read succeeds (a leader and a quorum).
func startEtcd(ctx context.Context, bin string, n int, dir string, fsync bool) (*etcdCluster, error) {
	type addrs struct{ client, peer string }
	var as []addrs
	var peers []string
	for i := range n {
		client, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		peer, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		as = append(as, addrs{"http://" + client, "http://" + peer})
		peers = append(peers, fmt.Sprintf("m%d=http://%s", i, peer))
	}
	c := &etcdCluster{}
	token := fmt.Sprintf("tw-bench-%d", time.Now().UnixNano()) // one per cluster
	for i, a := range as {
		name := fmt.Sprintf("m%d", i)
		logPath := filepath.Join(dir, "etcd-"+name+".log")
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			c.stop()
			return nil, err
		}
		args := []string{"--name", name, "--data-dir", filepath.Join(dir, "etcd-"+name),
			"--listen-client-urls", a.client, "--advertise-client-urls", a.client,
			"--listen-peer-urls", a.peer, "--initial-advertise-peer-urls", a.peer,
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token}
		if !fsync {
			args = append(args, "--unsafe-no-fsync")
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			_ = logf.Close()
			c.stop()
			return nil, fmt.Errorf("starting etcd %s: %w", name, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); _ = logf.Close(); close(exited) }()
		c.members, c.exited, c.logs = append(c.members, cmd), append(c.exited, exited), append(c.logs, logPath)
		c.endpoints = append(c.endpoints, a.client)
	}
	if err := c.waitHealthy(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitHealthy blocks until a linearizable read through every endpoint
// succeeds, a member exits, or 60 s pass.
func (c *etcdCluster) waitHealthy(ctx context.Context) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for i, ex := range c.exited {
			select {
			case <-ex:
				log, _ := os.ReadFile(c.logs[i])
				return fmt.Errorf("etcd member m%d exited during startup:\n%s", i, log)
			default:
			}
		}
		// Each try blocks (the client waits for a connection and a leader)
		// for up to a second: the loop waits on etcd, not on a timer.
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Get(tctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd cluster not healthy within 60s: %v", err)
		}
	}
}

// stop kills every member and reaps it.
func (c *etcdCluster) stop() {
	for i, cmd := range c.members {
		_ = cmd.Process.Kill()
		<-c.exited[i]
	}
}
