package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
)

// TestTokenCacheThroughTheBinary runs `tokenwright token` as a script would,
// many times, and counts the tokens the server minted.
func TestTokenCacheThroughTheBinary(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "loop-bot", "--email", "loop-bot@example.com", "--scope", "read")
	var key struct{ ClientSecret string }
	if err := json.Unmarshal([]byte(run(t, env, false, "key", "create", "loop-bot", "--name", "k", "-o", "json")), &key); err != nil {
		t.Fatal(err)
	}
	cacheHome := t.TempDir()
	tokEnv := append(env, "TOKENWRIGHT_CLIENT_ID=loop-bot", "TOKENWRIGHT_CLIENT_SECRET="+key.ClientSecret, "XDG_CACHE_HOME="+cacheHome)
	issued := func() int { return strings.Count(d.stderr.String(), "token.issued") }
	waitIssued := func(want int) {
		t.Helper()
		// The daemon's log reaches us through a pipe: allow it a moment.
		eventually.Nil(t, 5*time.Second, "tokens issued", func() error {
			if got := issued(); got != want {
				return fmt.Errorf("server issued %d tokens, want %d", got, want)
			}
			return nil
		})
	}

	first := strings.TrimSpace(run(t, tokEnv, false, "token"))
	for range 20 {
		if got := strings.TrimSpace(run(t, tokEnv, false, "token")); got != first {
			t.Fatal("a cached run printed a different token")
		}
	}
	if h := run(t, tokEnv, false, "token", "--format", "header"); h != "Authorization: Bearer "+first+"\n" {
		t.Fatalf("--format header from the cache: %q", h)
	}
	var js struct {
		AccessToken string    `json:"access_token"`
		ExpiresAt   time.Time `json:"expires_at"`
		Scope       string    `json:"scope"`
	}
	if err := json.Unmarshal([]byte(run(t, tokEnv, false, "token", "--format", "json")), &js); err != nil {
		t.Fatal(err)
	}
	if js.AccessToken != first || js.Scope != "Domino.user.all read" || time.Until(js.ExpiresAt) < 5*time.Minute {
		t.Fatalf("--format json from the cache: %+v", js)
	}
	waitIssued(1)

	// --no-cache always asks the server.
	if run(t, tokEnv, false, "token", "--no-cache") == first+"\n" {
		t.Fatal("--no-cache returned the cached token")
	}
	waitIssued(2)
	// Another scope set is another entry.
	run(t, tokEnv, false, "token", "--scope", "read")
	waitIssued(3)

	files, err := os.ReadDir(filepath.Join(cacheHome, "tokenwright"))
	if err != nil || len(files) != 2 {
		t.Fatalf("cache dir holds %d entries (%v), want 2", len(files), err)
	}
	for _, f := range files {
		data, _ := os.ReadFile(filepath.Join(cacheHome, "tokenwright", f.Name()))
		if strings.Contains(string(data), key.ClientSecret) {
			t.Fatal("the cache holds the client secret")
		}
	}
}
