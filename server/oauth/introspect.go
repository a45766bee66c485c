package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/issuer"
)

// introspection is the RFC 7662 response. Our own type rather than
// oidc.IntrospectionResponse, which would add empty userinfo members.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
}

var inactive = &introspection{Active: false}

// Introspect answers RFC 7662 for resource servers. The caller must be a
// service account holding the "introspect" permission. A token is active
// only if every positive check passes: our signature and issuer, not
// expired, not revoked, and the credential it was issued to still valid.
func (s *Server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	caller, err := s.authenticate(ctx, r.Data.ClientCredentials, r.Header, IntrospectPath)
	if err != nil {
		return nil, err
	}
	if !caller.principal.HasPermission(accounts.PermissionIntrospect) {
		return nil, op.NewStatusError(oidc.ErrAccessDenied().WithDescription("this client may not introspect tokens"), http.StatusForbidden)
	}
	// Any token_type_hint is ignored (RFC 7662 §2.1 allows it): we issue
	// access tokens only, and every token is checked as one.
	resp := op.NewResponse(s.introspect(ctx, r.Data.Token))
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

func (s *Server) introspect(ctx context.Context, token string) *introspection {
	v, err := s.issuer.Verify(token, false)
	if err != nil {
		return inactive
	}
	revoked, err := s.accounts.AccessTokenRevoked(ctx, v.JTI)
	if err != nil || revoked {
		logIfErr(s, err, "introspection: deny-list lookup")
		return inactive
	}
	credentialActive := s.accounts.CredentialActive
	if accounts.IsFederatedKeyID(v.KeyID) {
		// Issued through a federation rule: live while the rule exists
		// and the account could still obtain the token.
		credentialActive = func(ctx context.Context, keyID string, scopes, audiences []string) (bool, error) {
			return s.accounts.FederatedActive(ctx, v.ClientID, keyID, scopes, audiences)
		}
	}
	live, err := credentialActive(ctx, v.KeyID, strings.Fields(v.Scope), v.Audience)
	if err != nil || !live {
		logIfErr(s, err, "introspection: credential lookup")
		return inactive
	}
	return &introspection{Active: true, Scope: v.Scope, ClientID: v.ClientID, Subject: v.Subject, Audience: v.Audience,
		Issuer: v.Issuer, Expiry: v.Expiry.Unix(), IssuedAt: v.IssuedAt.Unix(), NotBefore: v.NotBefore.Unix(),
		JTI: v.JTI, TokenType: oidc.BearerToken}
}

func logIfErr(s *Server, err error, msg string) {
	if err != nil {
		s.log.Error().Err(err).Msg(msg)
	}
}

// Revocation lets a client revoke an access token issued to it (RFC
// 7009). Tokens that are not ours, malformed or already expired need no
// revocation and get the same 200; a token issued to another client is
// refused (§2.1).
func (s *Server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	c, ok := r.Client.(*client)
	if !ok {
		return nil, errServer()
	}
	// token_type_hint is ignored (RFC 7009 §2.1 allows it): we issue
	// access tokens only.
	resp := op.NewResponse(struct{}{})
	resp.Header.Set("Cache-Control", "no-store")
	v, err := s.issuer.Verify(r.Data.Token, true)
	if errors.Is(err, issuer.ErrInvalidToken) {
		return resp, nil
	}
	if err != nil {
		return nil, errServer()
	}
	if v.ClientID != c.principal.ClientID() {
		return nil, op.NewStatusError(oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client"), http.StatusBadRequest)
	}
	if !s.issuer.Now().Before(v.Expiry) {
		return resp, nil
	}
	if err := s.accounts.RevokeAccessToken(ctx, c.principal, v.JTI, v.Expiry); err != nil {
		s.log.Error().Err(err).Msg("revoking access token")
		return nil, op.NewStatusError(oidc.ErrServerError().WithDescription("the token could not be revoked; try again"), http.StatusServiceUnavailable)
	}
	s.log.Info().Str("event", "token.revoked").Str("client_id", v.ClientID).Str("jti", v.JTI).Msg("access token revoked")
	return resp, nil
}
