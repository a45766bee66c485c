//go:build unix

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPeersScript runs scripts/peers (docs/performance.md, "Beside other
// servers") with a short load. It builds Dex and Hydra from the Go module
// proxy the first time (minutes), so it runs only with
// TOKENWRIGHT_TEST_PEERS=1, never in CI. Every server it measured must have
// a row with no errors and its own CPU per token; a peer it could not
// build or start must be named on a "skipped:" line, never silently left
// out.
func TestPeersScript(t *testing.T) {
	if os.Getenv("TOKENWRIGHT_TEST_PEERS") != "1" {
		t.Skip("builds Dex and Hydra from the Go module proxy: set TOKENWRIGHT_TEST_PEERS=1")
	}
	cmd := exec.Command("../../scripts/peers", "--duration", "1s", "--workers", "2", "--algs", "ES256", "--sign-duration", "200ms")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rows := map[string][]string{} // "server store" -> cells
	for _, line := range strings.Split(string(out), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 11 || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| server ") {
			continue
		}
		cells[0] = strings.TrimPrefix(cells[0], "| ")
		rows[cells[0]+" "+cells[1]] = cells
	}
	for _, want := range []struct{ key, peer string }{
		{"tokenwright bbolt", ""}, {"dex memory", "dex"}, {"dex sqlite3", "dex"}, {"hydra memory", "hydra"},
	} {
		cells, ok := rows[want.key]
		switch {
		case !ok && want.peer != "" && strings.Contains(string(out), "skipped: "+want.peer):
			t.Logf("%s skipped, as the output says", want.key)
		case !ok:
			t.Errorf("no row for %s and no skip line:\n%s", want.key, out)
		case cells[2] != "ES256" || cells[3] == "0" || cells[6] == "0" || cells[9] != "0":
			// alg, tokens/s, server CPU µs/token, errors
			t.Errorf("row %q", strings.Join(cells, " | "))
		}
	}
}
