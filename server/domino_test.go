package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/domino/dominotest"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

// dominoVerifier builds the independent verifier from what Domino would
// fetch: the discovery issuer and the JWKS, over the server's own HTTPS.
func dominoVerifier(t *testing.T, s *servertest.Server, hc *http.Client) *dominotest.Verifier {
	t.Helper()
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, hc, s.URL+"/.well-known/openid-configuration", &disc)
	var keys jose.JSONWebKeySet
	getJSON(t, hc, disc.JWKSURI, &keys)
	return &dominotest.Verifier{Issuer: disc.Issuer, Keys: keys, Site: dominoSite}
}

func getJSON(t *testing.T, hc *http.Client, u string, out any) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// TestDominoProfileTokensPassTheVerifier: every Domino-profile token
// tokenwright issues, for differently configured accounts and requests,
// passes the independent model of Domino's (and the REST API's) checks.
func TestDominoProfileTokensPassTheVerifier(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.TLS = tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key")}
		c.Issuer = "https://" + c.Listen
		c.Domino.Sites = []string{dominoSite}
		c.Domino.RestAPI = true
	}})
	hc := tlsClient(t, true)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	cl, err := client.New(s.URL, s.AdminToken, hc)
	if err != nil {
		t.Fatal(err)
	}

	type tokenCase struct {
		name     string
		account  api.CreateServiceAccount
		scopes   []string
		audience []string
		rest     bool // the REST API's rules apply too
	}
	cases := []tokenCase{
		{"server-wide site, REST API", api.CreateServiceAccount{UserName: "rest-bot", Email: "rest-bot@example.com",
			NotesName: "CN=rest-bot/O=Acme", AllowedScopes: []string{"$DATA", "MAIL"}}, nil, nil, true},
		{"no scopes at all", api.CreateServiceAccount{UserName: "bare", Email: "bare@example.com"}, nil, nil, false},
		{"own audiences", api.CreateServiceAccount{UserName: "own-aud", Email: "own-aud@example.com", NotesName: "CN=own-aud/O=Acme",
			AllowedScopes: []string{"$DATA"}, AllowedAudiences: []string{dominoSite, "https://api.example.com"}}, nil, nil, false},
		{"requested subset", api.CreateServiceAccount{UserName: "subset", Email: "subset@example.com", NotesName: "CN=subset/O=Acme",
			AllowedScopes: []string{"$DATA", "MAIL"}}, []string{"$DATA"}, []string{dominoSite, "Domino"}, true},
		{"requested Domino.user.all only", api.CreateServiceAccount{UserName: "explicit", Email: "explicit@example.com",
			AllowedScopes: []string{"MAIL"}}, []string{"Domino.user.all"}, []string{dominoSite}, false},
		{"one-hour lifetime", api.CreateServiceAccount{UserName: "long", Email: "long@example.com", NotesName: "CN=long/O=Acme",
			AllowedScopes: []string{"$DATA"}, TokenLifetime: 3600}, nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cl.CreateServiceAccount(ctx, tc.account); err != nil {
				t.Fatal(err)
			}
			key, err := cl.CreateKey(ctx, tc.account.UserName, api.CreateKey{Name: "k"})
			if err != nil {
				t.Fatal(err)
			}
			cc := clientcredentials.Config{ClientID: tc.account.UserName, ClientSecret: key.ClientSecret,
				TokenURL: s.URL + "/oauth/token", Scopes: tc.scopes, AuthStyle: oauth2.AuthStyleInHeader}
			if tc.audience != nil {
				cc.EndpointParams = url.Values{"resource": tc.audience}
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v := dominoVerifier(t, s, hc)
			v.AllowedClientIDs = []string{tc.account.UserName}
			if err := v.Verify(tok.AccessToken); err != nil {
				t.Fatalf("core Domino would refuse: %v", err)
			}
			if tc.rest {
				v.REST, v.RESTScope = true, "$DATA"
				if err := v.Verify(tok.AccessToken); err != nil {
					t.Fatalf("the REST API would refuse: %v", err)
				}
			}
		})
	}

	// A generic-profile token is not meant for Domino, and Domino says so.
	if _, err := cl.CreateServiceAccount(ctx, api.CreateServiceAccount{UserName: "gen", Email: "gen@example.com",
		Profile: "generic", AllowedAudiences: []string{dominoSite}}); err != nil {
		t.Fatal(err)
	}
	key, err := cl.CreateKey(ctx, "gen", api.CreateKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := (&clientcredentials.Config{ClientID: "gen", ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInHeader}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := dominoVerifier(t, s, hc).Verify(tok.AccessToken); err == nil {
		t.Fatal("a generic-profile token passed Domino's checks")
	}
	if h := jwtHeader(t, tok.AccessToken); h["typ"] != "at+jwt" {
		t.Fatalf("generic typ %v", h["typ"])
	}
}

func TestDominoSetupEndpoint(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		AllowedScopes: []string{"$DATA"}, AllowedAudiences: []string{dominoSite}})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "gen", Email: "gen@example.com", Profile: "generic"})

	var e api.Error
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/domino/setup", nil, &e); code != 400 || e.Code != "invalid_request" ||
		!strings.Contains(e.Message, "site") {
		t.Fatalf("no site: %d %+v", code, e)
	}
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/domino/setup?site=http://domino.example.com", nil, &e); code != 400 ||
		!strings.HasPrefix(e.Message, "site:") {
		t.Fatalf("http site: %d %+v", code, e)
	}
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/domino/setup?site="+dominoSite+"&account=nobody", nil, &e); code != 404 {
		t.Fatalf("unknown account: %d", code)
	}
	if code := s.Do(t, "", "GET", "/api/v1/domino/setup?site="+dominoSite, nil, &e); code != 401 {
		t.Fatalf("no token: %d", code)
	}

	var setup api.DominoSetup
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/domino/setup?site="+url.QueryEscape(dominoSite)+"&account=ci-bot", nil, &setup); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	if setup.Site != dominoSite || setup.Account != "ci-bot" || len(setup.Sections) != 5 {
		t.Fatalf("%+v", setup)
	}
	for _, sec := range setup.Sections {
		if sec.ID == "idpcat" && !strings.Contains(sec.Content, "Base URL:                            "+s.URL+"\n") {
			t.Errorf("idpcat does not carry the issuer:\n%s", sec.Content)
		}
		if sec.ID == "person" && (!strings.Contains(sec.Content, "CN=ci-bot/O=Acme") || !strings.Contains(sec.Content, "ci-bot@example.com")) {
			t.Errorf("person section:\n%s", sec.Content)
		}
	}
	// Without an account: every Domino-profile account, not the generic one.
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/domino/setup?site="+url.QueryEscape(dominoSite), nil, &setup); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	person := setup.Sections[len(setup.Sections)-1].Content
	if !strings.Contains(person, "Service account ci-bot") || strings.Contains(person, "Service account gen") {
		t.Fatalf("all accounts:\n%s", person)
	}
	// The server-wide site is the default.
	s2 := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Domino.Sites = []string{dominoSite} }})
	if code := s2.Do(t, s2.AdminToken, "GET", "/api/v1/domino/setup", nil, &setup); code != 200 || setup.Site != dominoSite {
		t.Fatalf("default site: %d %+v", code, setup.Site)
	}
}

// TestDominoAudiencePrecedence: domino.sites for accounts without their
// own audiences, the account's own list otherwise, "Domino" added with
// domino.restApi, and a key's list narrowing everything.
func TestDominoAudiencePrecedence(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.Domino.Sites = []string{dominoSite, "https://domino2.example.com"}
		c.Domino.RestAPI = true
	}})
	aud := func(account string, key api.CreateKey) []string {
		t.Helper()
		k := s.CreateKey(t, account, key)
		tok, err := ccConfig(s, account, k.ClientSecret).Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok.AccessToken, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c tokenClaims
		_ = json.Unmarshal(raw, &c)
		if !strings.HasPrefix(c.Scope, "Domino.user.all") {
			t.Fatalf("%s: scope %q", account, c.Scope)
		}
		return c.Aud
	}
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "plain", Email: "plain@example.com"})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "own", Email: "own@example.com", AllowedAudiences: []string{"https://domino3.example.com"}})
	cases := []struct {
		account string
		key     api.CreateKey
		want    []string
	}{
		{"plain", api.CreateKey{Name: "a"}, []string{dominoSite, "https://domino2.example.com", "Domino"}},
		{"own", api.CreateKey{Name: "a"}, []string{"https://domino3.example.com", "Domino"}},
		{"plain", api.CreateKey{Name: "b", Audiences: []string{dominoSite}}, []string{dominoSite}},
	}
	for _, tc := range cases {
		if got := aud(tc.account, tc.key); !slices.Equal(got, tc.want) {
			t.Errorf("%s/%s: aud %v, want %v", tc.account, tc.key.Name, got, tc.want)
		}
	}
}
