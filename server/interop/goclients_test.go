package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	zclient "github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/profile"
	zhttp "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/server/accounts"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertion is an RFC 7523 client assertion for e's registered public key,
// built as client libraries build them (iss = sub = client_id, aud = the
// token endpoint, a fresh jti, five minutes).
func (e *env) assertion(t *testing.T) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(e.Alg), Key: e.AssertionKey},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: e.AssertionClientID, Subject: e.AssertionClientID,
		Audience: jwt.Audience{e.TokenURL}, ID: rand.Text(), IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// outcome turns a token or an error into an obtained.
func outcome(tok *oauth2.Token, err error) obtained {
	if err != nil {
		return obtained{Err: err.Error()}
	}
	return obtained{Token: tok.AccessToken}
}

// obtainXOAuth2 runs golang.org/x/oauth2/clientcredentials.
func obtainXOAuth2(t *testing.T, e *env, cases []clientCase) map[string]obtained {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.HTTPClient)
	out := map[string]obtained{}
	for _, c := range cases {
		cfg := clientcredentials.Config{TokenURL: e.TokenURL}
		switch c.Method {
		case basic:
			cfg.ClientID, cfg.ClientSecret, cfg.AuthStyle = e.ClientID, e.ClientSecret, oauth2.AuthStyleInHeader
		case post:
			cfg.ClientID, cfg.ClientSecret, cfg.AuthStyle = e.ClientID, e.ClientSecret, oauth2.AuthStyleInParams
		case privateKeyJWT:
			cfg.ClientID, cfg.AuthStyle = e.AssertionClientID, oauth2.AuthStyleInParams
			cfg.EndpointParams = url.Values{"client_assertion_type": {assertionType}, "client_assertion": {e.assertion(t)}}
		}
		out[c.Name] = outcome(cfg.Token(ctx))
	}
	return out
}

// obtainZitadel runs zitadel/oidc's own client: discovery with
// client.Discover, then the token endpoint with its ClientCredentialsRequest
// encoding, which always carries a scope field (finding 1).
func obtainZitadel(t *testing.T, e *env, cases []clientCase) map[string]obtained {
	ctx := context.Background()
	rec := &recordingTransport{next: e.HTTPClient.Transport}
	caller := &zitadelCaller{hc: &http.Client{Timeout: e.HTTPClient.Timeout, Transport: rec}}
	disc, err := zclient.Discover(ctx, e.Issuer, caller.hc)
	if err != nil {
		t.Fatalf("zitadel client.Discover: %v", err)
	}
	caller.endpoint = disc.TokenEndpoint
	out := map[string]obtained{}
	for _, c := range cases {
		req := &oidc.ClientCredentialsRequest{GrantType: oidc.GrantTypeClientCredentials}
		var auth any
		switch c.Name {
		case "basic":
			auth = zhttp.AuthorizeBasic(e.ClientID, e.ClientSecret)
		case "post", "no scope":
			req.ClientID, req.ClientSecret = e.ClientID, e.ClientSecret
		case "assertion":
			req.ClientAssertion, req.ClientAssertionType = e.assertion(t), oidc.ClientAssertionTypeJWTAssertion
		case "profile assertion":
			// zitadel's own assertion builder, as its JWT-profile token
			// source uses it.
			signer, err := zclient.NewSignerFromPrivateKeyByte([]byte(e.AssertionKeyPEM), "")
			if err != nil {
				t.Fatalf("zitadel NewSignerFromPrivateKeyByte: %v", err)
			}
			a, err := zclient.SignedJWTProfileAssertion(e.AssertionClientID, []string{e.TokenURL}, 5*time.Minute, signer)
			if err != nil {
				t.Fatalf("zitadel SignedJWTProfileAssertion: %v", err)
			}
			// The refusal must be for the reason the table gives: no jti.
			if _, has := claims(t, a)["jti"]; has {
				t.Errorf("zitadel's SignedJWTProfileAssertion now sets jti: the %q case should work; update its row", c.Name)
			}
			req.ClientAssertion, req.ClientAssertionType = a, oidc.ClientAssertionTypeJWTAssertion
		case "profile token source":
			// The JWT-profile token source: a JWT bearer grant, not client
			// credentials.
			ts, err := profile.NewJWTProfileTokenSource(ctx, e.Issuer, e.AssertionClientID, "", []byte(e.AssertionKeyPEM), nil,
				profile.WithHTTPClient(caller.hc))
			if err != nil {
				t.Fatalf("zitadel NewJWTProfileTokenSource: %v", err)
			}
			o := outcome(ts.Token())
			o.Sent = rec.last()
			out[c.Name] = o
			continue
		default:
			t.Fatalf("zitadel client: no case %q", c.Name)
		}
		if c.Name == "basic" || c.Name == "post" {
			req.Scope = oidc.SpaceDelimitedArray{"Domino.user.all"}
		}
		tok, err := zclient.CallTokenEndpointWithAuthFn(ctx, req, auth, caller)
		if c.Name == "profile assertion" && err != nil {
			want := `"reason":"` + string(accounts.ReasonAssertionClaims) + `"`
			if !strings.Contains(e.Server.Logs(), want) {
				t.Errorf("%s: the server logged no %s for the refusal", c.Name, want)
			}
		}
		o := outcome(tok, err)
		o.Sent = rec.last()
		out[c.Name] = o
	}
	return out
}

type zitadelCaller struct {
	hc       *http.Client
	endpoint string
}

func (c *zitadelCaller) TokenEndpoint() string    { return c.endpoint }
func (c *zitadelCaller) HttpClient() *http.Client { return c.hc }

// recordingTransport keeps the body of the last request, to show what a
// client put on the wire.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	body string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(data))
		r.mu.Lock()
		r.body = string(data)
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

func (r *recordingTransport) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body
}
