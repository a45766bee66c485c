package accounts

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/store"
)

func TestNormalizeIdentifier(t *testing.T) {
	ok := map[string]string{
		"CN=Build Bot/O=Acme":      "CN=Build Bot/O=Acme",
		"CN=Rene\u0301/O=Acme":     "CN=Ren\u00e9/O=Acme", // NFC
		"CN=\u5c71\u7530/O=\u682a": "CN=\u5c71\u7530/O=\u682a",
		"":                         "",
	}
	for in, want := range ok {
		got, err := normalizeIdentifier("f", in, 256)
		if err != nil || got != want {
			t.Errorf("normalizeIdentifier(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a\u200bb", "a\u200cb", "a\u200db", "a\u2060b", "\ufeffa", "a\u00adb", "a\u202eb", "a\u2067b",
		"a\u00a0b", "a\u3000b", "a\tb", "a\nb", "a\x7fb", "a\ufe0fb", "a\u3164b", "a\ue000b", "a\u0378b", "\xff"} {
		if _, err := normalizeIdentifier("f", bad, 256); err == nil {
			t.Errorf("normalizeIdentifier(%q) accepted", bad)
		}
	}
}

func TestPATRevocationReason(t *testing.T) {
	base := store.User{Admin: true, Status: store.StatusActive, Roles: []string{"a"}}
	with := func(f func(*store.User)) store.User { u := base; f(&u); return u }
	cases := []struct {
		updated store.User
		want    string
	}{
		{base, ""},
		{with(func(u *store.User) { u.Admin = false }), "demoted"},
		{with(func(u *store.User) { u.Status = store.StatusInactive }), "deactivated"},
		{with(func(u *store.User) { u.Roles = []string{"b"} }), "roles changed"},
		{with(func(u *store.User) { u.Email = "x@example.com"; u.AllowedScopes = []string{"s"} }), ""},
	}
	for _, c := range cases {
		if got := patRevocationReason(base, c.updated); got != c.want {
			t.Errorf("%+v: %q, want %q", c.updated, got, c.want)
		}
	}
	// Gaining a power revokes nothing.
	if got := patRevocationReason(with(func(u *store.User) { u.Admin, u.Status = false, store.StatusInactive }), base); got != "" {
		t.Errorf("promotion/activation: %q", got)
	}
}

// The grammars validAudienceName and validHostName implement, as the
// regular expressions they replaced on the token path.
var (
	audienceNameGrammar = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	hostNameGrammar     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// TestAudienceNameAndHostMatchTheirGrammar: the hand-written checks
// accept exactly what their grammars accept, on the edge cases here and
// on every input FuzzAudienceNameAndHost finds.
func TestAudienceNameAndHostMatchTheirGrammar(t *testing.T) {
	for _, s := range audienceGrammarSeeds {
		checkAgainstGrammar(t, s)
	}
}

var audienceGrammarSeeds = []string{"", "Domino", "domino.example.com", "a", "-a", "a-", "a.b", "a..b", ".a", "a.", "a_b", "_a",
	"A", "a-b.c-d", "1.2.3.4", "a b", "a\n", "\na", "é", "a/b", "xn--bcher-kva.example", strings.Repeat("a", 128),
	strings.Repeat("a", 129), "a.-b", "a-.b", "A.B", "a:b", "https://x"}

func checkAgainstGrammar(t *testing.T, s string) {
	t.Helper()
	if got, want := validAudienceName(s), audienceNameGrammar.MatchString(s); got != want {
		t.Errorf("validAudienceName(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := validHostName(s), hostNameGrammar.MatchString(s); got != want {
		t.Errorf("validHostName(%q) = %v, the grammar says %v", s, got, want)
	}
}

func FuzzAudienceNameAndHost(f *testing.F) {
	for _, s := range audienceGrammarSeeds {
		f.Add(s)
	}
	f.Fuzz(checkAgainstGrammar)
}
