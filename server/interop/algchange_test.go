package interop

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// algorithmChange is the change TestAlgorithmChange makes.
var algorithmChange = [2]string{"RS256", "ES256"}

// TestAlgorithmChange: verifiers created while the server signs with RS256
// meet ES256 tokens after signing.algorithm changes to ES256 by the
// pre-published path (restart with the new setting: the ES256 key is
// published 31 minutes before it signs). Verifiers configured with both
// algorithms keep accepting; a verifier that freezes the algorithms
// discovery listed when it was created (go-oidc, issue 15 finding 3)
// accepts ES256 exactly when that list had it, and keeps accepting with
// oidc.Config.SupportedSigningAlgs naming both.
func TestAlgorithmChange(t *testing.T) {
	from, to := algorithmChange[0], algorithmChange[1]
	rows := components()
	e := startEnv(t, from, beforeRotation)
	var disc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if code := e.Server.Do(t, "", http.MethodGet, "/.well-known/openid-configuration", nil, &disc); code != http.StatusOK {
		t.Fatalf("discovery: HTTP %d", code)
	}
	// Finding 3: a verifier that freezes discovery's list at start must
	// still accept the new algorithm, so the list must already name it.
	if !slices.Contains(disc.Algs, to) {
		t.Fatalf("discovery lists %v while signing with %s: a verifier that froze it at start (go-oidc) rejects %s tokens after the change", disc.Algs, from, to)
	}
	before := secretToken(t, e, e.ClientID, e.ClientSecret)

	verifiers := startVerifiers(t, e, rows)
	frozen := map[string]bool{}
	for _, r := range rows {
		frozen[r.Name] = r.FrozenAlgorithms
	}
	const allowList = "go-oidc with SupportedSigningAlgs"
	v, err := newGoOIDCWithAlgorithms(context.Background(), e, algorithmChange[:])
	if err != nil {
		t.Fatal(err)
	}
	verifiers[allowList] = v
	runChecks(t, from, verifiers, []verifierCheck{{Name: from + " token", Want: true}}, func(verifierCheck) []string { return []string{before} })

	e.restart(t, to)
	var list api.List[api.SigningKey]
	e.Server.Do(t, e.Server.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list)
	i := slices.IndexFunc(list.Items, func(k api.SigningKey) bool { return k.State == "pending" })
	if i < 0 || list.Items[i].Algorithm != to {
		t.Fatalf("after the restart with signing.algorithm %s, no pending %s key: %+v", to, to, list.Items)
	}
	for name, v := range verifiers {
		if ce, ok := v.(cacheExpirer); ok {
			if err := ce.ExpireCache(context.Background()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	e.Clock.Set(0)
	e.tick(t)
	after := secretToken(t, e, e.ClientID, e.ClientSecret)
	if alg := decodeSegment(t, after, 0)["alg"]; alg != to {
		t.Fatalf("after the window the token is signed with %v, want %s", alg, to)
	}

	t.Run(to, func(t *testing.T) {
		for name, v := range verifiers {
			t.Run(name, func(t *testing.T) {
				want := !frozen[name] || slices.Contains(disc.Algs, to)
				d, err := v.Verify(context.Background(), after)
				if err != nil {
					t.Fatal(err)
				}
				if !d.OK {
					t.Logf("rejected as expected: discovery listed %v when the verifier was created (%s)", disc.Algs, d.Detail)
				}
				if d.OK != want {
					t.Errorf("%s token after the change: accepted = %v, want %v (discovery listed %v when the verifier was created; %s)", to, d.OK, want, disc.Algs, d.Detail)
				}
				if d, err := v.Verify(context.Background(), before); err != nil || !d.OK {
					t.Errorf("the %s token of the retired key: %+v %v", from, d, err)
				}
			})
		}
	})
}

// newGoOIDCWithAlgorithms is go-oidc with an explicit algorithm list, the
// configuration that survives a change of signing.algorithm.
func newGoOIDCWithAlgorithms(ctx context.Context, e *env, algs []string) (verifier, error) {
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), e.HTTPClient)
	p, err := oidc.NewProvider(ctx, e.Issuer)
	if err != nil {
		return nil, err
	}
	return &goOIDC{v: p.VerifierContext(ctx, &oidc.Config{ClientID: e.Audience, SupportedSigningAlgs: algs})}, nil
}
