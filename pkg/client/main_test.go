package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
)

// TestMain starts a real tokenwright (bbolt in a temporary directory, a
// listener on 127.0.0.1) for the examples, and points them at it through
// the environment variables the CLI also uses.
func TestMain(m *testing.M) {
	os.Exit(runWithServer(m))
}

func runWithServer(m *testing.M) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	dir, err := os.MkdirTemp("", "tokenwright-sdk")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen, cfg.Issuer = ln.Addr().String(), "http://"+ln.Addr().String()
	srv, err := server.New(context.Background(), cfg, server.Options{Logger: zerolog.Nop(), Environ: func(string) string { return "" }})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	token, err := os.ReadFile(filepath.Join(cfg.DataDir, server.AdminTokenFile))
	if err != nil {
		panic(fmt.Sprintf("reading the bootstrap token: %v", err))
	}
	os.Setenv("TOKENWRIGHT_SERVER", cfg.Issuer)
	os.Setenv("TOKENWRIGHT_TOKEN", strings.TrimSpace(string(token)))
	return m.Run()
}
