package issuer

import (
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
)

// BenchmarkMarshalClaims is the claims-building step of every token, from
// the grant: the registered claims plus sorted custom claims, without the
// signature; with "aud" written as an array (the default) and as a string
// (audienceFormat string).
func BenchmarkMarshalClaims(b *testing.B) {
	now := time.Now()
	g := accounts.Grant{ClientID: "ci-bot", KeyID: "AbCdEfGhIjKlMnOp", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		Roles: []string{"deployer"}, Scopes: []string{"Domino.user.all", "$DATA"},
		Audiences: []string{"https://domino.example.com", "Domino"}, Profile: accounts.ProfileDomino,
		Claims: map[string]any{"team": "ops", "level": 3, "tags": []string{"a", "b"}}}
	jti := "AbCdEfGhIjKlMnOp.0123456789abcdef0123456789abcdef"
	one := g
	one.Audiences, one.AudienceFormat = []string{"https://domino.example.com"}, accounts.AudienceString
	for name, g := range map[string]accounts.Grant{"array": g, "string": one} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := marshalClaims(newClaims("https://idp.example.com", g, now, now.Add(10*time.Minute), jti), g.Claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
