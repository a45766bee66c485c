package server_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
)

// freeAddr returns a loopback address nothing listens on (it was free a
// moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestRunJoinsTheSideListeners: when Run returns, the health and metrics
// listeners have finished too; they used to be left running (and reading
// the store Run had just closed) while a request was still in flight.
func TestRunJoinsTheSideListeners(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.HealthListen, cfg.MetricsListen = freeAddr(t), freeAddr(t), freeAddr(t)
	cfg.Issuer = "http://" + cfg.Listen
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, server.Options{Environ: func(string) string { return "" }}) }()

	// A request still arriving on each side listener (headers not yet
	// complete) keeps its server busy until it gives up on it.
	var conns []net.Conn
	for _, addr := range []string{cfg.HealthListen, cfg.MetricsListen} {
		var c net.Conn
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never listened: %v", addr, err)
			}
			select {
			case err := <-done:
				t.Fatalf("Run ended: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /readyz HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// (Whether or not a server has read those bytes yet, Shutdown waits
	// for the connection: see net/http's closeIdleConns.)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Joined: each side server has already dropped the connection, so a
	// read ends at once rather than waiting.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var buf [512]byte
		for {
			_, err := c.Read(buf[:])
			if err == nil {
				continue
			}
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("side listener %d still serving after Run returned", i)
			}
			break
		}
	}
}
