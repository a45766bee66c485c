package federation_test

import (
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/federation"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// TestVerifiesAnotherTokenwright: a token of another tokenwright
// installation (a real server on loopback, its own discovery and JWKS)
// verifies, with either aud shape it writes.
func TestVerifiesAnotherTokenwright(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	const aud = "https://domino.example"
	for _, format := range []string{"array", "string"} {
		name := "ci-" + format
		s.CreateAccount(t, api.CreateServiceAccount{UserName: name, Email: name + "@example.com",
			AllowedAudiences: []string{aud}, AudienceFormat: format})
		key := s.CreateKey(t, name, api.CreateKey{Name: "k"})
		cc := &clientcredentials.Config{ClientID: key.ClientID, ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: map[string][]string{"audience": {aud}}}
		tok, err := cc.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		v := federation.NewIssuers(federation.IssuersOptions{})
		got, err := v.Verify(t.Context(), tok.AccessToken, s.URL, aud, "")
		if err != nil {
			t.Fatalf("%s audience: %v", format, err)
		}
		if got.Subject != name || got.Claims["client_id"] != name || got.JTI == "" {
			t.Fatalf("%s audience: verified %+v", format, got)
		}
	}
}
