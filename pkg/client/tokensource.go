package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// TokenConfig describes how a script obtains JWTs with an API key.
type TokenConfig struct {
	// Issuer is the tokenwright base URL; the token endpoint is Issuer/oauth/token.
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Audiences are sent as RFC 8707 "resource" parameters.
	Audiences []string
	// HTTPClient is used for token requests (nil: http.DefaultClient).
	HTTPClient *http.Client
	// RefreshMargin is how long before expiry a new token is fetched
	// (zero: x/oauth2's default of 10 s). Long-running programs such as
	// `tokenwright proxy` use a larger one so that a token never expires
	// in flight.
	RefreshMargin time.Duration
	// FederatedToken, when set, replaces the secret: each token request
	// is an RFC 8693 token exchange of the token it returns (a CI job's or
	// a workload's OIDC token, matched by a federation rule of the
	// service account ClientID), with no secret sent. It is called for
	// every request, since such tokens are short-lived and may be
	// replaced (a projected Kubernetes token file is rewritten).
	FederatedToken func(context.Context) (string, error)
}

// Token exchange (RFC 8693) names.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
)

// TokenSource returns an oauth2.TokenSource that caches the JWT and fetches
// a new one shortly before it expires. Credentials go in the Basic header.
func TokenSource(ctx context.Context, cfg TokenConfig) oauth2.TokenSource {
	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     TokenURL(cfg.Issuer),
		Scopes:       cfg.Scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	if len(cfg.Audiences) > 0 {
		cc.EndpointParams = map[string][]string{"resource": cfg.Audiences}
	}
	// nil is x/oauth2's http.DefaultClient (no timeout); either way the
	// token requests say User-Agent: tokenwright/VERSION.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, buildinfo.Client(cfg.HTTPClient, 0))
	if cfg.FederatedToken != nil {
		margin := cfg.RefreshMargin
		if margin <= 0 {
			margin = 10 * time.Second
		}
		return oauth2.ReuseTokenSourceWithExpiry(nil, exchanger{ctx: ctx, cc: cc, subject: cfg.FederatedToken}, margin)
	}
	if cfg.RefreshMargin > 0 {
		return oauth2.ReuseTokenSourceWithExpiry(nil, fetcher{ctx: ctx, cc: &cc}, cfg.RefreshMargin)
	}
	return cc.TokenSource(ctx)
}

// fetcher always asks the token endpoint; ReuseTokenSourceWithExpiry
// around it decides when.
type fetcher struct {
	ctx context.Context
	cc  *clientcredentials.Config
}

func (f fetcher) Token() (*oauth2.Token, error) { return f.cc.Token(f.ctx) }

// exchanger asks the token endpoint for a token exchange of a freshly
// read federated token. x/oauth2's client-credentials request carries it:
// grant_type may be overridden, the rest are extra parameters, and the
// client is named by client_id alone (no secret, so no Basic header).
type exchanger struct {
	ctx     context.Context
	cc      clientcredentials.Config
	subject func(context.Context) (string, error)
}

func (e exchanger) Token() (*oauth2.Token, error) {
	subject, err := e.subject(e.ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the federated token: %w", err)
	}
	cc := e.cc
	cc.ClientSecret, cc.AuthStyle = "", oauth2.AuthStyleInParams
	params := url.Values{"grant_type": {GrantTypeTokenExchange}, "subject_token": {subject}, "subject_token_type": {TokenTypeJWT}}
	for k, v := range e.cc.EndpointParams {
		params[k] = v
	}
	cc.EndpointParams = params
	return cc.Token(e.ctx)
}

// TokenURL is the token endpoint of the tokenwright server at issuer.
func TokenURL(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/oauth/token" }
