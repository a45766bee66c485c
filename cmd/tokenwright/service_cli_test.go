//go:build !windows

package main_test

import (
	"strings"
	"testing"
)

// TestServiceCommandOffWindows (issue 16, Windows): `tokenwright service`
// exists on every platform (its help says what it does), and off Windows
// each subcommand is a usage error (exit 2) that says it is for Windows
// and what to use here, rather than an unknown command or a silent 0.
func TestServiceCommandOffWindows(t *testing.T) {
	for _, args := range [][]string{
		{"service", "install", "--config", "tokenwright.yaml"},
		{"service", "uninstall"},
		{"service", "start"},
		{"service", "stop"},
	} {
		stdout, stderr, code := runBounded(t, nil, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "only on Windows") || !strings.Contains(stderr, "systemd") {
			t.Errorf("tokenwright %s: exit %d, stdout %q, stderr %q; want exit 2 saying it is Windows-only and naming systemd",
				strings.Join(args, " "), code, stdout, stderr)
		}
	}
	if stdout, _, code := runBounded(t, nil, "service", "--help"); code != 0 || !strings.Contains(stdout, "Windows service") ||
		!strings.Contains(stdout, "install") {
		t.Errorf("service --help: exit %d: %s", code, stdout)
	}
}
