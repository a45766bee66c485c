package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// tokenShape is what a verifier sees of a token's shape: the JOSE typ
// header and the raw JSON of "aud".
type tokenShape struct {
	typ string
	aud json.RawMessage
}

func shapeOf(t *testing.T, jwt string) tokenShape {
	t.Helper()
	typ, _ := jwtHeader(t, jwt)["typ"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	return tokenShape{typ: typ, aud: payload["aud"]}
}

// haproxyAudience reads "aud" the way HAProxy's documented check does,
// jwt_payload_query('$.aud') compared as a string: only a JSON string
// yields a value; an array yields nothing, and the check fails.
func haproxyAudience(t *testing.T, jwt string) (string, bool) {
	t.Helper()
	var aud any
	if err := json.Unmarshal(shapeOf(t, jwt).aud, &aud); err != nil {
		t.Fatal(err)
	}
	s, ok := aud.(string)
	return s, ok
}

func obtain(t *testing.T, s *servertest.Server, account string, audiences ...string) (string, error) {
	t.Helper()
	key := s.CreateKey(t, account, api.CreateKey{Name: "k-" + strings.Join(audiences, "-")})
	cc := ccConfig(s, account, key.ClientSecret)
	if len(audiences) > 0 {
		cc.EndpointParams = url.Values{"audience": {strings.Join(audiences, " ")}}
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// TestTokenShapePerAccount (issue 15, finding 5): tokenType (jwt, at+jwt)
// and audienceFormat (array, string) per service account, set through the
// admin API, shape the tokens that x/oauth2's clientcredentials obtains;
// without them the profile's defaults apply (Domino: typ JWT, generic:
// at+jwt; aud an array), and the resource shows the effective values.
func TestTokenShapePerAccount(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	api1 := "https://api.example.com"
	api2 := "https://reports.example.com"
	accounts := []struct {
		create             api.CreateServiceAccount
		wantType, wantAud  string // resource
		wantTyp, wantShape string // token: typ header, first byte of aud
	}{
		{api.CreateServiceAccount{UserName: "dom-default", AllowedAudiences: []string{api1}}, "jwt", "array", "JWT", "["},
		{api.CreateServiceAccount{UserName: "gen-default", Profile: "generic", AllowedAudiences: []string{api1}}, "at+jwt", "array", "at+jwt", "["},
		{api.CreateServiceAccount{UserName: "dom-at", TokenType: "at+jwt", AllowedAudiences: []string{api1}}, "at+jwt", "array", "at+jwt", "["},
		{api.CreateServiceAccount{UserName: "gen-jwt", Profile: "generic", TokenType: "jwt", AllowedAudiences: []string{api1}}, "jwt", "array", "JWT", "["},
		{api.CreateServiceAccount{UserName: "gen-one", Profile: "generic", AudienceFormat: "string", AllowedAudiences: []string{api1}}, "at+jwt", "string", "at+jwt", `"`},
		{api.CreateServiceAccount{UserName: "dom-one", AudienceFormat: "string", TokenType: "at+jwt", AllowedAudiences: []string{api1}}, "at+jwt", "string", "at+jwt", `"`},
	}
	for _, a := range accounts {
		t.Run(a.create.UserName, func(t *testing.T) {
			a.create.Email = a.create.UserName + "@example.com"
			sa := s.CreateAccount(t, a.create)
			if sa.TokenType != a.wantType || sa.AudienceFormat != a.wantAud {
				t.Fatalf("resource says tokenType %q audienceFormat %q, want %q %q", sa.TokenType, sa.AudienceFormat, a.wantType, a.wantAud)
			}
			var got map[string]any
			s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/"+sa.UserName, nil, &got)
			if got["tokenType"] != a.wantType || got["audienceFormat"] != a.wantAud {
				t.Fatalf("GET: %v", got)
			}
			jwt, err := obtain(t, s, sa.UserName)
			if err != nil {
				t.Fatal(err)
			}
			sh := shapeOf(t, jwt)
			if sh.typ != a.wantTyp || !strings.HasPrefix(string(sh.aud), a.wantShape) {
				t.Fatalf("token typ %q aud %s, want typ %q and aud starting %s", sh.typ, sh.aud, a.wantTyp, a.wantShape)
			}
			if aud, ok := haproxyAudience(t, jwt); ok != (a.wantAud == "string") || ok && aud != api1 {
				t.Fatalf("HAProxy's $.aud reads %q (%v) from aud %s", aud, ok, sh.aud)
			}
		})
	}

	t.Run("personal access tokens keep the defaults", func(t *testing.T) {
		var pat api.KeyWithSecret
		if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/users/admin/tokens", api.CreateKey{Name: "shape"}, &pat); code != http.StatusCreated {
			t.Fatalf("PAT: HTTP %d", code)
		}
		tok, err := ccConfig(s, "admin", pat.ClientSecret).Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sh := shapeOf(t, tok.AccessToken); sh.typ != "JWT" || sh.aud[0] != '[' {
			t.Fatalf("PAT token typ %q aud %s", sh.typ, sh.aud)
		}
	})

	t.Run("string with several audiences is refused", func(t *testing.T) {
		s.CreateAccount(t, api.CreateServiceAccount{UserName: "multi", Email: "multi@example.com", Profile: "generic",
			AudienceFormat: "string", AllowedAudiences: []string{api1, api2}})
		// The defaults are two audiences: one string cannot say both.
		_, err := obtain(t, s, "multi")
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_target" || !strings.Contains(re.ErrorDescription, "audienceFormat") {
			t.Fatalf("two default audiences with audienceFormat string: %v", err)
		}
		if _, err := obtain(t, s, "multi", api1, api2); !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
			t.Fatalf("two requested audiences with audienceFormat string: %v", err)
		}
		// The guided Domino setup describes such an account and names the
		// problem instead of failing.
		s.CreateAccount(t, api.CreateServiceAccount{UserName: "dom-multi", Email: "dom-multi@example.com",
			NotesName: "CN=dom-multi/O=Acme", AudienceFormat: "string", AllowedAudiences: []string{dominoSite, "Domino"}})
		var setup api.DominoSetup
		if code := s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/domino/setup?account=dom-multi&site="+url.QueryEscape(dominoSite),
			nil, &setup); code != http.StatusOK {
			t.Fatalf("domino setup: HTTP %d", code)
		}
		if text, _ := json.Marshal(setup); !strings.Contains(string(text), "audienceFormat is string but its tokens would carry 2 audiences") {
			t.Fatalf("domino setup does not name the problem: %s", text)
		}
		// Asking for one works, and the token carries it as a string.
		jwt, err := obtain(t, s, "multi", api2)
		if err != nil {
			t.Fatal(err)
		}
		if aud, ok := haproxyAudience(t, jwt); !ok || aud != api2 {
			t.Fatalf("aud %s", shapeOf(t, jwt).aud)
		}
		// Still one of ours: introspection reads the string audience.
		if res := introspect(t, s, introspector(t, s), jwt); !res.Active || len(res.Aud) != 1 || res.Aud[0] != api2 {
			t.Fatalf("introspection of a string-aud token: %+v", res)
		}
	})

	t.Run("PATCH changes and resets", func(t *testing.T) {
		var sa api.ServiceAccount
		patch := func(body map[string]any) {
			t.Helper()
			if code := s.Do(t, s.AdminToken, http.MethodPatch, "/api/v1/service-accounts/dom-default", body, &sa); code != http.StatusOK {
				t.Fatalf("PATCH %v: HTTP %d", body, code)
			}
		}
		patch(map[string]any{"tokenType": "at+jwt", "audienceFormat": "string"})
		jwt, err := obtain(t, s, "dom-default")
		if err != nil {
			t.Fatal(err)
		}
		if sh := shapeOf(t, jwt); sa.TokenType != "at+jwt" || sa.AudienceFormat != "string" || sh.typ != "at+jwt" || sh.aud[0] != '"' {
			t.Fatalf("after PATCH: resource %q %q, token typ %q aud %s", sa.TokenType, sa.AudienceFormat, sh.typ, sh.aud)
		}
		// An empty value returns to the profile's default.
		patch(map[string]any{"tokenType": "", "audienceFormat": ""})
		jwt, err = obtain(t, s, "dom-default")
		if err != nil {
			t.Fatal(err)
		}
		if sh := shapeOf(t, jwt); sa.TokenType != "jwt" || sa.AudienceFormat != "array" || sh.typ != "JWT" || sh.aud[0] != '[' {
			t.Fatalf("after reset: resource %q %q, token typ %q aud %s", sa.TokenType, sa.AudienceFormat, sh.typ, sh.aud)
		}
		// The default follows the profile.
		patch(map[string]any{"profile": "generic"})
		if jwt, err = obtain(t, s, "dom-default"); err != nil {
			t.Fatal(err)
		}
		if sh := shapeOf(t, jwt); sa.TokenType != "at+jwt" || sh.typ != "at+jwt" {
			t.Fatalf("generic profile: resource %q, token typ %q", sa.TokenType, sh.typ)
		}
	})

	t.Run("bad values are 400 with the field named", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			body         map[string]any
			field        string
		}{
			{http.MethodPost, "/api/v1/service-accounts", map[string]any{"userName": "bad1", "email": "bad1@example.com", "tokenType": "JWT"}, "tokenType"},
			{http.MethodPost, "/api/v1/service-accounts", map[string]any{"userName": "bad2", "email": "bad2@example.com", "audienceFormat": "list"}, "audienceFormat"},
			{http.MethodPost, "/api/v1/service-accounts", map[string]any{"userName": "bad3", "email": "bad3@example.com", "tokenType": 1}, "tokenType"},
			{http.MethodPatch, "/api/v1/service-accounts/gen-one", map[string]any{"tokenType": "at+JWT"}, "tokenType"},
			{http.MethodPatch, "/api/v1/service-accounts/gen-one", map[string]any{"audienceFormat": "single"}, "audienceFormat"},
		} {
			var e api.Error
			if code := s.Do(t, s.AdminToken, c.method, c.path, c.body, &e); code != http.StatusBadRequest ||
				e.Code == "" || !strings.Contains(e.Message, c.field) {
				t.Errorf("%s %s %v: HTTP %d %+v", c.method, c.path, c.body, code, e)
			}
		}
		// Nothing changed.
		var sa api.ServiceAccount
		s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/gen-one", nil, &sa)
		if sa.TokenType != "at+jwt" || sa.AudienceFormat != "string" {
			t.Fatalf("refused PATCH changed %+v", sa)
		}
	})
}
