package server_test

// Fuzz targets for everything a client or an operator feeds the server.
// Seed corpora live in this package's testdata/fuzz/<Target>/ (where
// `go test` finds them and replays them as regression cases on every run);
// see docs/hardening.md.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// fuzzServer is one real server (bbolt in a temp dir) whose handler the
// fuzz targets call directly: the full middleware chain and the op layer
// run, without a socket per input. Limits are off so every input reaches
// the handlers.
func fuzzServer(f *testing.F) (*servertest.Server, api.KeyWithSecret) {
	s := servertest.Start(f, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	s.CreateAccount(f, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(f, "ci-bot", api.CreateKey{Name: "k"})
	return s, key
}

// checkAnswer enforces the rules for any client input: never a 5xx, always
// JSON, and an error answer has an error code.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("HTTP %d with a non-JSON body %q", rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		if code, _ := body["error"].(string); code == "" {
			t.Fatalf("HTTP %d without an error code: %s", rec.Code, rec.Body)
		}
	}
	return body
}

// FuzzTokenRequest drives POST /oauth/token with an arbitrary form body,
// Authorization header and Content-Type. Besides "no 5xx", it checks there
// is no authentication bypass: a 200 needs the real secret in the request.
func FuzzTokenRequest(f *testing.F) {
	s, key := fuzzServer(f)
	h := s.Server.Handler()
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	f.Add("grant_type=client_credentials", basic("ci-bot", key.ClientSecret), "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&client_id=ci-bot&client_secret="+key.ClientSecret, "", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&scope=Domino.user.all&audience=https%3A%2F%2Fdomino.example.com", basic("ci-bot", "twk_x"), "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("grant_type=client_credentials&grant_type=password", basic("ci-bot", key.ClientSecret), "application/x-www-form-urlencoded")
	f.Add("grant_type=%zz", "Basic !!!", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&client_id=ci-bot&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.e30.", "", "application/x-www-form-urlencoded")
	f.Add(`{"grant_type":"client_credentials"}`, basic("ci-bot", key.ClientSecret), "application/json")
	f.Add("grant_type=client_credentials&resource=%E2%80%AE&scope=%00", basic("\u0441i-bot", key.ClientSecret), "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, authorization, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		out := checkAnswer(t, rec)
		if rec.Code == 200 {
			if !strings.Contains(body+decodeBasic(authorization), key.ClientSecret) && !strings.Contains(body, strings.ReplaceAll(key.ClientSecret, "_", "%5F")) {
				t.Fatalf("token issued without the secret: body %q auth %q", body, authorization)
			}
			if _, ok := out["access_token"].(string); !ok || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("200 without a token or without no-store: %s %v", rec.Body, rec.Header())
			}
		}
	})
}

func decodeBasic(h string) string {
	_, b64, ok := strings.Cut(h, " ")
	if !ok {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return ""
	}
	return string(raw)
}

// FuzzClientAssertion drives private_key_jwt through the token handler:
// JWT-shaped client_assertion values built from a fuzzed header, payload
// and signature (seeded with genuinely signed assertions for an account
// with a registered ES256 key). Besides "no 5xx", a 200 must mean the
// assertion really verifies under that key and names that account: no
// forged, unsigned (alg none), HMAC-with-public-key or cross-account
// assertion may get a token.
func FuzzClientAssertion(f *testing.F) {
	s, _ := fuzzServer(f)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, Use: "sig", Algorithm: "ES256"})
	if code := s.Do(f, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot/keys",
		api.CreateKey{Name: "jwt", PublicKey: string(pubJWK)}, nil); code != 201 {
		f.Fatalf("registering the public key: HTTP %d", code)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.Fatal(err)
	}
	addSigned := func(claims map[string]any) {
		payload, _ := json.Marshal(claims)
		jws, err := signer.Sign(payload)
		if err != nil {
			f.Fatal(err)
		}
		compact, _ := jws.CompactSerialize()
		parts := strings.Split(compact, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		f.Add(string(h), string(p), parts[2], "ci-bot")
	}
	exp := time.Now().Add(10 * time.Minute).Unix()
	for i := range 3 {
		addSigned(map[string]any{"iss": "ci-bot", "sub": "ci-bot", "aud": s.URL + "/oauth/token", "exp": exp, "jti": "seed-" + strconv.Itoa(i)})
	}
	addSigned(map[string]any{"iss": "admin", "sub": "admin", "aud": s.URL, "exp": exp, "jti": "other-account"})
	addSigned(map[string]any{"iss": "ci-bot", "sub": "ci-bot", "aud": "https://elsewhere.example.com", "exp": exp, "jti": "wrong-aud"})
	f.Add(`{"alg":"none"}`, `{"iss":"ci-bot","sub":"ci-bot","aud":"`+s.URL+`","exp":9999999999,"jti":"n"}`, "", "ci-bot")
	f.Add(`{"alg":"HS256","typ":"JWT"}`, `{"iss":"ci-bot","sub":"ci-bot","exp":9999999999}`, "c2lnbmF0dXJl", "ci-bot")
	f.Add(`{"alg":"ES256","jku":"http://127.0.0.1:1/jwks","x5u":"file:///etc/passwd","jwk":{"kty":"oct","k":"AA"}}`, `{}`, "AAAA", "ci-bot")
	f.Add("\x00", "\xff\xfe", "....", "\u202e")
	h := s.Server.Handler()
	f.Fuzz(func(t *testing.T, header, payload, sig, clientID string) {
		enc := base64.RawURLEncoding.EncodeToString
		assertion := enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec)
		if rec.Code != 200 {
			return
		}
		jws, err := jose.ParseSignedCompact(assertion, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("token issued for an assertion that does not parse as ES256: %q", assertion)
		}
		claimsJSON, err := jws.Verify(&priv.PublicKey)
		if err != nil {
			t.Fatalf("token issued for an assertion that does not verify: %q", assertion)
		}
		var claims struct{ Iss, Sub string }
		_ = json.Unmarshal(claimsJSON, &claims)
		if claims.Iss != "ci-bot" || claims.Sub != "ci-bot" {
			t.Fatalf("token issued for an assertion about %q/%q", claims.Iss, claims.Sub)
		}
	})
}

// FuzzAdminJSON sends fuzzed JSON bodies to the admin API's write routes
// as the administrator.
func FuzzAdminJSON(f *testing.F) {
	s, key := fuzzServer(f)
	if code := s.Do(f, s.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "bob", Email: "bob@example.com"}, nil); code != 201 {
		f.Fatalf("creating bob: HTTP %d", code)
	}
	h := s.Server.Handler()
	routes := [][2]string{
		{"POST", "/api/v1/service-accounts"},
		{"PATCH", "/api/v1/service-accounts/ci-bot"},
		{"POST", "/api/v1/service-accounts/ci-bot/keys"},
		{"POST", "/api/v1/service-accounts/ci-bot/owners"},
		{"POST", "/api/v1/service-accounts/ci-bot/keys/" + key.ID + ":rotate"},
		{"POST", "/api/v1/users"},
		{"PATCH", "/api/v1/users/bob"},
		{"POST", "/api/v1/users/bob/tokens"},
	}
	seeds := []string{
		`{"userName":"etl","email":"etl@example.com","roles":["r"],"allowedScopes":["Domino.user.all"],"claims":{"dept":"x"}}`,
		`{"description":"d","tokenLifetime":600,"allowedCidrs":["10.0.0.0/8"],"profile":"domino"}`,
		`{"name":"k","expiresIn":86400,"scopes":["Domino.user.all"],"cidrs":["::1/128"]}`,
		`{"user":"bob"}`,
		`{"gracePeriod":3600}`,
		`{"userName":"\u0441i-bot","email":"a@b.c","description":"\u202e"}`,
		`{"claims":{"iss":"evil","a":{"b":[1,2,{"c":null}]}}}`,
		`{"tokenLifetime":-1e309}`,
		`{"name":"k"} {"name":"k2"}`,
		`[]`,
		"\xff\xfe",
	}
	for i, seed := range seeds {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt[0], rt[1], strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusNoContent {
			return
		}
		checkAnswer(t, rec)
	})
}
