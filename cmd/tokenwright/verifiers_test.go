package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/signing-keys.md names every verifier `keys rotate` warns about, and
// every figure it prints, so the two cannot drift apart.
func TestSigningKeyDocsSayWhatTheCLIWarns(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "signing-keys.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(raw), "`", "") // code spans read as plain text
	var want []string
	for _, r := range unknownKID {
		for _, name := range strings.Split(r.Verifier, ", ") {
			want = append(want, strings.TrimSpace(strings.Split(name, " (")[0]))
		}
	}
	for _, names := range unsupportedBy {
		for _, name := range names {
			want = append(want, strings.Split(name, " (")[0])
		}
	}
	want = append(want, "15 min", "5 min", "30 s", "restart restapi", "If-None-Match", "868 >= 512")
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("docs/signing-keys.md does not mention %q", w)
		}
	}
}
