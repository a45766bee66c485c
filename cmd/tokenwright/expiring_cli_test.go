package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// The --expiring filters are what a cron job polls.
func TestExpiringFilters(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "cron", "--email", "cron@example.com")
	run(t, env, false, "key", "create", "cron", "--name", "soon", "--expires-in", "2d")
	run(t, env, false, "key", "create", "cron", "--name", "later", "--expires-in", "60d")
	run(t, env, false, "pat", "create", "--name", "laptop-soon", "--expires-in", "3d")
	run(t, env, false, "pat", "create", "--name", "laptop-later", "--expires-in", "90d")

	keys := run(t, env, false, "key", "list", "cron", "--expiring", "-o", "json")
	if !strings.Contains(keys, `"name": "soon"`) || strings.Contains(keys, `"name": "later"`) {
		t.Fatalf("key list --expiring:\n%s", keys)
	}
	pats := run(t, env, false, "pat", "list", "--expiring", "-o", "json")
	if !strings.Contains(pats, `"name": "laptop-soon"`) || strings.Contains(pats, `"name": "laptop-later"`) || strings.Contains(pats, `"name": "bootstrap"`) {
		t.Fatalf("pat list --expiring:\n%s", pats)
	}
}
