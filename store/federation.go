package store

import (
	"context"
	"time"
)

// FederationRule lets tokens of an external issuer (a CI system, a
// Kubernetes cluster, a SPIFFE trust domain) act as a service account
// with no stored secret: a foreign token that verifies against Issuer's
// keys, carries Audience and satisfies Subject, Claims and Condition is
// exchanged for the account's token (server/federation holds the rules
// that validate and match it).
type FederationRule struct {
	ID       string `json:"id"`
	Account  string `json:"account"` // service account name
	Name     string `json:"name"`    // unique per account
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"` // defaulted to tokenwright's issuer by federation.ValidateRule
	Subject  string `json:"subject,omitempty"`
	// Claims are exact matches: the foreign claim must equal one of the
	// listed values.
	Claims map[string][]string `json:"claims,omitempty"`
	// Condition is a CEL expression over the foreign token's `claims`.
	Condition string `json:"condition,omitempty"`
	// JWKSURI overrides the issuer's discovery document.
	JWKSURI string `json:"jwksUri,omitempty"`
	// MaxTokenAge bounds the foreign token's iat; zero means no bound.
	MaxTokenAge time.Duration `json:"maxTokenAge,omitempty"`
	// AllowMissingJTI accepts foreign tokens without jti (which then
	// cannot be recorded against replay: MaxTokenAge bounds them).
	AllowMissingJTI bool `json:"allowMissingJti,omitempty"`
	// AllowedScopes and AllowedAudiences narrow the account's lists;
	// empty means the account's.
	AllowedScopes    []string   `json:"allowedScopes,omitempty"`
	AllowedAudiences []string   `json:"allowedAudiences,omitempty"`
	CreatedAt        time.Time  `json:"createdAt"`
	CreatedBy        string     `json:"createdBy"`
	LastUsedAt       *time.Time `json:"lastUsedAt,omitempty"`
}

// ForeignToken is the replay record of a foreign token's jti: kept until
// ExpiresAt (the token's own expiry), so that a token is exchanged once,
// across replicas and restarts.
type ForeignToken struct {
	Issuer    string    `json:"issuer"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Expired reports whether the record no longer needs to be kept at now.
func (t ForeignToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// FederationStore is the part of Store that keeps federation rules and
// the replay records of the foreign tokens they accepted.
// CreateFederationRule fails with ErrNotFound when the account does not
// exist and with ErrAlreadyExists when its id is taken or the account
// already has a rule of that name, checked in the same transaction as
// the write; DeleteServiceAccount deletes the account's rules in its own
// transaction. GetFederationRule, DeleteFederationRule and
// TouchFederationRule fail with ErrNotFound unless rule id belongs to
// account.
type FederationStore interface {
	CreateFederationRule(ctx context.Context, r FederationRule) error
	// ListFederationRules returns account's rules in creation order
	// (CreatedAt, then ID; none: an empty list, also for an unknown
	// account), the order in which an exchange tries them.
	ListFederationRules(ctx context.Context, account string) ([]FederationRule, error)
	GetFederationRule(ctx context.Context, account, id string) (FederationRule, error)
	DeleteFederationRule(ctx context.Context, account, id string) error
	// TouchFederationRule sets LastUsedAt to at unless it is later already.
	TouchFederationRule(ctx context.Context, account, id string, at time.Time) error
	// ConsumeForeignToken records (issuer, jti) until expiresAt; it fails
	// with ErrAlreadyExists while that pair is recorded (from its first
	// consumption until PruneForeignTokens removes the record, at a now
	// after its expiresAt), checked in the same transaction as the write,
	// so that of two concurrent consumes of one token (on any replicas)
	// exactly one succeeds. Expiry is the pruner's decision, with the
	// server's clock: a consume compares no times.
	ConsumeForeignToken(ctx context.Context, issuer, jti string, expiresAt time.Time) error
	// PruneForeignTokens deletes the records expired at now (housekeeping,
	// possibly several transactions) and returns how many.
	PruneForeignTokens(ctx context.Context, now time.Time) (int, error)
}
