package issuer

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/claimnames"
)

// The claims the issuer writes are the list that discovery publishes and
// that custom claims may not take: they cannot drift apart.
func TestIssuedClaimsAreTheSharedList(t *testing.T) {
	var names []string
	typ := reflect.TypeFor[claims]()
	for i := range typ.NumField() {
		if !typ.Field(i).IsExported() {
			continue // encoding/json never writes these
		}
		names = append(names, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	if want := claimnames.Issued(); !slices.Equal(names, want) {
		t.Fatalf("issuer writes %v, claimnames.Issued() is %v", names, want)
	}
	for _, n := range names {
		if !claimnames.Reserved(n) || !claimnames.Reserved(strings.ToUpper(n)) {
			t.Errorf("%q is written by the issuer but not reserved", n)
		}
	}
}

func TestReservedCustomClaimsAreDropped(t *testing.T) {
	out, err := marshalClaims(&claims{Issuer: "https://i"}, map[string]any{"Email": "x", "groups": []any{"a"}, "team": "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, `"Email"`) || strings.Contains(s, `"groups"`) || !strings.Contains(s, `"team":"ops"`) {
		t.Fatalf("custom claims not filtered: %s", s)
	}
}

// What a token contains, as a table: the claims written for a grant, and
// custom claims kept unless their name is reserved (in any case), so that
// none can replace or shadow a written claim.
func TestTokenContents(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	base := accounts.Grant{ClientID: "svc", KeyID: "K", Email: "svc@example.com", NotesName: "CN=svc/O=Acme",
		Roles: []string{"r"}, Scopes: []string{"Domino.user.all", "read"}, Audiences: []string{"https://a.example.com"},
		Profile: accounts.ProfileDomino, Lifetime: time.Minute}
	with := func(f func(*accounts.Grant)) accounts.Grant { g := base; f(&g); return g }
	custom := map[string]any{"team": "ops", "level": 3.0}
	for _, n := range claimnames.Issued() {
		custom[n] = "forged"
		custom[strings.ToUpper(n)] = "forged"
	}
	for _, n := range []string{"Scp", "GROUPS", "permissions", "act", "cnf", "auth_time", "typ"} {
		custom[n] = "forged"
	}
	cases := []struct {
		name string
		g    accounts.Grant
		want map[string]any
	}{
		{"domino, aud array", base, map[string]any{"iss": "https://i", "sub": "svc", "aud": []any{"https://a.example.com"},
			"exp": 1_800_000_060.0, "nbf": 1_800_000_000.0, "iat": 1_800_000_000.0, "jti": "K.x", "client_id": "svc", "azp": "svc",
			"scope": "Domino.user.all read", "email": "svc@example.com", "CN": "CN=svc/O=Acme", "roles": []any{"r"}}},
		{"generic, aud string, no CN", with(func(g *accounts.Grant) {
			g.Profile = accounts.ProfileGeneric
			g.AudienceFormat = accounts.AudienceString
		}),
			map[string]any{"iss": "https://i", "sub": "svc", "aud": "https://a.example.com",
				"exp": 1_800_000_060.0, "nbf": 1_800_000_000.0, "iat": 1_800_000_000.0, "jti": "K.x", "client_id": "svc", "azp": "svc",
				"scope": "Domino.user.all read", "email": "svc@example.com", "roles": []any{"r"}}},
		{"custom claims", with(func(g *accounts.Grant) { g.Claims = custom }), map[string]any{"iss": "https://i", "sub": "svc", "aud": []any{"https://a.example.com"},
			"exp": 1_800_000_060.0, "nbf": 1_800_000_000.0, "iat": 1_800_000_000.0, "jti": "K.x", "client_id": "svc", "azp": "svc",
			"scope": "Domino.user.all read", "email": "svc@example.com", "CN": "CN=svc/O=Acme", "roles": []any{"r"},
			"team": "ops", "level": 3.0}},
	}
	for _, c := range cases {
		out, err := marshalClaims(newClaims("https://i", c.g, now, now.Add(c.g.Lifetime), "K.x"), c.g.Claims)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: not JSON: %v: %s", c.name, err, out)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
		for k := range got {
			if !slices.Contains(claimnames.Issued(), k) && claimnames.Reserved(k) {
				t.Errorf("%s: reserved custom claim %q written", c.name, k)
			}
		}
	}
}
