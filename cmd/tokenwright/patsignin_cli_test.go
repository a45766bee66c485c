package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// console.patSignIn: false without sso.issuer would lock everyone out of
// the console: serve refuses to start, naming the setting, before it
// writes the data directory.
func TestServeRefusesPATSignInOffWithoutSSO(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out := run(t, []string{"TOKENWRIGHT_CONSOLE_PAT_SIGN_IN=false"}, true, "serve", "--data", data, "--listen", "127.0.0.1:0")
	if !strings.Contains(out, "console.patSignIn") || !strings.Contains(out, "sso.issuer") {
		t.Fatalf("patSignIn off without sso: %s", out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the refused start wrote the data directory: %v", err)
	}
}
