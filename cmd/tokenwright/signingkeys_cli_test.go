package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLISigningKeysAndKEKRotation(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(data, "admin.token")}

	table := run(t, env, false, "keys", "list")
	if !strings.Contains(table, "KID") || !strings.Contains(table, "RS256") || !strings.Contains(table, "active") {
		t.Fatalf("keys list:\n%s", table)
	}
	out := run(t, env, false, "keys", "rotate", "-o", "json")
	var pending map[string]any
	if err := json.Unmarshal([]byte(out), &pending); err != nil || pending["state"] != "pending" || pending["activateAt"] == nil {
		t.Fatalf("keys rotate -o json: %s (%v)", out, err)
	}
	if errOut := run(t, env, true, "keys", "rotate"); !strings.Contains(errOut, "already pending") {
		t.Fatalf("second rotate: %s", errOut)
	}
	run(t, env, false, "keys", "rotate", "--now")
	var list struct {
		Items []struct{ KID, State string }
	}
	if err := json.Unmarshal([]byte(run(t, env, false, "keys", "list", "-o", "json")), &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("keys list -o json: %v %+v", err, list)
	}
	if list.Items[0].KID != pending["kid"] || list.Items[0].State != "active" || list.Items[1].State != "retired" {
		t.Fatalf("after rotate --now: %+v", list.Items)
	}
	run(t, env, false, "keys", "remove", "--", list.Items[1].KID)
	if errOut := run(t, env, true, "keys", "remove", "--", list.Items[0].KID); !strings.Contains(errOut, "active") {
		t.Fatalf("removing the active key: %s", errOut)
	}

	// KEK rotation is offline: with the server running it refuses (the
	// database is locked); stopped, it re-encrypts, and afterwards only the
	// new KEK starts the server.
	newKEK := filepath.Join(t.TempDir(), "kek.new")
	if errOut := run(t, nil, true, "kek", "rotate", "--data", data, "--new-kek-file", newKEK, "--generate"); !strings.Contains(errOut, "running") {
		t.Fatalf("kek rotate while serving: %s", errOut)
	}
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	if _, err := os.Stat(newKEK); err == nil {
		t.Fatal("a failed rotation left a new KEK file behind")
	}
	out = run(t, nil, false, "kek", "rotate", "--data", data, "--new-kek-file", newKEK, "--generate")
	if !strings.Contains(out, "Re-encrypted 1 signing keys") {
		t.Fatalf("kek rotate: %s", out)
	}
	if fi, err := os.Stat(newKEK); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new KEK file: %v %v", err, fi)
	}
	if errOut := run(t, nil, true, "kek", "rotate", "--data", data, "--new-kek-file", newKEK); !strings.Contains(errOut, "already under the new KEK") {
		t.Fatalf("rotating twice: %s", errOut)
	}
	// The old KEK (still in DATA/kek) no longer opens the keys.
	if errOut := runErr(nil, "serve", "--data", data, "--listen", freeAddr(t)); errOut == nil || !strings.Contains(errOut.Error(), "different key-encryption key") {
		t.Fatalf("serve with the old KEK: %v", errOut)
	}
	d2 := startDaemon(t, data, "TOKENWRIGHT_KEK_FILE="+newKEK)
	env[0] = "TOKENWRIGHT_SERVER=" + d2.url
	if table := run(t, env, false, "keys", "list"); !strings.Contains(table, list.Items[0].KID) {
		t.Fatalf("after KEK rotation the key set changed:\n%s", table)
	}
}
