package dominotest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/domino/dominotest"
)

const (
	issuer = "https://idp.example.com"
	site   = "https://domino.example.com"
)

type fixture struct {
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
	other  *rsa.PrivateKey // not in the JWKS
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{rsaKey: rk, ecKey: ek, other: ok, now: time.Unix(1_800_000_000, 0)}
}

func (f *fixture) verifier() *dominotest.Verifier {
	return &dominotest.Verifier{Issuer: issuer, Site: site, Now: func() time.Time { return f.now },
		Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: f.rsaKey.Public(), KeyID: "rsa1", Algorithm: "RS256", Use: "sig"},
			{Key: f.ecKey.Public(), KeyID: "ec1", Algorithm: "ES256", Use: "sig"},
		}}}
}

func (f *fixture) claims() map[string]any {
	iat := f.now.Unix() - 5
	return map[string]any{"iss": issuer, "sub": "ci-bot", "aud": []string{site, "Domino"}, "iat": iat, "nbf": iat,
		"exp": iat + 600, "jti": "j1", "client_id": "ci-bot", "azp": "ci-bot", "scope": "Domino.user.all $DATA",
		"email": "ci-bot@example.com", "CN": "CN=ci-bot/O=Acme"}
}

// sign makes a JWS with go-jose directly (not tokenwright's signer).
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifierAcceptsAGoodToken(t *testing.T) {
	f := newFixture(t)
	v := f.verifier()
	if err := v.Verify(sign(t, jose.RS256, f.rsaKey, "rsa1", f.claims())); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	if err := v.Verify(sign(t, jose.ES256, f.ecKey, "ec1", f.claims())); err != nil {
		t.Fatalf("ES256 (core Domino): %v", err)
	}
	v.REST, v.RESTScope, v.AllowedClientIDs = true, "$DATA", []string{"ci-bot"}
	if err := v.Verify(sign(t, jose.RS256, f.rsaKey, "rsa1", f.claims())); err != nil {
		t.Fatalf("with the REST API rules: %v", err)
	}
}

// TestVerifierRejectsBrokenTokens: every way of breaking a rule fails,
// with the error Domino would report.
func TestVerifierRejectsBrokenTokens(t *testing.T) {
	f := newFixture(t)
	with := func(edit func(map[string]any)) map[string]any {
		c := maps.Clone(f.claims())
		edit(c)
		return c
	}
	good := f.claims()
	cases := []struct {
		name  string
		token func() string
		rest  bool
		code  string
	}{
		{"wrong aud", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["aud"] = []string{"https://other.example.com"} }))
		}, false, dominotest.BadAttributes},
		{"aud with trailing slash", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["aud"] = site + "/" }))
		}, false, dominotest.BadAttributes},
		{"missing Domino.user.all", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["scope"] = "$DATA" }))
		}, false, dominotest.BadAttributes},
		{"scope as array", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["scope"] = []string{"Domino.user.all"} }))
		}, false, dominotest.BadAttributes},
		{"missing kid", func() string { return sign(t, jose.RS256, f.rsaKey, "", good) }, false, dominotest.BadSignature},
		{"unknown kid", func() string { return sign(t, jose.RS256, f.rsaKey, "nope", good) }, false, dominotest.BadSignature},
		{"HS256", func() string { return sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "rsa1", good) }, false, dominotest.BadOpcode},
		{"PS256", func() string { return sign(t, jose.PS256, f.rsaKey, "rsa1", good) }, false, dominotest.BadOpcode},
		{"wrong key", func() string { return sign(t, jose.RS256, f.other, "rsa1", good) }, false, dominotest.BadSignature},
		{"alg does not fit key", func() string { return sign(t, jose.RS384, f.rsaKey, "rsa1", good) }, false, dominotest.BadOpcode},
		{"expired", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["exp"] = f.now.Unix() - 1 }))
		}, false, dominotest.Expired},
		{"no exp", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { delete(c, "exp") }))
		}, false, dominotest.BadAttributes},
		{"iat in the future", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["iat"] = f.now.Unix() + 60 }))
		}, false, dominotest.CertValidity},
		{"no iat", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { delete(c, "iat") }))
		}, false, dominotest.BadAttributes},
		{"wrong iss", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["iss"] = issuer + "/" }))
		}, false, dominotest.BadAttributes},
		{"no email", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { delete(c, "email") }))
		}, false, dominotest.BadAttributes},
		{"azp not allowed", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["azp"] = "intruder" }))
		}, false, dominotest.BadAttributes},
		{"REST: no Domino audience", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["aud"] = site }))
		}, true, dominotest.RESTRejected},
		{"REST: ES256", func() string { return sign(t, jose.ES256, f.ecKey, "ec1", good) }, true, dominotest.RESTRejected},
		{"REST: lifetime above maxJwtDuration", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["exp"] = c["iat"].(int64) + 7200 }))
		}, true, dominotest.RESTRejected},
		{"REST: no CN, email is not a DN", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { delete(c, "CN") }))
		}, true, dominotest.RESTRejected},
		{"REST: no $DATA", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { c["scope"] = "Domino.user.all" }))
		}, true, dominotest.RESTRejected},
		{"REST: no sub", func() string {
			return sign(t, jose.RS256, f.rsaKey, "rsa1", with(func(c map[string]any) { delete(c, "sub") }))
		}, true, dominotest.RESTRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := f.verifier()
			v.AllowedClientIDs = []string{"ci-bot"}
			if tc.rest {
				v.REST, v.RESTScope = true, "$DATA"
			}
			err := v.Verify(tc.token())
			var de *dominotest.Error
			if !errors.As(err, &de) {
				t.Fatalf("accepted (or unexpected error %v)", err)
			}
			if de.Code != tc.code {
				t.Fatalf("failed with %s (%s), want %s", de.Code, de.Rule, tc.code)
			}
		})
	}
}
