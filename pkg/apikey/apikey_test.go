package apikey

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	for _, kind := range []Kind{ServiceKey, PersonalToken} {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		c, err := Generate(kind, id)
		if err != nil {
			t.Fatal(err)
		}
		s := c.String()
		if len(s) != Length {
			t.Fatalf("length %d, want %d", len(s), Length)
		}
		if !strings.HasPrefix(s, string(kind)+"_"+id+"_") {
			t.Fatalf("credential %q does not start with kind and id", s)
		}
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if p.Kind != kind || p.ID != id {
			t.Fatalf("parsed kind=%s id=%s, want %s %s", p.Kind, p.ID, kind, id)
		}
		if !p.Matches(c.Hash()) {
			t.Fatal("credential does not match its own hash")
		}
		if !LooksLike(s) {
			t.Fatal("LooksLike false for a generated credential")
		}
	}
}

func TestSecretsAreDistinctAndUseWholeAlphabet(t *testing.T) {
	seen := map[string]bool{}
	chars := map[byte]bool{}
	id, _ := NewID()
	for i := 0; i < 2000; i++ {
		c, err := Generate(ServiceKey, id)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.String()] {
			t.Fatal("duplicate credential generated")
		}
		seen[c.String()] = true
		secret := c.String()[prefixLength+IDLength+1 : Length-checksumLength]
		for j := 0; j < len(secret); j++ {
			chars[secret[j]] = true
		}
	}
	if len(chars) != 62 {
		t.Fatalf("secrets used %d distinct characters, want all 62", len(chars))
	}
}

func TestParseRejectsTamperedAndMalformed(t *testing.T) {
	id, _ := NewID()
	c, _ := Generate(ServiceKey, id)
	good := c.String()

	// Flip every character of the body once: the checksum must catch it
	// (or the shape check must, for separators and prefix).
	for i := 0; i < len(good); i++ {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if _, err := Parse(string(b)); err == nil {
			t.Fatalf("tampered credential (position %d) was accepted", i)
		}
	}

	cases := map[string]string{
		"empty":        "",
		"short":        good[:Length-1],
		"long":         good + "x",
		"wrong prefix": "ghp" + good[3:],
		"non-base62":   good[:10] + "-" + good[11:],
		"unicode":      strings.Replace(good, good[10:11], "é", 1)[:Length],
	}
	for name, s := range cases {
		if _, err := Parse(s); err == nil {
			t.Errorf("%s: accepted %q", name, s)
		}
	}

	wrong := []byte(good)
	last := len(wrong) - 1
	if wrong[last] == '0' {
		wrong[last] = '1'
	} else {
		wrong[last] = '0'
	}
	if _, err := Parse(string(wrong)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong checksum: got %v, want ErrChecksum", err)
	}
}

func TestMatchesRejectsOtherHash(t *testing.T) {
	id, _ := NewID()
	a, _ := Generate(ServiceKey, id)
	b, _ := Generate(ServiceKey, id)
	if a.Matches(b.Hash()) {
		t.Fatal("credential matched another credential's hash")
	}
	if a.Matches(nil) {
		t.Fatal("credential matched an empty hash")
	}
}

func TestGenerateValidatesInput(t *testing.T) {
	if _, err := Generate("xyz", "0123456789abcdef"); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := Generate(ServiceKey, "short"); err == nil {
		t.Fatal("short id accepted")
	}
	if _, err := Generate(ServiceKey, "0123456789abcde!"); err == nil {
		t.Fatal("non-base62 id accepted")
	}
}

func FuzzParse(f *testing.F) {
	id, _ := NewID()
	c, _ := Generate(ServiceKey, id)
	f.Add(c.String())
	f.Add("twk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if p.String() != s || len(s) != Length || !ValidID(p.ID) {
			t.Fatalf("Parse accepted %q with inconsistent result %+v", s, p)
		}
	})
}

func BenchmarkParseAndMatch(b *testing.B) {
	id, _ := NewID()
	c, _ := Generate(ServiceKey, id)
	s, h := c.String(), c.Hash()
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(s)
		if err != nil || !p.Matches(h) {
			b.Fatal("mismatch")
		}
	}
}
