// Package api holds the JSON types of tokenwright's admin REST API
// (/api/v1/...). The server produces them and pkg/client consumes them, so
// both sides agree on one definition.
package api

import (
	"encoding/json"
	"time"
)

// Error is the body of every non-2xx admin API response.
type Error struct {
	// Code is stable and meant for programs (e.g. "not_found").
	Code string `json:"error"`
	// Message is meant for people.
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Stable error codes.
const (
	CodeInvalidRequest  = "invalid_request"
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeAlreadyExists   = "already_exists"
	CodeConflict        = "conflict"
	CodeTooLarge        = "request_too_large"
	CodeUnsupportedType = "unsupported_media_type"
	CodeMethod          = "method_not_allowed"
	CodeRateLimited     = "rate_limited"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal_error"
)

// ServiceAccount as returned by the API. TokenType is the JOSE typ of
// the account's tokens ("jwt": typ JWT; "at+jwt": RFC 9068) and
// AudienceFormat how they write "aud" ("array", or "string": then exactly
// one audience per token); both are the effective values.
type ServiceAccount struct {
	ID               string         `json:"id"`
	UserName         string         `json:"userName"`
	Email            string         `json:"email"`
	NotesName        string         `json:"notesName,omitempty"`
	Description      string         `json:"description,omitempty"`
	Roles            []string       `json:"roles"`
	Owners           []string       `json:"owners"`
	AllowedScopes    []string       `json:"allowedScopes"`
	AllowedAudiences []string       `json:"allowedAudiences"`
	AllowedCIDRs     []string       `json:"allowedCidrs"`
	TokenLifetime    int64          `json:"tokenLifetime,omitempty"` // seconds
	Profile          string         `json:"profile"`
	TokenType        string         `json:"tokenType"`      // jwt or at+jwt: the account's, or its profile's default
	AudienceFormat   string         `json:"audienceFormat"` // array or string: the account's, or array
	Claims           map[string]any `json:"claims,omitempty"`
	Permissions      []string       `json:"permissions"` // "introspect"
	Status           string         `json:"status"`
	CreatedAt        time.Time      `json:"createdAt"`
	CreatedBy        string         `json:"createdBy,omitempty"`
	UpdatedAt        time.Time      `json:"updatedAt"`
}

// CreateServiceAccount is the body of POST /api/v1/service-accounts.
type CreateServiceAccount struct {
	UserName         string         `json:"userName"`
	Email            string         `json:"email"`
	NotesName        string         `json:"notesName,omitempty"`
	Description      string         `json:"description,omitempty"`
	Roles            []string       `json:"roles,omitempty"`
	Owners           []string       `json:"owners,omitempty"`
	AllowedScopes    []string       `json:"allowedScopes,omitempty"`
	AllowedAudiences []string       `json:"allowedAudiences,omitempty"`
	AllowedCIDRs     []string       `json:"allowedCidrs,omitempty"`
	TokenLifetime    int64          `json:"tokenLifetime,omitempty"`
	Profile          string         `json:"profile,omitempty"`
	TokenType        string         `json:"tokenType,omitempty"`      // jwt or at+jwt; empty: the profile's default
	AudienceFormat   string         `json:"audienceFormat,omitempty"` // array or string; empty: array
	Claims           map[string]any `json:"claims,omitempty"`
	Permissions      []string       `json:"permissions,omitempty"`
}

// Key is an API key or personal access token, without its secret.
type Key struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	ClientID    string `json:"clientId"`
	Kind        string `json:"kind"`
	// AuthMethod is client_secret, or private_key_jwt for a registered
	// public key (then PublicKey holds it as a JWK).
	AuthMethod string          `json:"authMethod"`
	PublicKey  json.RawMessage `json:"publicKey,omitempty"`
	Roles      []string        `json:"roles"`
	Scopes     []string        `json:"scopes"`
	Audiences  []string        `json:"audiences"`
	CIDRs      []string        `json:"cidrs"`
	CreatedAt  time.Time       `json:"createdAt"`
	CreatedBy  string          `json:"createdBy,omitempty"`
	ExpiresAt  *time.Time      `json:"expiresAt"`
	LastUsedAt *time.Time      `json:"lastUsedAt"`
	LastUsedIP string          `json:"lastUsedIp,omitempty"`
	RotatedAt  *time.Time      `json:"rotatedAt,omitempty"`
	// PreviousSecretExpiresAt is set while a rotated-out secret still works.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`
	RevokedAt               *time.Time `json:"revokedAt,omitempty"`
	// Status is active, expiring_soon, expired or revoked.
	Status string `json:"status"`
	// IsValid is true for active and expiring_soon (for existing scripts).
	IsValid bool `json:"isValid"`
}

// Key statuses.
const (
	KeyActive       = "active"
	KeyExpiringSoon = "expiring_soon"
	KeyExpired      = "expired"
	KeyRevoked      = "revoked"
)

// CreateKey is the body of POST .../keys and POST .../tokens.
type CreateKey struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ExpiresIn in seconds; omitted means the server default (four months),
	// 0 together with NeverExpires means no expiry where policy allows.
	ExpiresIn    *int64   `json:"expiresIn,omitempty"`
	NeverExpires bool     `json:"neverExpires,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Audiences    []string `json:"audiences,omitempty"`
	CIDRs        []string `json:"cidrs,omitempty"`
	// PublicKey (a JWK, or a PEM public key or certificate) registers a
	// key-based credential: no secret is issued, and the client
	// authenticates with a private_key_jwt assertion (RFC 7523).
	PublicKey string `json:"publicKey,omitempty"`
}

// KeyWithSecret is returned exactly once, when a key is created or rotated.
type KeyWithSecret struct {
	Key
	ClientSecret string `json:"clientSecret,omitempty"` // absent for public-key credentials
}

// List wraps collections so that fields can be added later.
type List[T any] struct {
	Items []T `json:"items"`
}

// UpdateServiceAccount is the body of PATCH /api/v1/service-accounts/{name}.
// Omitted fields are left alone; roles can be replaced (roles) or edited
// (addRoles, removeRoles).
type UpdateServiceAccount struct {
	Email            *string         `json:"email,omitempty"`
	NotesName        *string         `json:"notesName,omitempty"`
	Description      *string         `json:"description,omitempty"`
	Roles            *[]string       `json:"roles,omitempty"`
	AddRoles         []string        `json:"addRoles,omitempty"`
	RemoveRoles      []string        `json:"removeRoles,omitempty"`
	Owners           *[]string       `json:"owners,omitempty"`
	AllowedScopes    *[]string       `json:"allowedScopes,omitempty"`
	AllowedAudiences *[]string       `json:"allowedAudiences,omitempty"`
	AllowedCIDRs     *[]string       `json:"allowedCidrs,omitempty"`
	TokenLifetime    *int64          `json:"tokenLifetime,omitempty"`
	Profile          *string         `json:"profile,omitempty"`
	TokenType        *string         `json:"tokenType,omitempty"`      // "" returns to the profile's default
	AudienceFormat   *string         `json:"audienceFormat,omitempty"` // "" returns to the default, array
	Claims           *map[string]any `json:"claims,omitempty"`
	Permissions      *[]string       `json:"permissions,omitempty"`
}

// Owner is the body of POST /api/v1/service-accounts/{name}/owners.
type Owner struct {
	UserName string `json:"userName"`
}

// RotateKey is the body of POST .../keys/{keyId}:rotate.
type RotateKey struct {
	// GracePeriod in seconds during which the previous secret still works;
	// omitted means 24 hours, 0 ends the previous secret at once.
	GracePeriod *int64 `json:"gracePeriod,omitempty"`
}

// RevokeAllResult answers the revoke-all actions.
type RevokeAllResult struct {
	Revoked int `json:"revoked"`
}

// User is a human principal.
type User struct {
	ID       string   `json:"id"`
	UserName string   `json:"userName"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Admin    bool     `json:"admin"`
	// AllowedScopes, AllowedAudiences and AllowedCIDRs bound what the
	// user's personal access tokens may reach; empty means the server's
	// defaults. Only administrators set them.
	AllowedScopes    []string  `json:"allowedScopes"`
	AllowedAudiences []string  `json:"allowedAudiences"`
	AllowedCIDRs     []string  `json:"allowedCidrs"`
	Status           string    `json:"status"`
	CreatedAt        time.Time `json:"createdAt"`
	CreatedBy        string    `json:"createdBy,omitempty"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// CreateUser is the body of POST /api/v1/users.
type CreateUser struct {
	UserName string   `json:"userName"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles,omitempty"`
	Admin    bool     `json:"admin,omitempty"`
}

// UpdateUser is the body of PATCH /api/v1/users/{name} (administrators
// only). Changing roles, removing admin or deactivating revokes all of the
// user's personal access tokens. The allowed lists replace the user's.
type UpdateUser struct {
	Email            *string   `json:"email,omitempty"`
	Roles            *[]string `json:"roles,omitempty"`
	AddRoles         []string  `json:"addRoles,omitempty"`
	RemoveRoles      []string  `json:"removeRoles,omitempty"`
	Admin            *bool     `json:"admin,omitempty"`
	Status           *string   `json:"status,omitempty"`
	AllowedScopes    *[]string `json:"allowedScopes,omitempty"`
	AllowedAudiences *[]string `json:"allowedAudiences,omitempty"`
	AllowedCIDRs     *[]string `json:"allowedCidrs,omitempty"`
}

// SigningKey describes one JWT signing key (public facts only), as listed by
// GET /api/v1/signing-keys (administrators).
type SigningKey struct {
	KID         string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	State       string    `json:"state"` // pending, active, retired
	CreatedAt   time.Time `json:"createdAt"`
	ActivateAt  time.Time `json:"activateAt,omitzero"`  // pending: when it starts signing
	ActivatedAt time.Time `json:"activatedAt,omitzero"` // when it started signing
	RetiredAt   time.Time `json:"retiredAt,omitzero"`
	RemoveAfter time.Time `json:"removeAfter,omitzero"` // retired: when it leaves JWKS
	// ConfiguredAlgorithm is the server's signing.algorithm when the key
	// was made, present only when it differs from Algorithm: the algorithm
	// was chosen with `keys rotate --algorithm` and stays in force (also
	// across restarts and scheduled rotations) until signing.algorithm is
	// changed or another algorithm is chosen.
	ConfiguredAlgorithm string `json:"configuredAlgorithm,omitempty"`
}

// Signing-key states (SigningKey.State).
const (
	SigningKeyPending = "pending"
	SigningKeyActive  = "active"
	SigningKeyRetired = "retired"
)

// Statuses of service accounts and users (ServiceAccount.Status, User.Status).
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
)

// RotateSigningKey is the body of POST /api/v1/signing-keys:rotate.
type RotateSigningKey struct {
	// Immediate makes the new key sign at once instead of after the
	// pre-publication window (for a compromised key).
	Immediate bool `json:"immediate,omitempty"`
	// Algorithm is the new key's algorithm (RS256, RS384, RS512, PS256,
	// ES256, ES384 or EdDSA); empty keeps the key set's algorithm. A key of
	// another algorithm goes through the same pre-published path, and later
	// keys keep the chosen algorithm until signing.algorithm is changed.
	Algorithm string `json:"algorithm,omitempty"`
}

// DominoSetup is the guided Domino configuration for one site (and
// optionally one service account), as returned by
// GET /api/v1/domino/setup?site=URL[&account=NAME] and printed by
// `tokenwright domino config`.
type DominoSetup struct {
	Site     string          `json:"site"`
	Account  string          `json:"account,omitempty"`
	Sections []DominoSection `json:"sections"`
}

// DominoSection is one block the Domino administrator pastes somewhere.
type DominoSection struct {
	ID      string `json:"id"`     // idpcat, notes.ini, keepconfig, keepconfig-jwt, person
	Title   string `json:"title"`  // human heading
	Where   string `json:"where"`  // where to paste it
	Format  string `json:"format"` // text, ini, json
	Content string `json:"content"`
}

// AuditEvent is one entry of the audit trail (GET /api/v1/audit): who did
// what to which target, from where, when, and with what result. The wire
// type is this one, not the store's record, so the stored layout can change
// (store.FormatVersion) without changing the API.
type AuditEvent struct {
	ID       string            `json:"id"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target,omitempty"`
	SourceIP string            `json:"sourceIp,omitempty"`
	Result   string            `json:"result"` // "success", "denied", "failure"
	Details  map[string]string `json:"details,omitempty"`
}
