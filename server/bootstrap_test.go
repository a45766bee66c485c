package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// TestBootstrapNeverOverwritesAdminToken (issue 13, finding 8): a leftover
// DATA/admin.token is left alone; the new token goes beside it (0600), the
// log says where, and no log line holds it.
func TestBootstrapNeverOverwritesAdminToken(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, server.AdminTokenFile)
	if err := os.WriteFile(stale, []byte("an earlier installation's token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.Options{DataDir: dir})
	if data, _ := os.ReadFile(stale); string(data) != "an earlier installation's token\n" {
		t.Fatalf("admin.token was overwritten: %q", data)
	}
	matches, _ := filepath.Glob(stale + ".*")
	if len(matches) != 1 {
		t.Fatalf("new token files: %v", matches)
	}
	fi, err := os.Stat(matches[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v mode %v", matches[0], err, fi.Mode().Perm())
	}
	data, _ := os.ReadFile(matches[0])
	tok := strings.TrimSpace(string(data))
	if code := s.Do(t, tok, http.MethodGet, "/api/v1/users/me", nil, nil); code != 200 {
		t.Fatalf("the new token: HTTP %d", code)
	}
	logs := s.Logs()
	if !strings.Contains(logs, `"level":"warn"`) || !strings.Contains(logs, `"token_file":"`+matches[0]+`"`) {
		t.Errorf("the log does not say where the token went:\n%s", logs)
	}
	if strings.Contains(logs, "twp_") {
		t.Error("the token is in the log")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".admin.token-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
