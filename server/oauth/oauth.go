// Package oauth wires tokenwright into zitadel/oidc's op Server API. The op
// package parses requests, authenticates clients through VerifyClient and
// dispatches grants; this package supplies the client-credentials grant and
// nothing else, so every other grant answers unsupported_grant_type and the
// op package's authorize, userinfo, end-session and device routes do not
// exist. The authorization endpoint the metadata advertises is our own
// (authorize.go), and refuses every request.
package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/issuer"
	"github.com/tokenwright/tokenwright/server/reqctx"
)

// Endpoint paths, relative to the issuer.
const (
	TokenPath      = "/oauth/token"
	IntrospectPath = "/oauth/introspect"
	RevokePath     = "/oauth/revoke"
	KeysPath       = "/keys"
)

// Server implements op.Server for the client-credentials grant.
type Server struct {
	op.UnimplementedServer
	accounts *accounts.Service
	issuer   *issuer.Issuer
	log      zerolog.Logger
	observer Observer        // observer.go
	foreign  ForeignVerifier // federated.go; nil: no federation
}

// New returns the op.Server.
func New(a *accounts.Service, i *issuer.Issuer, log zerolog.Logger) *Server {
	return &Server{accounts: a, issuer: i, log: log, observer: nopObserver{}}
}

// Handler returns the HTTP handler for the OAuth endpoints. CORS is off
// (the op default reflects any origin with credentials) and only the
// token, introspection and revocation endpoints are routed.
func (s *Server) Handler() http.Handler {
	return op.RegisterServer(s, op.Endpoints{
		Token:         op.NewEndpoint(TokenPath),
		Introspection: op.NewEndpoint(IntrospectPath),
		Revocation:    op.NewEndpoint(RevokePath),
	}, op.WithServerCORSOptions(nil))
}

// errInvalidClient is the single answer to every failed authentication.
func errInvalidClient() error {
	return op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
}

func errServer() error {
	return op.NewStatusError(oidc.ErrServerError().WithDescription("internal error"), http.StatusInternalServerError)
}

// VerifyClient authenticates the caller with client_secret_basic,
// client_secret_post or private_key_jwt (token and revocation endpoints).
// The op layer has already refused requests that mix methods.
// At the token endpoint it also admits the federated forms (federated.go):
// a token exchange without client credentials names its account by
// client_id alone (the subject token is the credential, checked by
// TokenExchange), and a foreign client assertion with client_credentials
// is verified here against the account's federation rules.
func (s *Server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	if r.URL.Path == TokenPath {
		switch grantType := r.Form.Get("grant_type"); {
		case grantType == GrantTypeTokenExchange && cc.ClientSecret == "" && cc.ClientAssertion == "":
			return &client{federatedFor: cc.ClientID, method: oidc.AuthMethodNone}, nil
		case grantType == string(oidc.GrantTypeClientCredentials) && cc.ClientAssertion != "" && foreignAssertion(cc.ClientAssertion):
			if cc.ClientID == "" {
				return nil, s.invalidRequest(ctx, "", "client_id is required with a foreign client_assertion: it names the service account")
			}
			f, err := s.federate(ctx, grantTypeFederatedClient, cc.ClientID, cc.ClientAssertion)
			if err != nil {
				return nil, err
			}
			return &client{principal: f.principal, method: oidc.AuthMethodPrivateKeyJWT, federated: f}, nil
		}
	}
	return s.authenticate(ctx, cc, r.Header, r.URL.Path)
}

// authenticate checks the client credentials of a request to endpoint
// (a path, which names the endpoint an assertion's aud may carry).
func (s *Server) authenticate(ctx context.Context, cc *op.ClientCredentials, header http.Header, endpoint string) (*client, error) {
	var p *accounts.Principal
	var err error
	method := oidc.AuthMethodPost
	switch {
	case cc.ClientAssertion != "":
		// RFC 7523 §3: the audience is the authorization server; accept
		// the issuer (preferred by RFC 7523bis and FAPI 2) and the URL of
		// the endpoint being called (what OIDC Core suggests).
		auds := []string{s.issuer.URL(), s.issuer.URL() + TokenPath}
		if endpoint != TokenPath {
			auds = append(auds, s.issuer.URL()+endpoint)
		}
		method = oidc.AuthMethodPrivateKeyJWT
		p, err = s.accounts.AuthenticateAssertion(ctx, cc.ClientAssertion, cc.ClientID, auds, reqctx.ClientIP(ctx))
	case cc.ClientSecret == "":
		err = &accounts.AuthError{Reason: accounts.ReasonNoSecret}
	default:
		if _, _, basic := (&http.Request{Header: header}).BasicAuth(); basic {
			method = oidc.AuthMethodBasic
		}
		p, err = s.accounts.AuthenticateClient(ctx, cc.ClientID, cc.ClientSecret, reqctx.ClientIP(ctx))
	}
	if errors.Is(err, accounts.ErrInvalidClient) {
		// The reason goes to the log only (the client gets the uniform
		// answer, the metrics a coarse result). client_id is client input:
		// the log sink redacts it if it is a secret sent in the wrong field.
		reason := string(accounts.ReasonOf(err))
		ev := reqctx.Correlate(ctx, s.log.Info()).Str("client_id", cc.ClientID).Str("method", string(method)).Str("reason", reason)
		var ae *accounts.AuthError
		if errors.As(err, &ae) && ae.Debug != "" {
			ev = ev.Str("detail", ae.Debug)
		}
		ev.Msg("client authentication failed")
		// The request's own line carries the claimed client and the reason
		// too, so that one line tells what happened to the request.
		*reqctx.Log(ctx) = reqctx.LogFields{ClientID: cc.ClientID, Reason: reason}
		s.failed(endpoint, ResultInvalidClient)
		return nil, errInvalidClient()
	}
	if err != nil {
		s.log.Error().Err(err).Msg("client authentication error")
		return nil, errServerOrUnavailable(err)
	}
	if errors.Is(reqctx.Authenticated(ctx, p.ClientID()), reqctx.ErrThrottled) {
		return nil, errSlowDown()
	}
	return &client{principal: p, method: method}, nil
}

// ClientCredentialsExchange applies scope and audience policy and mints a
// JWT. Audiences come from RFC 8707 "resource" parameters or the widely
// used "audience" parameter (space-separated values allowed).
func (s *Server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	c, ok := r.Client.(*client)
	if !ok || c.principal == nil {
		return nil, errServer()
	}
	scopes, audiences := nonEmpty(r.Data.Scope), requestedAudiences(r.PostForm)
	if c.federated != nil {
		return s.issueFederated(ctx, c.federated, scopes, audiences, false)
	}
	grant, err := s.grant(ctx, c.principal, scopes, audiences)
	if err != nil {
		return nil, err
	}
	tok, err := s.issuer.Mint(grant)
	if err != nil {
		s.log.Error().Err(err).Msg("minting token")
		return nil, errServer()
	}
	// The issuance record goes on the request's log line (one write).
	*reqctx.Log(ctx) = reqctx.LogFields{Event: "token.issued", ClientID: grant.ClientID, KeyID: grant.KeyID,
		JTI: tok.ID, KID: tok.KeyID, Scope: grant.Scopes, Audience: grant.Audiences, ExpiresAt: tok.ExpiresAt}
	s.observer.TokenIssued(grant.ClientID)
	resp := op.NewResponse(&oidc.AccessTokenResponse{
		AccessToken: tok.JWT,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   uint64(tok.ExpiresAt.Sub(tok.IssuedAt) / time.Second),
		Scope:       grant.Scopes,
	})
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Pragma", "no-cache")
	return resp, nil
}

// nonEmpty drops empty elements, which mean nothing requested:
// zitadel/oidc hands over "scope=" as [""] (its own client sends that when
// no scope is asked for), and "a  b" as ["a", "", "b"].
func nonEmpty(scopes []string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return sc == "" })
}

// requestedAudiences are the audiences a token request asks for: RFC 8707
// "resource" parameters and the widely used "audience" parameter
// (space-separated values allowed).
func requestedAudiences(form url.Values) []string {
	var audiences []string
	for _, a := range form["resource"] {
		if a != "" {
			audiences = append(audiences, a)
		}
	}
	for _, a := range form["audience"] {
		audiences = append(audiences, strings.Fields(a)...)
	}
	return audiences
}

// grant applies the token policy (accounts.Grant) to p's request, mapping
// a refusal to its OAuth error.
func (s *Server) grant(ctx context.Context, p *accounts.Principal, scopes, audiences []string) (accounts.Grant, error) {
	grant, err := s.accounts.Grant(p, scopes, audiences)
	switch {
	case errors.Is(err, accounts.ErrInvalidScope):
		*reqctx.Log(ctx) = reqctx.LogFields{ClientID: p.ClientID(), Reason: string(ResultInvalidScope)}
		s.observer.TokenFailed(ResultInvalidScope)
		return grant, oidc.ErrInvalidScope().WithDescription("%s", err.Error())
	case errors.Is(err, accounts.ErrInvalidTarget):
		*reqctx.Log(ctx) = reqctx.LogFields{ClientID: p.ClientID(), Reason: string(ResultInvalidTarget)}
		s.observer.TokenFailed(ResultInvalidTarget)
		return grant, oidc.ErrInvalidTarget().WithDescription("%s", err.Error())
	case err != nil:
		s.log.Error().Err(err).Msg("applying token policy")
		return grant, errServer()
	}
	return grant, nil
}

// client adapts an authenticated principal to op.Client. Only the methods
// the client-credentials path consults carry meaning.
type client struct {
	principal *accounts.Principal
	method    oidc.AuthMethod
	// federatedFor is set, and principal nil, for a token exchange without
	// client credentials: the account client_id names, not yet
	// authenticated (TokenExchange checks the subject token).
	federatedFor string
	// federated is set for client_credentials with a foreign client
	// assertion, already accepted (VerifyClient).
	federated *federated
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string {
	if c.principal == nil {
		return c.federatedFor
	}
	return c.principal.ClientID()
}
func (c *client) AuthMethod() oidc.AuthMethod { return c.method }

// GrantTypes is what op lets the client ask for: token exchange only for
// an exchange's unauthenticated client, client credentials otherwise.
func (c *client) GrantTypes() []oidc.GrantType {
	if c.federatedFor != "" {
		return []oidc.GrantType{oidc.GrantTypeTokenExchange}
	}
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RedirectURIs() []string               { return nil }
func (c *client) PostLogoutRedirectURIs() []string     { return nil }
func (c *client) ApplicationType() op.ApplicationType  { return op.ApplicationTypeWeb }
func (c *client) ResponseTypes() []oidc.ResponseType   { return nil }
func (c *client) LoginURL(string) string               { return "" }
func (c *client) IDTokenLifetime() time.Duration       { return 0 }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func([]string) []string { return nil }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return slices.Clone[[]string]
}
