package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// The reasons a federated exchange (a foreign token exchanged for a token
// of a service account, server/oauth) is refused, for the log and the
// audit trail; the client always gets the same invalid_grant answer.
const (
	ReasonForeignMalformed FailureReason = "foreign_token_malformed"
	ReasonNoRule           FailureReason = "no_federation_rule_for_issuer"
	ReasonForeignInvalid   FailureReason = "foreign_token_invalid"
	ReasonNoRuleMatched    FailureReason = "no_federation_rule_matched"
	ReasonForeignReplayed  FailureReason = "foreign_token_replayed"
)

// federatedKeyPrefix starts the key id that a federated principal carries
// in place of a key's (FederatedKeyID). Real key ids are base62
// (apikey.NewID) and never contain '-', so the two cannot collide.
const federatedKeyPrefix = "federation-"

// FederatedKeyID is the credential id of tokens issued through the
// federation rule ruleID: the issuer puts it at the head of the jti, as a
// key's id, so that introspection finds the rule (CredentialActive).
func FederatedKeyID(ruleID string) string { return federatedKeyPrefix + ruleID }

// ExternalActor is the external party a federated token acts for: the
// foreign token's subject and issuer, written into the issued token as
// the RFC 8693 §4.1 "act" claim.
type ExternalActor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss"`
}

// FederationRules lists account's federation rules; an account that does
// not exist has none.
func (s *Service) FederationRules(ctx context.Context, account string) ([]store.FederationRule, error) {
	rules, err := s.store.ListFederationRules(ctx, account)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return rules, err
}

// FederatedPrincipal returns the principal that a verified foreign token,
// matched by rule, acts as: rule's service account, which must exist and
// be active and admit ip (its allowed CIDRs). The rule's allowed scopes
// and audiences stand where a key's narrowing stands, so the token that
// Grant then allows is the account's lists intersected with the rule's,
// by the same rule (reach.go) as for keys. A refusal is an *AuthError.
func (s *Service) FederatedPrincipal(ctx context.Context, rule store.FederationRule, actor ExternalActor, ip netip.Addr) (*Principal, error) {
	sa, err := s.store.GetServiceAccount(ctx, rule.Account)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(ReasonUnknownClient)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up the federated account: %w", err)
	}
	p := &Principal{Key: federatedKey(rule), Account: &sa, External: &actor}
	if err := s.admit(ctx, p, s.now()); err != nil {
		return nil, err
	}
	if err := s.admitAddress(p, ip); err != nil {
		return nil, err
	}
	return p, nil
}

// federatedKey is the credential a federation rule stands for: never
// stored, never revoked or expired (deleting the rule ends it), owned by
// the rule's account, narrowed by the rule's allowed scopes and audiences.
func federatedKey(rule store.FederationRule) store.Key {
	return store.Key{ID: FederatedKeyID(rule.ID), Kind: store.KindServiceKey, Owner: rule.Account,
		Scopes: rule.AllowedScopes, Audiences: rule.AllowedAudiences}
}

// ConsumeForeignToken records a foreign token's (issuer, jti) until it
// expires: a second use is refused (ReasonForeignReplayed), on every
// replica and after a restart, because the record is in the store.
func (s *Service) ConsumeForeignToken(ctx context.Context, issuer, jti string, expires time.Time) error {
	err := s.store.ConsumeForeignToken(ctx, issuer, jti, expires)
	if errors.Is(err, store.ErrAlreadyExists) {
		return fail(ReasonForeignReplayed)
	}
	return err
}

// TouchFederationRule records that rule was used at now (the rule's
// lastUsedAt). A failure is logged, not returned: the exchange itself has
// succeeded and its audit event records the use anyway.
func (s *Service) TouchFederationRule(ctx context.Context, rule store.FederationRule) {
	if err := s.store.TouchFederationRule(context.WithoutCancel(ctx), rule.Account, rule.ID, s.now().UTC()); err != nil {
		s.log.Warn().Err(err).Str("account", rule.Account).Str("rule", rule.ID).Msg("recording the federation rule's last use failed")
	}
}

// FederatedExchange is the audit record of one exchange of a foreign token.
type FederatedExchange struct {
	Account   string // the service account asked for (client_id)
	GrantType string
	RuleID    string // the rule that matched; "" when none did
	Issuer    string // the foreign token's issuer, when known
	Subject   string // its subject, once verified
	// ClaimsDigest is the hex SHA-256 of the verified claims' JSON, so
	// that an exchange can be tied to the exact token without storing it.
	ClaimsDigest string
	JTI          string        // the issued token's jti (success only)
	Reason       FailureReason // why it was refused ("" on success)
	SourceIP     string
}

// ActionFederatedToken is the audit action of an exchange.
const ActionFederatedToken = "token.federated"

// AuditFederatedExchange records e as the audit event token.federated,
// result success, or denied with its reason. On success the error is
// returned, and no token must be issued without its record; a refusal's
// record is best-effort (logged if it cannot be written).
func (s *Service) AuditFederatedExchange(ctx context.Context, e FederatedExchange) error {
	details := map[string]string{"grantType": e.GrantType}
	for k, v := range map[string]string{"rule": e.RuleID, "issuer": e.Issuer, "subject": e.Subject,
		"claimsSha256": e.ClaimsDigest, "jti": e.JTI, "reason": string(e.Reason)} {
		if v != "" {
			details[k] = v
		}
	}
	actor := Actor{User: store.User{Name: e.Account}, IP: e.SourceIP}
	if e.Reason != "" {
		s.auditFailure(ctx, actor, ActionFederatedToken, e.Account, ErrUnauthenticated, details)
		return nil
	}
	if _, err := s.store.AppendAudit(ctx, s.event(actor, ActionFederatedToken, e.Account, nil, details)); err != nil {
		return fmt.Errorf("recording the federated exchange: %w", err)
	}
	return nil
}

// IsFederatedKeyID reports whether keyID, the credential id at the head
// of a token's jti, names a federation rule (FederatedKeyID) rather than
// a key.
func IsFederatedKeyID(keyID string) bool { return strings.HasPrefix(keyID, federatedKeyPrefix) }

// FederatedActive reports whether a token issued through the federation
// rule named by keyID (FederatedKeyID) could still be obtained: the rule
// still exists on account, and the account is active and still allows the
// token's scopes and audiences under the rule's narrowing.
func (s *Service) FederatedActive(ctx context.Context, account, keyID string, scopes, audiences []string) (bool, error) {
	ruleID := strings.TrimPrefix(keyID, federatedKeyPrefix)
	rule, err := s.store.GetFederationRule(ctx, account, ruleID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	p := &Principal{Key: federatedKey(rule)}
	if err := s.admit(ctx, p, s.now()); ReasonOf(err) != "" {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return s.reach(p).Covers(scopes, audiences, p.ClientID()), nil
}
