package main_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func jsonField(t *testing.T, out, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %q", out)
	}
	s, _ := m[field].(string)
	return s
}

func TestCLILifecycle(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	admin := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	token := func(clientID, secret string) error {
		cmdEnv := append(append([]string{}, admin...), "TOKENWRIGHT_CLIENT_SECRET="+secret)
		// --no-cache: this asks whether the server accepts the secret now.
		return runErr(t, cmdEnv, "token", "--no-cache", "--client-id", clientID)
	}

	run(t, admin, false, "sa", "create", "etl", "--email", "automation+etl@example.com", "--scope", "$DATA")
	run(t, admin, false, "sa", "update", "etl", "--add-role", "loader", "--notes-name", "CN=etl/O=Acme", "--token-lifetime", "5m")
	if got := run(t, admin, false, "sa", "get", "etl", "-o", "json"); !strings.Contains(got, `"notesName": "CN=etl/O=Acme"`) ||
		!strings.Contains(got, `"loader"`) || !strings.Contains(got, `"tokenLifetime": 300`) {
		t.Fatalf("after update:\n%s", got)
	}

	nightly := jsonField(t, run(t, admin, false, "key", "create", "etl", "--name", "nightly", "-o", "json"), "clientSecret")
	if err := token("etl", nightly); err != nil {
		t.Fatalf("fresh key: %v", err)
	}
	// Rotate by name, with a grace period: both secrets work.
	rotated := jsonField(t, run(t, admin, false, "key", "rotate", "etl", "nightly", "--grace", "1h", "-o", "json"), "clientSecret")
	if token("etl", nightly) != nil || token("etl", rotated) != nil {
		t.Fatal("rotation with grace: both secrets must work")
	}
	// Rotate without grace: the previous secret stops at once.
	newest := jsonField(t, run(t, admin, false, "key", "rotate", "etl", "nightly", "--grace", "0", "-o", "json"), "clientSecret")
	if token("etl", rotated) == nil || token("etl", newest) != nil {
		t.Fatal("rotation without grace")
	}
	run(t, admin, false, "key", "revoke", "etl", "nightly")
	if token("etl", newest) == nil {
		t.Fatal("revoked key still works")
	}
	if list := run(t, admin, false, "key", "list", "etl", "--status", "revoked", "-o", "json"); !strings.Contains(list, `"status": "revoked"`) {
		t.Fatalf("revoked listing:\n%s", list)
	}

	// Owners manage keys; a non-owner sees nothing.
	run(t, admin, false, "user", "create", "alice", "--email", "alice@example.com")
	run(t, admin, false, "user", "create", "mallory", "--email", "mallory@example.com")
	aliceToken := jsonField(t, run(t, admin, false, "pat", "create", "--user", "alice", "--name", "CLI", "-o", "json"), "clientSecret")
	malloryToken := jsonField(t, run(t, admin, false, "pat", "create", "--user", "mallory", "--name", "cli", "-o", "json"), "clientSecret")
	run(t, admin, false, "sa", "owners", "add", "etl", "alice")
	alice := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN=" + aliceToken}
	mallory := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN=" + malloryToken}
	byAlice := jsonField(t, run(t, alice, false, "key", "create", "etl", "--name", "by-alice", "-o", "json"), "clientSecret")
	if token("etl", byAlice) != nil {
		t.Fatal("owner's key does not work")
	}
	if out := run(t, alice, true, "sa", "update", "etl", "--add-role", "admin"); !strings.Contains(out, "forbidden") {
		t.Fatalf("owner changed roles: %s", out)
	}
	if out := run(t, mallory, true, "key", "list", "etl"); !strings.Contains(out, "not_found") {
		t.Fatalf("non-owner: %s", out)
	}
	if out := run(t, mallory, true, "key", "revoke-all", "etl", "--yes"); !strings.Contains(out, "not_found") {
		t.Fatalf("non-owner revoke-all: %s", out)
	}
	run(t, alice, false, "key", "revoke-all", "etl", "--yes")
	if token("etl", byAlice) == nil {
		t.Fatal("revoke-all left a key working")
	}

	// PATs: names are lowercased and unique; role change revokes them.
	if list := run(t, alice, false, "pat", "list"); !strings.Contains(list, "cli") {
		t.Fatalf("pat list:\n%s", list)
	}
	run(t, alice, false, "pat", "create", "--name", "second")
	if out := run(t, alice, true, "pat", "create", "--name", "SECOND"); !strings.Contains(out, "already_exists") {
		t.Fatalf("duplicate PAT name: %s", out)
	}
	run(t, admin, false, "user", "update", "alice", "--add-role", "auditor")
	if out := run(t, alice, true, "pat", "list"); !strings.Contains(out, "unauthenticated") {
		t.Fatalf("PAT survived a role change: %s", out)
	}
	if all := run(t, admin, false, "pat", "list", "--all", "--status", "revoked", "-o", "json"); strings.Count(all, `"kind": "personal"`) != 2 {
		t.Fatalf("revoked PATs across users:\n%s", all)
	}

	run(t, admin, false, "sa", "deactivate", "etl")
	fresh := jsonField(t, run(t, admin, false, "key", "create", "etl", "--name", "fresh", "-o", "json"), "clientSecret")
	if token("etl", fresh) == nil {
		t.Fatal("deactivated account got a token")
	}
	run(t, admin, false, "sa", "activate", "etl")
	if err := token("etl", fresh); err != nil {
		t.Fatalf("reactivated account: %v", err)
	}
	run(t, admin, false, "key", "delete", "etl", "fresh", "--yes")
	run(t, admin, false, "sa", "delete", "etl", "--yes")
	if out := run(t, admin, true, "sa", "get", "etl"); !strings.Contains(out, "not_found") {
		t.Fatalf("deleted account: %s", out)
	}
	if audit := run(t, admin, false, "audit", "--action", "key.*", "-o", "json"); !strings.Contains(audit, "key.rotate") || !strings.Contains(audit, "key.revoke_all") {
		t.Fatalf("audit:\n%s", audit)
	}
}
