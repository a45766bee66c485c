package client

import (
	"context"
	"net/http"
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
}

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

// TokenURL is the token endpoint of the tokenwright server at issuer.
func TokenURL(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/oauth/token" }
