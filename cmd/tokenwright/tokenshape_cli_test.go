package main_test

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// jwtParts decodes a JWT's header typ and the raw JSON of its aud claim.
func jwtParts(t *testing.T, jwt string) (typ string, aud json.RawMessage) {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	var h struct {
		Typ string `json:"typ"`
	}
	var p struct {
		Aud json.RawMessage `json:"aud"`
	}
	for i, dst := range []any{&h, &p} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, dst) != nil {
			t.Fatalf("part %d of %q", i, jwt)
		}
	}
	return h.Typ, p.Aud
}

// TestCLITokenShape (issue 15, finding 5): sa create and sa update set
// --token-type and --audience-format, sa get shows them, the tokens the
// CLI obtains follow them, and a bad value is refused naming the field.
func TestCLITokenShape(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	admin := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	const aud = "https://api.example.com"
	run(t, admin, false, "sa", "create", "shape", "--email", "shape@example.com", "--audience", aud,
		"--token-type", "at+jwt", "--audience-format", "string")
	if got := run(t, admin, false, "sa", "get", "shape"); !strings.Contains(got, "Token type:") ||
		!strings.Contains(got, "at+jwt") || !strings.Contains(got, "Audience format:") {
		t.Fatalf("sa get:\n%s", got)
	}
	secret := jsonField(t, run(t, admin, false, "key", "create", "shape", "--name", "k", "-o", "json"), "clientSecret")
	token := func() string {
		return run(t, append(append([]string{}, admin...), "TOKENWRIGHT_CLIENT_SECRET="+secret), false,
			"token", "--no-cache", "--client-id", "shape")
	}
	if typ, a := jwtParts(t, token()); typ != "at+jwt" || string(a) != `"`+aud+`"` {
		t.Fatalf("created with at+jwt/string: typ %q aud %s", typ, a)
	}

	out := run(t, admin, false, "sa", "update", "shape", "--token-type", "jwt", "--audience-format", "array", "-o", "json")
	if jsonField(t, out, "tokenType") != "jwt" || jsonField(t, out, "audienceFormat") != "array" {
		t.Fatalf("sa update:\n%s", out)
	}
	if typ, a := jwtParts(t, token()); typ != "JWT" || string(a) != `["`+aud+`"]` {
		t.Fatalf("updated to jwt/array: typ %q aud %s", typ, a)
	}
	// "" returns to the profile's default; other flags leave them alone.
	run(t, admin, false, "sa", "update", "shape", "--token-type", "", "--profile", "generic")
	if typ, _ := jwtParts(t, token()); typ != "at+jwt" {
		t.Fatalf("generic profile default: typ %q", typ)
	}

	if out := run(t, admin, true, "sa", "update", "shape", "--audience-format", "one"); !strings.Contains(out, "audienceFormat") {
		t.Fatalf("bad --audience-format: %s", out)
	}
	if out := run(t, admin, true, "sa", "create", "bad", "--email", "bad@example.com", "--token-type", "JWT"); !strings.Contains(out, "tokenType") {
		t.Fatalf("bad --token-type: %s", out)
	}
}
