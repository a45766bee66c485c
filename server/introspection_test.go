package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// introspector creates a resource-server account allowed to introspect.
func introspector(t *testing.T, s *servertest.Server) api.KeyWithSecret {
	t.Helper()
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "gateway", Email: "gateway@example.com",
		Permissions: []string{"introspect"}})
	return s.CreateKey(t, "gateway", api.CreateKey{Name: "introspection"})
}

type introspectionResult struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Sub       string   `json:"sub"`
	Aud       []string `json:"aud"`
	Iss       string   `json:"iss"`
	Exp       int64    `json:"exp"`
	Iat       int64    `json:"iat"`
	JTI       string   `json:"jti"`
	TokenType string   `json:"token_type"`
}

// postForm sends a form to an OAuth endpoint with Basic credentials (if
// id is set) and decodes the JSON answer.
func postForm(t *testing.T, s *servertest.Server, path, id, secret string, form url.Values, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s answered %d with %q: %v", path, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode
}

func introspect(t *testing.T, s *servertest.Server, caller api.KeyWithSecret, token string) introspectionResult {
	t.Helper()
	var res introspectionResult
	if code := postForm(t, s, "/oauth/introspect", caller.ClientID, caller.ClientSecret, url.Values{"token": {token}}, &res); code != http.StatusOK {
		t.Fatalf("introspection: %d", code)
	}
	return res
}

// Every algorithm tokenwright signs with verifies through go-oidc (as a
// third-party resource server would) and through introspection.
func TestEveryAlgorithmVerifiesAndIntrospects(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Signing.Algorithm = alg }})
			s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci@example.com",
				AllowedAudiences: []string{dominoSite}, AllowedScopes: []string{"Domino.user.all"}})
			key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
			gw := introspector(t, s)
			jwt := fetchToken(t, s, key.ClientID, key.ClientSecret)
			if got := jwtHeader(t, jwt)["alg"]; got != alg {
				t.Fatalf("header alg %v", got)
			}
			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, s.URL)
			if err != nil {
				t.Fatal(err)
			}
			v := provider.Verifier(&oidc.Config{ClientID: dominoSite, SupportedSigningAlgs: []string{alg}})
			if _, err := v.Verify(ctx, jwt); err != nil {
				t.Fatalf("go-oidc: %v", err)
			}
			res := introspect(t, s, gw, jwt)
			if !res.Active || res.ClientID != "ci-bot" || res.Sub != "ci-bot" || res.Iss != s.URL || res.Scope != "Domino.user.all" ||
				len(res.Aud) != 1 || res.Aud[0] != dominoSite || res.TokenType != "Bearer" || res.JTI == "" || res.Exp-res.Iat != 600 {
				t.Fatalf("introspection: %+v", res)
			}
		})
	}
}

func TestIntrospectionIsPositiveAndAuthenticated(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Now().UTC())
	s := servertest.Start(t, servertest.Options{Now: clock.Now})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci@example.com", AllowedAudiences: []string{dominoSite}})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
	other := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "other"})
	gw := introspector(t, s)
	jwt := fetchToken(t, s, key.ClientID, key.ClientSecret)
	if !introspect(t, s, gw, jwt).Active {
		t.Fatal("fresh token inactive")
	}

	// Callers: none, wrong secret, and a valid client without permission.
	var e map[string]string
	if code := postForm(t, s, "/oauth/introspect", "", "", url.Values{"token": {jwt}}, &e); code != http.StatusUnauthorized && code != http.StatusBadRequest {
		t.Fatalf("anonymous introspection: %d %v", code, e)
	}
	if code := postForm(t, s, "/oauth/introspect", gw.ClientID, gw.ClientSecret+"x", url.Values{"token": {jwt}}, &e); code != http.StatusUnauthorized || e["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v", code, e)
	}
	if code := postForm(t, s, "/oauth/introspect", key.ClientID, key.ClientSecret, url.Values{"token": {jwt}}, &e); code != http.StatusForbidden {
		t.Fatalf("client without the permission: %d %v", code, e)
	}

	// Not ours: garbage, a token signed by a stranger with our kid, a
	// token of ours with one claim changed.
	foreign := signWith(t, jwtHeader(t, jwt)["kid"].(string), map[string]any{"iss": s.URL, "sub": "ci-bot", "client_id": "ci-bot",
		"jti": "x.y", "exp": clock.Now().Add(time.Hour).Unix()})
	parts := strings.Split(jwt, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]
	for name, tok := range map[string]string{"garbage": "not-a-token", "foreign": foreign, "tampered": tampered, "empty-ish": "a.b.c"} {
		if res := introspect(t, s, gw, tok); res.Active || res.ClientID != "" {
			t.Fatalf("%s token: %+v", name, res)
		}
	}

	// The credential behind the token is revoked: its tokens go inactive
	// at once; tokens of another key of the same account stay active.
	jwtOther := fetchToken(t, s, other.ClientID, other.ClientSecret)
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot/keys/"+key.ID+":revoke", nil, nil)
	if introspect(t, s, gw, jwt).Active {
		t.Fatal("token of a revoked key still active")
	}
	if !introspect(t, s, gw, jwtOther).Active {
		t.Fatal("revoking one key deactivated another key's token")
	}
	// The account is deactivated: all its tokens go inactive.
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot:deactivate", nil, nil)
	if introspect(t, s, gw, jwtOther).Active {
		t.Fatal("token of a deactivated account still active")
	}
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot:activate", nil, nil)
	if !introspect(t, s, gw, jwtOther).Active {
		t.Fatal("reactivation did not restore the token")
	}
	// Expiry.
	clock.Advance(11 * time.Minute)
	if introspect(t, s, gw, jwtOther).Active {
		t.Fatal("expired token active")
	}
}

// signWith signs claims with a fresh RSA key, claiming kid.
func signWith(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signJWT(t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, nil, claims)
}

// signJWT signs claims with go-jose, as a third party would.
func signJWT(t *testing.T, key jose.SigningKey, opts *jose.SignerOptions, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRevocationByOwnerSurvivesRestart(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci@example.com", AllowedAudiences: []string{dominoSite}})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "intruder", Email: "intruder@example.com", AllowedAudiences: []string{dominoSite}})
	intruder := s.CreateKey(t, "intruder", api.CreateKey{Name: "k"})
	gw := introspector(t, s)
	jwt := fetchToken(t, s, key.ClientID, key.ClientSecret)
	kept := fetchToken(t, s, key.ClientID, key.ClientSecret)

	var e map[string]string
	if code := postForm(t, s, "/oauth/revoke", intruder.ClientID, intruder.ClientSecret, url.Values{"token": {jwt}}, &e); code != http.StatusBadRequest || e["error"] != "unauthorized_client" {
		t.Fatalf("revocation by another client: %d %v", code, e)
	}
	if !introspect(t, s, gw, jwt).Active {
		t.Fatal("another client's revocation took effect")
	}
	for _, tok := range []string{"garbage", jwt} {
		if code := postForm(t, s, "/oauth/revoke", key.ClientID, key.ClientSecret, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, nil); code != http.StatusOK {
			t.Fatalf("revoking %.10s: %d", tok, code)
		}
	}
	if introspect(t, s, gw, jwt).Active || !introspect(t, s, gw, kept).Active {
		t.Fatal("revocation did not hit exactly the revoked token")
	}
	if code := postForm(t, s, "/oauth/revoke", "", "", url.Values{"token": {jwt}}, nil); code < 400 || code >= 500 {
		t.Fatalf("anonymous revocation: %d", code)
	}

	data, addr := s.DataDir, s.Addr
	s.Stop()
	s = servertest.Start(t, servertest.Options{DataDir: data, Addr: addr})
	if introspect(t, s, gw, jwt).Active {
		t.Fatal("a revoked token came back after restart")
	}
	if !introspect(t, s, gw, kept).Active {
		t.Fatal("an unrevoked token went inactive after restart")
	}
}

// assertion builds an RFC 7523 client assertion the way client libraries
// do.
func assertion(t *testing.T, key crypto.Signer, alg jose.SignatureAlgorithm, kid string, c jwt.Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	return signJWT(t, jose.SigningKey{Algorithm: alg, Key: key}, opts, c)
}

func TestPrivateKeyJWTClientAuthentication(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "signer", Email: "signer@example.com", AllowedAudiences: []string{dominoSite},
		Permissions: []string{"introspect"}})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(ecKey.Public())
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	var reg api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/signer/keys", api.CreateKey{Name: "ec", PublicKey: pemText}, &reg); code != http.StatusCreated {
		t.Fatalf("registering a PEM public key: %d", code)
	}
	if reg.ClientSecret != "" || reg.AuthMethod != "private_key_jwt" || len(reg.PublicKey) == 0 {
		t.Fatalf("public-key credential: %+v", reg)
	}
	// A JWK with its own kid is accepted too; a private JWK is refused.
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "ci-2026", Algorithm: "PS256", Use: "sig"})
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/signer/keys", api.CreateKey{Name: "rsa", PublicKey: string(pubJWK)}, nil); code != http.StatusCreated {
		t.Fatalf("registering a JWK: %d", code)
	}
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: rsaKey, KeyID: "oops"})
	var e api.Error
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/signer/keys", api.CreateKey{Name: "bad", PublicKey: string(privJWK)}, &e); code != http.StatusBadRequest || !strings.Contains(e.Message, "private") {
		t.Fatalf("a private JWK: %d %+v", code, e)
	}

	now := time.Now()
	claims := func(aud string) jwt.Claims {
		return jwt.Claims{Issuer: "signer", Subject: "signer", Audience: jwt.Audience{aud}, ID: rand.Text(),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
	}
	// Through x/oauth2's client-credentials flow, with the assertion as
	// endpoint parameters (how x/oauth2 users send private_key_jwt).
	tokenWith := func(a string) (*oauth2.Token, error) {
		cc := &clientcredentials.Config{ClientID: "signer", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
			EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}}
		return cc.Token(context.Background())
	}
	good := assertion(t, ecKey, jose.ES256, "", claims(s.URL))
	tok, err := tokenWith(good)
	if err != nil {
		t.Fatalf("private_key_jwt with aud = issuer: %v", err)
	}
	if _, err := tokenWith(good); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("a replayed assertion was accepted: %v", err)
	}
	if _, err := tokenWith(assertion(t, rsaKey, jose.PS256, "ci-2026", claims(s.URL+"/oauth/token"))); err != nil {
		t.Fatalf("PS256 with kid and aud = token endpoint: %v", err)
	}
	bad := map[string]string{
		"wrong audience":    assertion(t, ecKey, jose.ES256, "", claims("https://elsewhere.example.com")),
		"other key":         assertion(t, mustEC(t), jose.ES256, "", claims(s.URL)),
		"alg not the jwk's": assertion(t, rsaKey, jose.RS256, "ci-2026", claims(s.URL)),
		"too long":          assertion(t, ecKey, jose.ES256, "", func() jwt.Claims { c := claims(s.URL); c.Expiry = jwt.NewNumericDate(now.Add(2 * time.Hour)); return c }()),
		"expired":           assertion(t, ecKey, jose.ES256, "", func() jwt.Claims { c := claims(s.URL); c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)); return c }()),
		"no jti":            assertion(t, ecKey, jose.ES256, "", func() jwt.Claims { c := claims(s.URL); c.ID = ""; return c }()),
		"sub differs":       assertion(t, ecKey, jose.ES256, "", func() jwt.Claims { c := claims(s.URL); c.Subject = "admin"; return c }()),
		"hmac":              hmacAssertion(t, claims(s.URL)),
	}
	for name, a := range bad {
		if _, err := tokenWith(a); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("%s: got %v, want invalid_client", name, err)
		}
	}

	// The same credential authenticates at introspection (aud = the
	// introspection endpoint) and revocation.
	form := url.Values{"token": {tok.AccessToken}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion(t, ecKey, jose.ES256, "", claims(s.URL+"/oauth/introspect"))}}
	var res introspectionResult
	if code := postForm(t, s, "/oauth/introspect", "", "", form, &res); code != http.StatusOK || !res.Active {
		t.Fatalf("introspection with private_key_jwt: %d %+v", code, res)
	}
	form.Set("client_assertion", assertion(t, ecKey, jose.ES256, "", claims(s.URL)))
	if code := postForm(t, s, "/oauth/revoke", "", "", form, nil); code != http.StatusOK {
		t.Fatalf("revocation with private_key_jwt: %d", code)
	}
	// Revoking the registered key ends it like any other key.
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/signer/keys/"+reg.ID+":revoke", nil, nil)
	if _, err := tokenWith(assertion(t, ecKey, jose.ES256, "", claims(s.URL))); err == nil {
		t.Fatal("a revoked public key still authenticates")
	}
	var disc map[string]any
	s.Do(t, "", http.MethodGet, "/.well-known/openid-configuration", nil, &disc)
	if !strings.Contains(toJSON(disc["token_endpoint_auth_methods_supported"]), "private_key_jwt") || disc["introspection_endpoint"] != s.URL+"/oauth/introspect" {
		t.Fatalf("discovery: %v", disc)
	}
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hmacAssertion(t *testing.T, c jwt.Claims) string {
	return signJWT(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil, c)
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
