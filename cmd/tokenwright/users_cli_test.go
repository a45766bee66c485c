package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// `tokenwright user update NAME --scope --audience --cidr` sets a user's
// allowed lists (administrators only; the user gets forbidden), and
// `pat list --all` follows the pages of GET /api/v1/tokens.
func TestCLIUserAllowedListsAndPagedTokens(t *testing.T) {
	// The quota is raised through its environment variable (the test
	// needs more than the default 50 tokens), and the admin API's rate
	// limit is off for the burst of creates.
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"), "TOKENWRIGHT_KEYS_MAX_PATS_PER_USER=120", "TOKENWRIGHT_LIMITS_ENABLED=false")
	admin := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, admin, false, "user", "create", "gina", "--email", "gina@example.com")
	out := run(t, admin, false, "user", "update", "gina", "--scope", "Domino.user.all", "--scope", "$DATA",
		"--audience", "https://domino.example.com/*", "--cidr", "10.0.0.0/8", "--cidr", "127.0.0.0/8", "-o", "json")
	var u struct {
		AllowedScopes    []string `json:"allowedScopes"`
		AllowedAudiences []string `json:"allowedAudiences"`
		AllowedCIDRs     []string `json:"allowedCidrs"`
	}
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("not JSON: %s", out)
	}
	if !slices.Equal(u.AllowedScopes, []string{"Domino.user.all", "$DATA"}) || !slices.Equal(u.AllowedAudiences, []string{"https://domino.example.com/*"}) ||
		!slices.Equal(u.AllowedCIDRs, []string{"10.0.0.0/8", "127.0.0.0/8"}) {
		t.Fatalf("lists after update: %+v", u)
	}
	if got := run(t, admin, false, "user", "get", "gina"); !strings.Contains(got, "Domino.user.all $DATA") || !strings.Contains(got, "10.0.0.0/8") {
		t.Fatalf("user get does not show the lists:\n%s", got)
	}
	if out := run(t, admin, true, "user", "update", "gina", "--cidr", "10.0.0.0/99"); !strings.Contains(out, "invalid_request") {
		t.Fatalf("bad CIDR: %s", out)
	}
	// A user's CIDRs bind their PATs on the admin API too (127.0.0.0/8 is
	// where this test calls from).
	ginaPAT := jsonField(t, run(t, admin, false, "pat", "create", "--user", "gina", "--name", "cli", "-o", "json"), "clientSecret")
	gina := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN=" + ginaPAT}
	if out := run(t, gina, true, "user", "update", "gina", "--scope", "*"); !strings.Contains(out, "forbidden") {
		t.Fatalf("user widened her own scopes: %s", out)
	}
	run(t, admin, false, "user", "update", "gina", "--scope", "")
	if got := run(t, admin, false, "user", "get", "gina", "-o", "json"); !strings.Contains(got, `"allowedScopes": []`) {
		t.Fatalf("--scope \"\" did not clear:\n%s", got)
	}

	// More tokens than one page of the API (100): the CLI lists them all.
	for i := range 105 {
		req, _ := http.NewRequest("POST", d.url+"/api/v1/users/me/tokens", strings.NewReader(fmt.Sprintf(`{"name":"p%03d"}`, i)))
		req.Header.Set("Authorization", "Bearer "+ginaPAT)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("PAT %d: HTTP %d", i, resp.StatusCode)
		}
	}
	var all struct {
		Items []struct{ Name string } `json:"items"`
	}
	out = run(t, admin, false, "pat", "list", "--all", "-o", "json")
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("not JSON: %.200s", out)
	}
	if len(all.Items) != 107 { // 105 + gina's cli + the bootstrap token
		t.Fatalf("pat list --all shows %d tokens, want 107", len(all.Items))
	}
}

// user deactivate / activate set the status (deactivating revokes the
// user's tokens, and, with single sign-on, ends their sessions: a store
// rule, tested in server/sso).
func TestCLIUserDeactivateActivate(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	admin := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, admin, false, "user", "create", "hal", "--email", "hal@example.com")
	halPAT := jsonField(t, run(t, admin, false, "pat", "create", "--user", "hal", "--name", "cli", "-o", "json"), "clientSecret")
	if got := jsonField(t, run(t, admin, false, "user", "deactivate", "hal", "-o", "json"), "status"); got != "inactive" {
		t.Fatalf("status after deactivate: %q", got)
	}
	hal := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN=" + halPAT}
	if out := run(t, hal, true, "user", "get", "me"); !strings.Contains(out, "unauthenticated") {
		t.Fatalf("the deactivated user's token still works: %s", out)
	}
	if got := jsonField(t, run(t, admin, false, "user", "activate", "hal", "-o", "json"), "status"); got != "active" {
		t.Fatalf("status after activate: %q", got)
	}
	if out := run(t, admin, true, "user", "deactivate", "nobody"); !strings.Contains(out, "nobody") {
		t.Fatalf("unknown user: %s", out)
	}
}
