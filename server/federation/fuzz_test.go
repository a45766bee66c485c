package federation

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/federation/federationtest"
)

// FuzzVerify feeds Verify arbitrary tokens against a test issuer whose
// keys are already cached on a clock that does not move, so no input
// fetches anything. Properties: no panic; every failure is an *Invalid;
// and a token verifies only if its claim set is one the issuer signed
// (the payload segment of a seed), for the issuer and audience asked.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, IssuersOptions{})
	signed := map[string]bool{}
	add := func(raw string) {
		f.Add(raw)
		if parts := strings.Split(raw, "."); len(parts) == 3 {
			signed[parts[1]] = true
		}
	}
	for _, s := range []federationtest.Signing{{}, {Alg: jose.ES256}, {Alg: jose.EdDSA}} {
		add(fx.iss.Mint(f, fx.iss.GitHub(audience), s))
	}
	add(fx.iss.Mint(f, fx.iss.GitLab([]string{"x", audience})))
	add(fx.iss.Mint(f, fx.iss.Kubernetes(audience)))
	add(fx.iss.Mint(f, fx.iss.SPIFFE(audience)))
	add(fx.iss.Mint(f, fx.iss.GitHub(audience), federationtest.Signing{KID: "unknown"}))
	f.Add(fx.iss.MintNone(f, fx.iss.GitHub(audience)))
	f.Add(fx.iss.MintHS256WithPublicKey(f, fx.iss.GitHub(audience)))
	if _, err := fx.verify(f, fx.iss.Mint(f, fx.iss.GitHub(audience))); err != nil {
		f.Fatal(err)
	}
	fetches := fx.iss.JWKSFetches() + fx.iss.DiscoveryFetches()

	f.Fuzz(func(t *testing.T, raw string) {
		v, err := fx.verify(t, raw)
		if n := fx.iss.JWKSFetches() + fx.iss.DiscoveryFetches(); n != fetches {
			t.Fatalf("the input made %d fetches", n-fetches)
		}
		if err != nil {
			if _, ok := errors.AsType[*Invalid](err); !ok || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v (%T) is not an *Invalid", err, err)
			}
			return
		}
		if parts := strings.Split(raw, "."); len(parts) != 3 || !signed[parts[1]] {
			t.Fatalf("a claim set the issuer never signed verified: %q", raw)
		}
		if v.Issuer != fx.iss.URL || v.Expiry.IsZero() {
			t.Fatalf("verified %+v", v)
		}
	})
}
