package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/signing"
)

// A go-oidc verifier created before a switch of signing algorithm (with its
// default configuration, which takes the allowed algorithms from the
// discovery document it read at start, as oauth2-proxy's does) keeps
// accepting every fresh token across RS256 → ES256, whether the switch is
// made with `keys rotate --algorithm` or by changing signing.algorithm.
// (Issue 15, finding 3: it refused every token once the ES256 key signed.)
func TestAlgorithmSwitchKeepsAStartedGoOIDCVerifierAccepting(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"keys rotate --algorithm", "signing.algorithm"} {
		t.Run(via, func(t *testing.T) {
			clock := newFakeClock(time.Now().UTC().Truncate(time.Second))
			configure := func(alg string) func(*config.Config) {
				return func(c *config.Config) {
					c.Signing.Algorithm = alg
					c.Signing.JWKSMaxAge = config.Duration(time.Minute) // pre-publication 31 simulated minutes
				}
			}
			dir := filepath.Join(t.TempDir(), "data")
			s := servertest.Start(t, servertest.Options{DataDir: dir, Now: clock.Now, Configure: configure("RS256")})
			s.CreateAccount(t, api.CreateServiceAccount{UserName: "switcher", Email: "switcher@example.com",
				AllowedAudiences: []string{dominoSite}})
			key := s.CreateKey(t, "switcher", api.CreateKey{Name: "k"})

			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, s.URL)
			if err != nil {
				t.Fatal(err)
			}
			// Default configuration except the clock, which is the
			// server's simulated one so that exp and nbf line up.
			verifier := provider.Verifier(&oidc.Config{ClientID: dominoSite, Now: clock.Now})
			verify := func(s *servertest.Server, when string) string {
				t.Helper()
				tok := fetchToken(t, s, key.ClientID, key.ClientSecret)
				alg := jwtHeader(t, tok)["alg"].(string)
				if _, err := verifier.Verify(ctx, tok); err != nil {
					t.Fatalf("%s: go-oidc (started before the switch) refused a fresh %s token: %v", when, alg, err)
				}
				return alg
			}
			if alg := verify(s, "before the switch"); alg != "RS256" {
				t.Fatalf("signing with %s before the switch", alg)
			}

			// The signing-key wire type, declared here so that this test
			// also compiles (and fails) where the fields did not exist.
			type signingKey struct {
				Algorithm           string `json:"alg"`
				State               string `json:"state"`
				ConfiguredAlgorithm string `json:"configuredAlgorithm"`
			}
			switch via {
			case "keys rotate --algorithm":
				var k signingKey
				if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate",
					map[string]any{"algorithm": "ES256"}, &k); code != http.StatusCreated {
					t.Fatalf("rotate to ES256: HTTP %d", code)
				}
				if k.Algorithm != "ES256" || k.State != "pending" || k.ConfiguredAlgorithm != "RS256" {
					t.Fatalf("rotate to ES256 answered %+v", k)
				}
			case "signing.algorithm":
				addr := s.Addr
				s.Stop()
				s = servertest.Start(t, servertest.Options{DataDir: dir, Addr: addr, Now: clock.Now, Configure: configure("ES256")})
			}

			// Walk simulated minutes through the pre-publication window;
			// every fresh token must verify.
			alg := ""
			for i := 0; i < 40 && alg != "ES256"; i++ {
				clock.Advance(time.Minute)
				if _, err := s.Server.Signing().Tick(ctx); err != nil {
					t.Fatal(err)
				}
				alg = verify(s, "+"+(time.Duration(i+1)*time.Minute).String())
			}
			if alg != "ES256" {
				t.Fatal("the ES256 key never started signing")
			}
			if via != "keys rotate --algorithm" {
				return
			}

			// The choice stands: no RS256 successor is planned, not while
			// this server runs, and not after a restart with the same
			// configuration; the server says that the file differs.
			for range 40 {
				clock.Advance(time.Minute)
				if _, err := s.Server.Signing().Tick(ctx); err != nil {
					t.Fatal(err)
				}
			}
			addr := s.Addr
			s.Stop()
			s = servertest.Start(t, servertest.Options{DataDir: dir, Addr: addr, Now: clock.Now, Configure: configure("RS256")})
			for range 40 {
				clock.Advance(time.Minute)
				if _, err := s.Server.Signing().Tick(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if alg := verify(s, "after a restart"); alg != "ES256" {
				t.Fatalf("a restart with signing.algorithm RS256 switched back to %s", alg)
			}
			var list api.List[signingKey]
			s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list)
			active := slices.IndexFunc(list.Items, func(k signingKey) bool { return k.State == "active" })
			if slices.ContainsFunc(list.Items, func(k signingKey) bool { return k.State == "pending" }) || active < 0 ||
				list.Items[active].Algorithm != "ES256" || list.Items[active].ConfiguredAlgorithm != "RS256" {
				t.Fatalf("key set after the restart: %+v", list.Items)
			}
			if !strings.Contains(s.Logs(), "keys rotate --algorithm") {
				t.Fatal("the restarted server did not say that signing.algorithm differs from the key set's algorithm")
			}
		})
	}
}

// The discovery document advertises every algorithm tokenwright can sign
// with, RS256 first, whatever the key set holds: the same list before and
// after a switch, so nothing that froze it at start is stranded.
func TestDiscoveryAdvertisesAFixedAlgorithmList(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Signing.Algorithm = "EdDSA" }})
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	// (The OpenID document: the field is OIDC Discovery's.)
	for _, path := range []string{"/.well-known/openid-configuration"} {
		if code := s.Do(t, "", http.MethodGet, path, nil, &doc); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", path, code)
		}
		var want []string
		for _, a := range signing.Supported {
			want = append(want, string(a))
		}
		if !slices.Equal(doc.Algs, want) || doc.Algs[0] != "RS256" {
			t.Fatalf("%s: id_token_signing_alg_values_supported %v, want %v", path, doc.Algs, want)
		}
	}
}

// A bad algorithm is the client's mistake: 400 with the API's error JSON,
// and the key set is left alone.
func TestRotateRefusesAnUnsupportedAlgorithm(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	for _, body := range []any{
		map[string]any{"algorithm": "HS256"},
		map[string]any{"algorithm": "none"},
		map[string]any{"algorithm": "rs256"},
		map[string]any{"algorithm": 256},
	} {
		var e api.Error
		if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", body, &e); code != http.StatusBadRequest || e.Code != api.CodeInvalidRequest {
			t.Errorf("rotate %v: HTTP %d %+v", body, code, e)
		}
	}
	var list api.List[api.SigningKey]
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list)
	if len(list.Items) != 1 {
		t.Fatalf("refused rotations changed the key set: %+v", list.Items)
	}
}
