package issuer

import (
	"testing"
	"time"
)

// BenchmarkMarshalClaims is the claims-building step of every token: the
// registered claims plus sorted custom claims, without the signature.
func BenchmarkMarshalClaims(b *testing.B) {
	now := time.Now()
	c := claims{Issuer: "https://idp.example.com", Subject: "ci-bot", Audience: []string{"https://domino.example.com", "Domino"},
		Expiry: now.Add(10 * time.Minute).Unix(), NotBefore: now.Unix(), IssuedAt: now.Unix(),
		JTI: "AbCdEfGhIjKlMnOp.0123456789abcdef0123456789abcdef", ClientID: "ci-bot", AZP: "ci-bot",
		Scope: "Domino.user.all $DATA", Email: "ci-bot@example.com", CN: "CN=ci-bot/O=Acme", Roles: []string{"deployer"}}
	custom := map[string]any{"team": "ops", "level": 3, "tags": []string{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := marshalClaims(c, custom); err != nil {
			b.Fatal(err)
		}
	}
}
