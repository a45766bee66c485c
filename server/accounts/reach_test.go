package accounts

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/store"
)

// Hostile audience spellings: each would let a value that starts with a
// pattern's prefix mean something outside it to some server, or smuggle
// bytes into aud. None may be accepted as a value, nor inside a pattern.
var hostileAudiences = []string{
	"https://api.example.com/a/../b", "https://api.example.com/a/..", "https://api.example.com/..",
	"https://api.example.com/a/./b", "https://api.example.com/./", "https://api.example.com/a//b",
	"https://api.example.com/a/%2e%2e/b", "https://api.example.com/a/%2E%2E/b", "https://api.example.com/a/%2e%2E/b",
	"https://api.example.com/a/.%2e/b", "https://api.example.com/a/%2e./b", "https://api.example.com/a/%2e/b",
	"https://api.example.com/a/%252e%252e/b", "https://api.example.com/a/%25252e/b", "https://api.example.com/a%25",
	"https://api.example.com/a%2fb", "https://api.example.com/a%2Fb", "https://api.example.com/a%5cb", "https://api.example.com/a%5Cb",
	"https://api.example.com/a\\..\\b", "https://api.example.com/a\\b",
	"https://api.example.com/a/..;/b", "https://api.example.com/a/..;x=y/b", "https://api.example.com/a;/b",
	"https://api.example.com/a\x00", "https://api.example.com/a\tb", "https://api.example.com/a\nb", "https://api.example.com/a\rb",
	"https://api.example.com/a b", "https://api.example.com/a\x7f", "https://api.example.com/a\x1b",
	"https://api.example.com/a/%00", "https://api.example.com/a/%0a", "https://api.example.com/a/%0D", "https://api.example.com/a/%7f",
	"https://api.example.com/a/%c0%ae%c0%ae/b", "https://api.example.com/a/%e2%80%ae", "https://api.example.com/a/\uff0e\uff0e/b",
	"https://api.example.com/a/\u2024\u2024/b", "https://api.example.com/caf\u00e9", "https://api.example.com/a/%zz", "https://api.example.com/a/%2",
	"https://user@api.example.com/a", "https://user:pw@api.example.com/a", "https://api.example.com@evil.example.com/a",
	"https://api.example.com:0/a", "https://api.example.com:65536/a", "https://api.example.com:+443/a", "https://api.example.com:/a",
	"https://API.example.com/a", "HTTPS://api.example.com/a", "Https://api.example.com/a", "https:/api.example.com/a",
	"https:api.example.com", "//api.example.com/a", "https:///a", "https://", "https://-api.example.com/", "https://api..example.com/",
	"https://api.example.com./", "https://[::1%25eth0]/", "https://[fe80::1/", "https://api_example.com/",
	"http://api.example.com/a", "http://10.0.0.1/a", "http://[2001:db8::1]/a", "http://localhost.example.com/a",
	"https://api.example.com/a#frag", "https://api.example.com/a?x=/../b", "https://api.example.com/a?",
	"https://api.example.com/*/b", "ftp://api.example.com/", "javascript:alert(1)",
	"urn:example:a", "file:///etc/passwd", "", " ", "Domino ", " Domino", "Dom ino", ".Domino", "-x", "..", ".",
	"https://api.example.com/" + strings.Repeat("a", 600),
}

func TestAudienceValueRules(t *testing.T) {
	for _, a := range hostileAudiences {
		if validAudienceValue(a) {
			t.Errorf("value %q accepted", a)
		}
		if validAudience(a) {
			t.Errorf("list entry %q accepted", a)
		}
	}
	if validAudienceValue("https://api.example.com/a*") {
		t.Error("a pattern accepted as a value")
	}
	good := []string{
		"https://api.example.com", "https://api.example.com/", "https://api.example.com/a/b", "https://api.example.com/a/",
		"https://api.example.com:8443/a", "https://10.0.0.1/a", "https://[2001:db8::1]:443/a", "https://api.example.com/a.b/c..d/.e",
		"https://api.example.com/a%20b", "https://api.example.com/~u/x-y_z!$&'()+,=:@", "http://127.0.0.1:8080/x",
		"http://localhost/x", "http://[::1]:9/", "http://127.1.2.3/", "Domino", "api.example", "my_api-1",
	}
	for _, a := range good {
		if !validAudienceValue(a) || !validAudience(a) {
			t.Errorf("value %q refused", a)
		}
	}
}

func TestAudiencePatternRules(t *testing.T) {
	bad := []string{"*", "https://*", "https://api.example.com*", "https://api.example.*", "https://api.example.com:*",
		"https://api.example.com/../*", "https://api.example.com/a/%2e%2e/*", "https://api.example.com/a/%2*", "https://api.example.com/a/%*",
		"https://api.example.com/a/.*", "https://api.example.com/a/..*", "http://api.example.com/*", "https://user@api.example.com/*",
		"https://api.example.com/a\\*", "https://api.example.com/a;*", "https://api.example.com/a?*", "https://api.example.com/a**",
		"Domino*", "urn:x:*"}
	for _, hostile := range hostileAudiences {
		if !strings.ContainsAny(hostile, "*") {
			bad = append(bad, hostile+"*", hostile+"/*")
		}
	}
	for _, p := range bad {
		if validAudience(p) {
			t.Errorf("pattern %q accepted", p)
		}
	}
	for _, p := range []string{"https://api.example.com/*", "https://api.example.com/a*", "https://api.example.com/a/*",
		"https://api.example.com/v1.*", "http://127.0.0.1:1/api/*"} {
		if !validAudience(p) {
			t.Errorf("pattern %q refused", p)
		}
	}
}

func TestReachIntersectsOwnerAndKey(t *testing.T) {
	s := New(nil, Options{Policy: Policy{DefaultScopes: []string{"read"}, DefaultAudiences: []string{"https://d.example.com"}}})
	sa := store.ServiceAccount{Name: "svc", Profile: ProfileGeneric, AllowedScopes: []string{"read", "write"},
		AllowedAudiences: []string{"https://api.example.com/pub/*", "https://api.example.com/x", "Domino"},
		AllowedCIDRs:     []string{"10.0.0.0/8"}}
	key := store.Key{Owner: "svc", Scopes: []string{"write", "admin"}, Audiences: []string{"https://api.example.com/*", "Domino"},
		CIDRs: []string{"10.1.0.0/16", "192.168.0.0/16"}}
	r := s.reach(&Principal{Key: key, Account: &sa})
	if sc, ok := r.Scopes(); !ok || !slices.Equal(sc, []string{"write"}) {
		t.Errorf("scopes %v %v", sc, ok)
	}
	if aud, ok := r.DefaultAudiences(); !ok || !slices.Equal(aud, []string{"Domino", "https://api.example.com/x"}) {
		t.Errorf("default audiences %v %v", aud, ok)
	}
	for aud, want := range map[string]bool{
		"https://api.example.com/pub/a": true, "https://api.example.com/x": true, "Domino": true,
		"https://api.example.com/y": false, "https://api.example.com/pub/../y": false, "domino": false,
	} {
		if r.AllowsAudience(aud) != want {
			t.Errorf("AllowsAudience(%q) = %v", aud, !want)
		}
	}
	for ip, want := range map[string]bool{"10.1.2.3": true, "10.2.0.1": false, "192.168.1.1": false} {
		if r.AllowsAddress(netip.MustParseAddr(ip)) != want {
			t.Errorf("AllowsAddress(%s) = %v", ip, !want)
		}
	}
	// A user without lists of their own falls back to the server defaults.
	u := store.User{Name: "alice"}
	ur := s.reach(&Principal{Key: store.Key{Owner: "alice"}, User: &u})
	if sc, _ := ur.Scopes(); !slices.Equal(sc, []string{DominoUserAllScope, "read"}) {
		t.Errorf("user scopes %v", sc)
	}

	// Creation: only narrowing is accepted.
	owner := s.ownerReach(&sa, nil)
	for _, tc := range []struct {
		scopes, auds, cidrs []string
		field               string
	}{
		{scopes: []string{"admin"}, field: "scopes"},
		{auds: []string{"https://api.example.com/*"}, field: "audiences"},
		{auds: []string{"https://api.example.com/pu*"}, field: "audiences"},
		{auds: []string{"https://api.example.com/y"}, field: "audiences"},
		{cidrs: []string{"0.0.0.0/0"}, field: "cidrs"},
		{cidrs: []string{"11.0.0.0/16"}, field: "cidrs"},
		{cidrs: []string{"::/0"}, field: "cidrs"},
	} {
		_, err := owner.narrowing(tc.scopes, tc.auds, tc.cidrs)
		var verr *ValidationError
		if err == nil || !asValidation(err, &verr) || verr.Field != tc.field {
			t.Errorf("narrowing %v %v %v: %v", tc.scopes, tc.auds, tc.cidrs, err)
		}
	}
	if _, err := owner.narrowing([]string{"read"}, []string{"https://api.example.com/pub/a/*", "https://api.example.com/x", "Domino"},
		[]string{"10.1.0.0/16", "10.2.3.4/32"}); err != nil {
		t.Errorf("a proper narrowing refused: %v", err)
	}
}

func asValidation(err error, target **ValidationError) bool {
	v, ok := err.(*ValidationError)
	*target = v
	return ok
}
