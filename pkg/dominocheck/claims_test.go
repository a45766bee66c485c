package dominocheck

import (
	"maps"
	"testing"
	"time"
)

// status is the status of rule in rs ("" when the rule did not run).
func status(rs []Result, rule string) Status {
	for _, r := range rs {
		if r.Rule == rule {
			return r.Status
		}
	}
	return ""
}

// The claim rules Domino applies to a token, one change to a good token
// per case, judged through checkClaims.
func TestClaimRules(t *testing.T) {
	t.Parallel()
	const (
		issuer = "https://idp.example.com"
		site   = "https://domino.example.com"
	)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	good := func() map[string]any {
		return map[string]any{
			"iss": issuer, "sub": "ci-bot", "aud": []any{site, "Domino"}, "azp": "ci-bot",
			"scope": "Domino.user.all $DATA", "email": "ci-bot@example.com", "CN": "CN=ci-bot/O=Acme",
			"iat": float64(now.Add(-time.Minute).Unix()), "exp": float64(now.Add(9 * time.Minute).Unix()),
		}
	}
	tests := []struct {
		name string
		mode RESTAPIMode
		edit func(map[string]any)
		rule string
		want Status
	}{
		{"good token", RESTAPINone, nil, "iss equals the discovery issuer", Pass},
		{"other issuer", RESTAPINone, func(c map[string]any) { c["iss"] = issuer + "/" }, "iss equals the discovery issuer", Fail},
		{"aud as a string", RESTAPINone, func(c map[string]any) { c["aud"] = site }, "aud contains the site", Pass},
		{"aud without the site", RESTAPINone, func(c map[string]any) { c["aud"] = []any{"Domino"} }, "aud contains the site", Fail},
		{"scope with Domino.user.all", RESTAPINone, nil, "scope has Domino.user.all", Pass},
		{"scope as a list", RESTAPINone, func(c map[string]any) { c["scope"] = []any{"Domino.user.all"} }, "scope has Domino.user.all", Fail},
		{"scope without Domino.user.all", RESTAPINone, func(c map[string]any) { c["scope"] = "$DATA" }, "scope has Domino.user.all", Fail},
		{"scope with a longer name", RESTAPINone, func(c map[string]any) { c["scope"] = "Domino.user.allx" }, "scope has Domino.user.all", Fail},
		{"sane times", RESTAPINone, nil, "iat and exp sane", Pass},
		{"no iat", RESTAPINone, func(c map[string]any) { delete(c, "iat") }, "iat and exp sane", Fail},
		{"iat as a string", RESTAPINone, func(c map[string]any) { c["iat"] = "1700000000" }, "iat and exp sane", Fail},
		{"iat in the future", RESTAPINone, func(c map[string]any) { c["iat"] = float64(now.Add(time.Second).Unix()) }, "iat and exp sane", Fail},
		{"expired", RESTAPINone, func(c map[string]any) { c["exp"] = float64(now.Unix()) }, "iat and exp sane", Fail},
		{"lifetime exactly 1h", RESTAPINone, func(c map[string]any) { c["exp"] = c["iat"].(float64) + 3600 }, "iat and exp sane", Pass},
		{"lifetime over 1h", RESTAPINone, func(c map[string]any) { c["exp"] = c["iat"].(float64) + 3601 }, "iat and exp sane", Fail},
		{"no email", RESTAPINone, func(c map[string]any) { delete(c, "email") }, "email present", Fail},
		{"azp of another client", RESTAPINone, func(c map[string]any) { c["azp"] = "other" }, "azp equals the client ID", Fail},
		{"no azp", RESTAPINone, func(c map[string]any) { delete(c, "azp") }, "azp equals the client ID", Fail},
		// The REST API's rules: warnings without a mode, failures in one.
		{"CN a Notes name", RESTAPINone, nil, "CN is a Notes name (REST API)", Pass},
		{"CN lower case", RESTAPINone, func(c map[string]any) { c["CN"] = "cn=ci-bot/O=Acme" }, "CN is a Notes name (REST API)", Pass},
		{"no CN, core Domino", RESTAPINone, func(c map[string]any) { delete(c, "CN") }, "CN is a Notes name (REST API)", Warn},
		{"no CN, jwt mode", RESTAPIJWT, func(c map[string]any) { delete(c, "CN") }, "REST API: CN is a Notes name", Fail},
		{"CN not a Notes name, oidc-idpcat", RESTAPIOIDCIdpcat, func(c map[string]any) { c["CN"] = "ci-bot" }, "REST API: CN is a Notes name", Fail},
		{"no sub, jwt mode", RESTAPIJWT, func(c map[string]any) { delete(c, "sub") }, "REST API: sub present", Fail},
		{"aud with Domino, jwt mode", RESTAPIJWT, nil, "REST API: aud contains Domino", Pass},
		{"aud without Domino, jwt mode", RESTAPIJWT, func(c map[string]any) { c["aud"] = []any{site} }, "REST API: aud contains Domino", Fail},
		{"REST scope present, jwt mode", RESTAPIJWT, nil, "REST API: scope has $DATA", Pass},
		{"no REST scope, jwt mode", RESTAPIJWT, func(c map[string]any) { c["scope"] = "Domino.user.all" }, "REST API: scope has $DATA", Warn},
		{"no REST scope, oidc-idpcat", RESTAPIOIDCIdpcat, func(c map[string]any) { c["scope"] = "Domino.user.all" }, "REST API: scope has $DATA", Fail},
		{"no REST rules without a mode", RESTAPINone, func(c map[string]any) { delete(c, "sub") }, "REST API: sub present", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl := good()
			if tc.edit != nil {
				tc.edit(cl)
			}
			c := &checker{opts: Options{Site: site, ClientID: "ci-bot", RESTAPI: tc.mode, RESTScope: DefaultRESTScope,
				Now: func() time.Time { return now }}}
			c.checkClaims(maps.Clone(cl), issuer)
			if got := status(c.out, tc.rule); got != tc.want {
				t.Fatalf("%s: %q, want %q\n%+v", tc.rule, got, tc.want, c.out)
			}
			if tc.edit == nil && Failed(c.out) {
				t.Fatalf("the good token fails: %+v", c.out)
			}
		})
	}
}

// Which algorithms Domino and each REST API mode accept.
func TestAlgorithmRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg  string
		mode RESTAPIMode
		rule string
		want Status
	}{
		{"RS256", RESTAPIJWT, "REST API jwt mode: alg RS256", Pass},
		{"ES256", RESTAPIJWT, "REST API jwt mode: alg RS256", Fail},
		{"RS384", RESTAPIJWT, "REST API jwt mode: alg RS256", Fail},
		{"RS256", RESTAPIOIDCIdpcat, "REST API oidc-idpcat mode: alg", ""},
		{"EdDSA", RESTAPIOIDCIdpcat, "REST API oidc-idpcat mode: alg", Warn},
		{"RS256", RESTAPINone, "alg for the REST API", ""},
		{"ES384", RESTAPINone, "alg for the REST API", Warn},
	}
	for _, tc := range tests {
		c := &checker{opts: Options{RESTAPI: tc.mode}}
		c.checkRESTAPIAlg(tc.alg)
		if got := status(c.out, tc.rule); got != tc.want {
			t.Errorf("%s in mode %q: %s %q, want %q", tc.alg, tc.mode, tc.rule, got, tc.want)
		}
	}
}

func TestParseRESTAPIMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]RESTAPIMode{"": RESTAPINone, "jwt": RESTAPIJWT, "oidc-idpcat": RESTAPIOIDCIdpcat} {
		if got, err := ParseRESTAPIMode(in); err != nil || got != want {
			t.Errorf("ParseRESTAPIMode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"JWT", "oidc", " jwt"} {
		if _, err := ParseRESTAPIMode(in); err == nil {
			t.Errorf("ParseRESTAPIMode(%q) accepted", in)
		}
	}
}

// The JWKS max-age Domino caches for, read from Cache-Control.
func TestMaxAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cc   string
		want int
		ok   bool
	}{
		{"public, max-age=3600", 3600, true},
		{"Max-Age=60", 60, true},
		{"no-store", 0, false},
		{"", 0, false},
		{"max-age=soon", 0, false},
		{"max-age=10, max-age=20", 10, true},
	}
	for _, tc := range tests {
		if got, ok := maxAge(tc.cc); got != tc.want || ok != tc.ok {
			t.Errorf("maxAge(%q) = %d, %v; want %d, %v", tc.cc, got, ok, tc.want, tc.ok)
		}
	}
}
