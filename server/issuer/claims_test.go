package issuer

import (
	"reflect"
	"slices"
	"strings"
	"testing"

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
