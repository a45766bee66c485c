package oauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/federation"
	"github.com/tokenwright/tokenwright/server/reqctx"
	"github.com/tokenwright/tokenwright/store"
)

// Workload identity federation at the token endpoint: a foreign token (a
// CI job's or a pod's OIDC token) is exchanged for an access token of the
// service account named by client_id, with no secret, when one of the
// account's federation rules accepts it. Three request forms carry it:
//
//   - RFC 8693 token exchange: grant_type=…:token-exchange, subject_token,
//     subject_token_type …:jwt or …:id_token (TokenExchange);
//   - RFC 7523 §2.1: grant_type=…:jwt-bearer, assertion (JWTProfile);
//   - RFC 7523 §2.2 client authentication with client_credentials, the
//     foreign token as client_assertion (VerifyClient): a client assertion
//     whose iss is a URL is foreign, since tokenwright's own key-based
//     assertions carry the account name, which holds no ':', as iss.
//
// All three go through op's own request parsing (form decoding, the
// token-exchange parameter checks, its error JSON) behind the same edge
// route as client credentials (rate limits, form guard, request log):
// op dispatches jwt-bearer to JWTProfile without any client lookup, and
// sends token exchange and client credentials through VerifyClient, which
// is ours. So no handler of our own stands in front of op's.
//
// Every refusal of the token, whatever failed (no rule for its issuer, a
// bad signature, an unmatched rule, a replay, an unknown or inactive
// account), answers the one errInvalidGrant; the reason goes to the log
// and, once a token has verified against a rule, to the audit trail.

// Grant types and token types of the exchange.
const (
	GrantTypeTokenExchange = string(oidc.GrantTypeTokenExchange) // urn:ietf:params:oauth:grant-type:token-exchange
	GrantTypeJWTBearer     = string(oidc.GrantTypeBearer)        // urn:ietf:params:oauth:grant-type:jwt-bearer
	// grantTypeFederatedClient is the audit's name of client_credentials
	// with a foreign client assertion.
	grantTypeFederatedClient = "client_credentials+client_assertion"
)

// GrantTypesSupported are the grant types the token endpoint accepts, in
// the metadata's grant_types_supported.
var GrantTypesSupported = []string{string(oidc.GrantTypeClientCredentials), GrantTypeTokenExchange, GrantTypeJWTBearer}

// maxForeignToken bounds a foreign token before any parsing; real OIDC
// tokens are a few kilobytes.
const maxForeignToken = 16 << 10

// ForeignVerifier verifies a foreign token for one rule's issuer,
// audience and key source: federation.Issuers.
type ForeignVerifier interface {
	Verify(ctx context.Context, raw, issuer, audience, jwksURI string) (federation.Verified, error)
}

// SetFederation enables the exchange of foreign tokens, verified by v
// (nil: every exchange is refused). Call before serving.
func (s *Server) SetFederation(v ForeignVerifier) { s.foreign = v }

// errInvalidGrant is the single answer to every refused foreign token.
func errInvalidGrant() error {
	return op.NewStatusError(oidc.ErrInvalidGrant().WithDescription("the token is not accepted for this account"), http.StatusBadRequest)
}

// federated is a foreign token accepted for a service account, on its way
// to a token of ours.
type federated struct {
	principal *accounts.Principal
	rule      store.FederationRule
	verified  federation.Verified
	record    accounts.FederatedExchange
}

// federate finds the rule of account that accepts raw and returns the
// principal it acts as. It verifies raw once per distinct (audience, key
// source) among the rules naming its issuer, and takes the first rule (in
// creation order) that matches. Refusals are errInvalidGrant (logged and,
// after verification, audited); store failures a 5xx.
func (s *Server) federate(ctx context.Context, grantType, account, raw string) (*federated, error) {
	rec := accounts.FederatedExchange{Account: account, GrantType: grantType}
	if ip := reqctx.ClientIP(ctx); ip.IsValid() {
		rec.SourceIP = ip.String()
	}
	refuse := func(reason accounts.FailureReason, debug string, audit bool) error {
		rec.Reason = reason
		ev := reqctx.Correlate(ctx, s.log.Info()).Str("client_id", account).Str("grant_type", grantType).
			Str("reason", string(reason)).Str("issuer", rec.Issuer).Str("rule", rec.RuleID)
		if debug != "" {
			ev = ev.Str("detail", debug)
		}
		ev.Msg("federated token refused")
		*reqctx.Log(ctx) = reqctx.LogFields{ClientID: account, Reason: string(reason)}
		s.observer.FederatedExchange(rec.RuleID, FederationRefused)
		s.observer.TokenFailed(ResultInvalidGrant)
		if audit {
			_ = s.accounts.AuditFederatedExchange(ctx, rec)
		}
		return errInvalidGrant()
	}
	if s.foreign == nil {
		return nil, refuse(accounts.ReasonNoRule, "federation is not enabled", false)
	}
	if len(raw) > maxForeignToken {
		return nil, refuse(accounts.ReasonForeignMalformed, "token too large", false)
	}
	iss, err := federation.PeekIssuer(raw)
	if err != nil {
		return nil, refuse(accounts.ReasonForeignMalformed, err.Error(), false)
	}
	rec.Issuer = iss
	rules, err := s.accounts.FederationRules(ctx, account)
	if err != nil {
		s.log.Error().Err(err).Msg("listing federation rules")
		return nil, errServerOrUnavailable(err)
	}
	rules = slices.DeleteFunc(rules, func(r store.FederationRule) bool { return r.Issuer != iss })
	if len(rules) == 0 {
		return nil, refuse(accounts.ReasonNoRule, "", false)
	}
	slices.SortFunc(rules, func(a, b store.FederationRule) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	// Unverified input never reaches the audit trail (so a flood of forged
	// tokens cannot fill the store); a token that verified does.
	type source struct{ audience, jwksURI string }
	checked := map[source]error{}
	var (
		verified federation.Verified
		matched  *store.FederationRule
		reasons  []string
		anyValid bool
	)
	for i := range rules {
		r := rules[i]
		src := source{r.Audience, r.JWKSURI}
		verr, seen := checked[src]
		if !seen {
			var v federation.Verified
			v, verr = s.foreign.Verify(ctx, raw, r.Issuer, r.Audience, r.JWKSURI)
			checked[src] = verr
			if verr == nil {
				verified = v
			}
		}
		if verr != nil {
			reasons = append(reasons, r.ID+": "+verr.Error())
			continue
		}
		anyValid = true
		if err := federation.Match(r, verified.Claims, s.issuer.Now()); err != nil {
			reasons = append(reasons, r.ID+": "+err.Error())
			continue
		}
		matched = &r
		break
	}
	if anyValid {
		rec.Subject, rec.ClaimsDigest = verified.Subject, claimsDigest(verified.Claims)
	}
	if matched == nil {
		if !anyValid {
			return nil, refuse(accounts.ReasonForeignInvalid, strings.Join(reasons, "; "), false)
		}
		return nil, refuse(accounts.ReasonNoRuleMatched, strings.Join(reasons, "; "), true)
	}
	rec.RuleID = matched.ID
	p, err := s.accounts.FederatedPrincipal(ctx, *matched, accounts.ExternalActor{Subject: verified.Subject, Issuer: verified.Issuer}, reqctx.ClientIP(ctx))
	if reason := accounts.ReasonOf(err); reason != "" {
		return nil, refuse(reason, "", true)
	}
	if err != nil {
		s.log.Error().Err(err).Msg("federated principal")
		return nil, errServerOrUnavailable(err)
	}
	// The account's own budget, as after any authentication.
	if errors.Is(reqctx.Authenticated(ctx, account), reqctx.ErrThrottled) {
		return nil, errSlowDown()
	}
	return &federated{principal: p, rule: *matched, verified: verified, record: rec}, nil
}

// issueFederated applies the token policy to f's principal, consumes the
// foreign token's jti (only now, so that a request refused for its scope
// does not burn the token), audits the exchange and mints the token. For
// token exchange the response carries issued_token_type.
func (s *Server) issueFederated(ctx context.Context, f *federated, scopes, audiences []string, tokenExchange bool) (*op.Response, error) {
	grant, err := s.grant(ctx, f.principal, scopes, audiences)
	if err != nil {
		return nil, err
	}
	if f.verified.JTI != "" {
		// The record lives until the foreign token expires, when
		// Verify would refuse it anyway.
		err := s.accounts.ConsumeForeignToken(ctx, f.verified.Issuer, f.verified.JTI, f.verified.Expiry)
		if reason := accounts.ReasonOf(err); reason != "" {
			f.record.Reason = reason
			reqctx.Correlate(ctx, s.log.Info()).Str("client_id", f.record.Account).Str("reason", string(reason)).
				Str("issuer", f.record.Issuer).Str("rule", f.rule.ID).Msg("federated token refused")
			*reqctx.Log(ctx) = reqctx.LogFields{ClientID: f.record.Account, Reason: string(reason)}
			s.observer.FederatedExchange(f.rule.ID, FederationReplayed)
			s.observer.TokenFailed(ResultInvalidGrant)
			_ = s.accounts.AuditFederatedExchange(ctx, f.record)
			return nil, errInvalidGrant()
		}
		if err != nil {
			s.log.Error().Err(err).Msg("recording the foreign token's jti")
			return nil, errServerOrUnavailable(err)
		}
	}
	tok, err := s.issuer.Mint(grant)
	if err != nil {
		s.log.Error().Err(err).Msg("minting token")
		return nil, errServer()
	}
	f.record.JTI = tok.ID
	// No token leaves without its audit record.
	if err := s.accounts.AuditFederatedExchange(ctx, f.record); err != nil {
		s.log.Error().Err(err).Msg("auditing a federated exchange")
		return nil, errServerOrUnavailable(err)
	}
	s.accounts.TouchFederationRule(ctx, f.rule)
	*reqctx.Log(ctx) = reqctx.LogFields{Event: "token.issued", ClientID: grant.ClientID, KeyID: grant.KeyID,
		JTI: tok.ID, KID: tok.KeyID, Scope: grant.Scopes, Audience: grant.Audiences, ExpiresAt: tok.ExpiresAt}
	s.observer.TokenIssued(grant.ClientID)
	s.observer.FederatedExchange(f.rule.ID, FederationIssued)
	expiresIn := uint64(tok.ExpiresAt.Sub(tok.IssuedAt) / time.Second)
	var body any = &oidc.AccessTokenResponse{AccessToken: tok.JWT, TokenType: oidc.BearerToken, ExpiresIn: expiresIn, Scope: grant.Scopes}
	if tokenExchange {
		body = &oidc.TokenExchangeResponse{AccessToken: tok.JWT, IssuedTokenType: oidc.AccessTokenType,
			TokenType: oidc.BearerToken, ExpiresIn: expiresIn, Scopes: grant.Scopes}
	}
	resp := op.NewResponse(body)
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Pragma", "no-cache")
	return resp, nil
}

// TokenExchange is RFC 8693 for foreign tokens: the subject token is a
// JWT (…:jwt or an OIDC …:id_token) exchanged for an access token of the
// service account named by client_id. Actor tokens and other requested
// token types are refused.
func (s *Server) TokenExchange(ctx context.Context, r *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	c, ok := r.Client.(*client)
	if !ok {
		return nil, errServer()
	}
	d := r.Data
	switch {
	case d.SubjectTokenType != oidc.JWTTokenType && d.SubjectTokenType != oidc.IDTokenType:
		return nil, s.invalidRequest(ctx, c.GetID(), "subject_token_type must be "+string(oidc.JWTTokenType)+" or "+string(oidc.IDTokenType))
	case d.RequestedTokenType != "" && d.RequestedTokenType != oidc.AccessTokenType:
		return nil, s.invalidRequest(ctx, c.GetID(), "requested_token_type must be "+string(oidc.AccessTokenType))
	case d.ActorToken != "" || d.ActorTokenType != "":
		return nil, s.invalidRequest(ctx, c.GetID(), "actor_token is not supported")
	}
	f, err := s.federate(ctx, GrantTypeTokenExchange, c.federatedFor, d.SubjectToken)
	if err != nil {
		return nil, err
	}
	return s.issueFederated(ctx, f, nonEmpty(d.Scopes), requestedAudiences(r.PostForm), true)
}

// JWTProfile is the RFC 7523 §2.1 grant with a foreign token as the
// assertion, for the service account named by client_id. The request
// carries no client authentication (op does not look for any): a
// client_secret or an HTTP Basic header would be ignored, so it is
// refused rather than silently disregarded.
func (s *Server) JWTProfile(ctx context.Context, r *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	account := r.Form.Get("client_id")
	if _, _, basic := (&http.Request{Header: r.Header}).BasicAuth(); basic || r.Form.Get("client_secret") != "" || r.Form.Get("client_assertion") != "" {
		return nil, s.invalidRequest(ctx, account, "the jwt-bearer grant takes no client authentication: the assertion is the credential")
	}
	if account == "" {
		return nil, s.invalidRequest(ctx, account, "client_id is required: it names the service account")
	}
	f, err := s.federate(ctx, GrantTypeJWTBearer, account, r.Data.Assertion)
	if err != nil {
		return nil, err
	}
	return s.issueFederated(ctx, f, nonEmpty(r.Data.Scope), requestedAudiences(r.PostForm), false)
}

func (s *Server) invalidRequest(ctx context.Context, clientID, description string) error {
	*reqctx.Log(ctx) = reqctx.LogFields{ClientID: clientID, Reason: string(ResultInvalidRequest)}
	s.observer.TokenFailed(ResultInvalidRequest)
	return oidc.ErrInvalidRequest().WithDescription("%s", description)
}

// foreignAssertion reports whether a client assertion is a foreign token
// rather than one of tokenwright's own private_key_jwt assertions, whose
// iss is an account name (no ':'); an OIDC issuer is a URL.
func foreignAssertion(assertion string) bool {
	iss, err := federation.PeekIssuer(assertion)
	return err == nil && strings.Contains(iss, "://")
}

// claimsDigest is the hex SHA-256 of claims' JSON (keys sorted by
// encoding/json), for the audit trail.
func claimsDigest(claims map[string]any) string {
	data, err := json.Marshal(claims)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
