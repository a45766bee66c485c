// Package store defines tokenwright's persistent state: the domain types and
// the Store interface that every backend (bbolt, etcd) implements.
//
// The interface follows Dex's storage design: plain values in and out, and
// read-modify-write through closures (UpdateX(ctx, id, func(old) (new, error)))
// so that each backend makes the update atomic in its own way (a bbolt
// transaction, an etcd compare-and-swap) without the caller knowing which.
// Update closures must be pure: a backend may call them more than once.
//
// The audit trail is part of every change: a write method called with a
// context from WithAudit records that event in the same transaction as its
// change (a bbolt transaction, the etcd transaction), so that a change is
// never stored without its event, nor an event without its change; if the
// event cannot be written, the method fails and changes nothing.
// RecordKeyUsage and PruneRevokedTokens, housekeeping that may span several
// transactions, ignore such an event; AppendAudit writes the event it is
// given, alone (refused and failed attempts, which change nothing).
//
// Every backend must pass the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors every backend returns (possibly wrapped); callers test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict is returned when a unique attribute other than the primary
	// name (an email address) is already taken.
	ErrConflict = errors.New("conflict")
	// ErrEmailTaken is the ErrConflict of an email address that another
	// service account or user holds: callers tell it apart with errors.Is,
	// not by reading the error's text.
	ErrEmailTaken = fmt.Errorf("email address taken: %w", ErrConflict)
	// ErrUnavailable means the backend cannot be reached (e.g. etcd lost
	// quorum); the API maps it to 503.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalidArgument is a malformed query (e.g. a paging cursor).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrLimitExceeded is returned by CreateKey when the owner already
	// holds the maximum number of keys the caller allowed (MaxPerOwner).
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrOutcomeUnknown is a write the backend sent but could neither
	// confirm nor rule out before its deadline (etcd gave no answer, even
	// to the question whether the write landed): the change may or may not
	// have been made. It is an ErrUnavailable, so the API answers 503, with
	// a message telling the client to read the record back before retrying.
	ErrOutcomeUnknown = fmt.Errorf("outcome of the write unknown: %w", ErrUnavailable)
)

// WriteError is a write the backend could not make for a reason an
// operator must fix (a full filesystem, an exhausted quota, a read-only
// mount): it is an ErrUnavailable, so the API answers 503, and Reason is a
// short text safe to show to clients ("the database's filesystem is
// full"). Err is the underlying error, for the log.
type WriteError struct {
	Reason string
	Err    error
}

func (e *WriteError) Error() string { return "store cannot write: " + e.Reason + ": " + e.Err.Error() }

// Unwrap makes errors.Is find both ErrUnavailable and the cause (e.g.
// syscall.ENOSPC).
func (e *WriteError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// UnavailableReason is the client-facing sentence for an ErrUnavailable:
// a WriteError's reason, or the generic "cannot be reached" of a backend
// that lost contact (etcd without quorum). It is the one place the API's
// 503 message comes from.
func UnavailableReason(err error) string {
	if we := (*WriteError)(nil); errors.As(err, &we) {
		return "the store cannot write: " + we.Reason + "; an operator must fix it, then retry"
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		return "the store did not confirm the change in time: the change may or may not have been made; read it back before retrying"
	}
	return "the store is unavailable; try again"
}

// Store is the persistence contract. Names of service accounts and users
// share one namespace (a client_id is unambiguous), and so do their emails
// (an email maps to exactly one Domino Person document).
type Store interface {
	// Service accounts. Every name in Owners must be an existing user:
	// CreateServiceAccount and UpdateServiceAccount fail with ErrNotFound
	// otherwise, checked in the same transaction as the write, so that an
	// owner list never names a deleted user (see DeleteUser).
	CreateServiceAccount(ctx context.Context, sa ServiceAccount) error
	GetServiceAccount(ctx context.Context, name string) (ServiceAccount, error)
	ListServiceAccounts(ctx context.Context) ([]ServiceAccount, error)
	UpdateServiceAccount(ctx context.Context, name string, update func(ServiceAccount) (ServiceAccount, error)) (ServiceAccount, error)
	// DeleteServiceAccount removes the account, all of its keys and its
	// federation rules atomically.
	DeleteServiceAccount(ctx context.Context, name string) error

	// Users (human principals).
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, name string, update func(User) (User, error)) (User, error)
	// DeleteUser removes the user, all of their personal access tokens,
	// and their name from every service account's Owners, in one
	// transaction: a different person later created with the same name
	// owns nothing. (The accounts' UpdatedAt is left as it was.)
	DeleteUser(ctx context.Context, name string) error

	// Keys: service-account API keys and personal access tokens.
	// CreateKey fails with ErrNotFound if the owner does not exist, and
	// with ErrAlreadyExists if a personal access token of the same owner
	// has the same name; both are checked in the same transaction as the
	// write. With MaxKeysPerOwner(n), it fails with ErrLimitExceeded when
	// the owner already holds n keys of k's kind (revoked and expired ones
	// count: they are stored), also checked in that transaction, so that
	// concurrent creates cannot overshoot n. A taken id or token name is
	// reported (ErrAlreadyExists) before the limit: a resent create that
	// landed is told so.
	CreateKey(ctx context.Context, k Key, opts ...CreateKeyOption) error
	GetKey(ctx context.Context, id string) (Key, error)
	ListKeys(ctx context.Context, q KeyQuery) ([]Key, error)
	// UpdateKey keeps ID, Kind and Owner; renaming a personal access
	// token to the name of another of its owner's tokens fails with
	// ErrAlreadyExists.
	UpdateKey(ctx context.Context, id string, update func(Key) (Key, error)) (Key, error)
	// UpdateKeys applies update to every key matching q in one transaction
	// and returns the keys it changed. Returning ErrSkip from update leaves
	// that key alone.
	UpdateKeys(ctx context.Context, q KeyQuery, update func(Key) (Key, error)) ([]Key, error)
	DeleteKey(ctx context.Context, id string) error
	// RecordKeyUsage merges usage into the keys' LastUsedAt/LastUsedIP: a
	// later time wins, an earlier one is ignored, unknown keys are skipped.
	RecordKeyUsage(ctx context.Context, usage []KeyUsage) error

	// Signing keys (private parts are stored encrypted by the caller).
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	UpdateSigningKey(ctx context.Context, id string, update func(SigningKey) (SigningKey, error)) (SigningKey, error)
	DeleteSigningKey(ctx context.Context, id string) error
	// ReplaceSigningKeys swaps the whole set in one transaction (KEK rotation).
	ReplaceSigningKeys(ctx context.Context, keys []SigningKey) error

	// Audit trail. AppendAudit assigns ID (ordered by time of append) and
	// refuses an event that fails Validate (ErrInvalidAudit); it ignores a
	// change event in ctx. The events of changes are written by the write
	// methods themselves (WithAudit).
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// ListAudit returns events newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// Access-token deny-list (revoked jti values, kept until they expire).
	RevokeToken(ctx context.Context, t RevokedToken) error
	IsTokenRevoked(ctx context.Context, jti string) (bool, error)
	ListRevokedTokens(ctx context.Context) ([]RevokedToken, error)
	PruneRevokedTokens(ctx context.Context, now time.Time) (int, error)

	// Console sessions (session.go).
	SessionStore

	// Federation rules and foreign-token replay records (federation.go).
	FederationStore

	// TLS session-ticket keys shared by the replicas (tlsticket.go).
	TLSTicketKeyStore

	// Health reports whether the backend can serve reads and writes.
	Health(ctx context.Context) error
	Close() error
}

// Locker is implemented by backends that several tokenwright processes
// share (etcd). Exclusive runs fn while this process holds the cluster-wide
// lock called name, so that a periodic task such as signing-key rotation is
// performed by exactly one replica at a time; fn's context is cancelled if
// the lock is lost. Single-process backends need not implement it: callers
// then just run fn.
type Locker interface {
	Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error
}

// CreateKeyOption tunes CreateKey.
type CreateKeyOption func(*CreateKeyOptions)

// CreateKeyOptions are the settings CreateKeyOption values make; backends
// read them with CreateKeyOptionsOf.
type CreateKeyOptions struct {
	// MaxPerOwner > 0 bounds the keys of one kind an owner may hold.
	MaxPerOwner int
}

// MaxKeysPerOwner makes CreateKey refuse the key (ErrLimitExceeded) when
// its owner already holds n keys of its kind; n <= 0 means no limit.
func MaxKeysPerOwner(n int) CreateKeyOption {
	return func(o *CreateKeyOptions) { o.MaxPerOwner = n }
}

// CreateKeyOptionsOf applies opts.
func CreateKeyOptionsOf(opts []CreateKeyOption) CreateKeyOptions {
	var o CreateKeyOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// ErrSkip, returned from an UpdateKeys closure, leaves that key unchanged.
var ErrSkip = errors.New("skip")

// Status of a service account or user.
type Status string

const (
	StatusActive   Status = "active"
	StatusInactive Status = "inactive"
)

// ServiceAccount is a non-human principal that authenticates with API keys.
type ServiceAccount struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"` // immutable; the OAuth client_id
	Email       string   `json:"email"`
	NotesName   string   `json:"notesName,omitempty"` // Domino DN, e.g. CN=ci-bot/O=Acme
	Description string   `json:"description,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	// Owners are user names allowed to manage this account's keys.
	Owners           []string `json:"owners,omitempty"`
	AllowedScopes    []string `json:"allowedScopes,omitempty"`
	AllowedAudiences []string `json:"allowedAudiences,omitempty"` // exact URLs or prefixes ending in *
	AllowedCIDRs     []string `json:"allowedCidrs,omitempty"`
	// TokenLifetime of issued JWTs; zero means the server default.
	TokenLifetime time.Duration `json:"tokenLifetime,omitempty"`
	// Profile selects the claims layout: "domino" (default) or "generic".
	Profile string `json:"profile,omitempty"`
	// TokenType ("jwt", "at+jwt") and AudienceFormat ("array", "string")
	// shape the tokens; empty means the profile's default
	// (accounts.TokenShape).
	TokenType      string `json:"tokenType,omitempty"`
	AudienceFormat string `json:"audienceFormat,omitempty"`
	// Claims are static custom claims; registered claims cannot be overridden.
	Claims map[string]any `json:"claims,omitempty"`
	// Permissions are tokenwright's own powers ("introspect"), never
	// written into tokens.
	Permissions []string  `json:"permissions,omitempty"`
	Status      Status    `json:"status"`
	CreatedAt   time.Time `json:"createdAt"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// User is a human principal; users authenticate with personal access tokens.
type User struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Roles []string `json:"roles,omitempty"`
	Admin bool     `json:"admin,omitempty"`
	// AllowedScopes, AllowedAudiences and AllowedCIDRs bound what the
	// user's personal access tokens may reach (set by administrators
	// only); empty means the server defaults. A token can only narrow them.
	AllowedScopes    []string  `json:"allowedScopes,omitempty"`
	AllowedAudiences []string  `json:"allowedAudiences,omitempty"`
	AllowedCIDRs     []string  `json:"allowedCidrs,omitempty"`
	Status           Status    `json:"status"`
	CreatedAt        time.Time `json:"createdAt"`
	CreatedBy        string    `json:"createdBy,omitempty"`
	UpdatedAt        time.Time `json:"updatedAt"`
	// SSOIssuer and SSOSubject link the user to one identity at the
	// single sign-on provider (iss and sub of its ID tokens), set at the
	// user's first sign-in: a later sign-in under the same user name by
	// another identity is refused, so a name re-assigned at the provider
	// does not inherit the user.
	SSOIssuer  string `json:"ssoIssuer,omitempty"`
	SSOSubject string `json:"ssoSubject,omitempty"`
}

// KeyKind says what a key belongs to.
type KeyKind string

const (
	KindServiceKey    KeyKind = "service_account"
	KindPersonalToken KeyKind = "personal"
)

// Key is a long-lived credential: a service-account API key or a personal
// access token. Only the SHA-256 hash of the secret is stored.
type Key struct {
	ID          string  `json:"id"`
	Kind        KeyKind `json:"kind"`
	Owner       string  `json:"owner"` // service-account or user name
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	SecretHash  []byte  `json:"secretHash"`
	// PublicJWK, when set, makes this a key-based credential: the client
	// authenticates with a private_key_jwt assertion signed by the matching
	// private key, and SecretHash is empty.
	PublicJWK []byte `json:"publicJwk,omitempty"`
	// PreviousSecretHash keeps working until PreviousExpiresAt (rotation
	// with overlap).
	PreviousSecretHash []byte    `json:"previousSecretHash,omitempty"`
	PreviousExpiresAt  time.Time `json:"previousExpiresAt,omitzero"`
	// Roles is the owner's roles at creation time (service-account keys).
	Roles     []string  `json:"roles,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`    // narrowing of the owner's scopes
	Audiences []string  `json:"audiences,omitempty"` // narrowing of the owner's audiences
	CIDRs     []string  `json:"cidrs,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"` // zero: never
	RotatedAt time.Time `json:"rotatedAt,omitzero"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	RevokedBy string    `json:"revokedBy,omitempty"`
	// LastUsedAt/LastUsedIP are written in batches, not per request.
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	LastUsedIP string    `json:"lastUsedIp,omitempty"`
	// ExpiryNoticeAt records when an "expiring soon" notice went out.
	ExpiryNoticeAt time.Time `json:"expiryNoticeAt,omitzero"`
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// KeyQuery selects keys; zero fields match everything.
type KeyQuery struct {
	Kind  KeyKind
	Owner string
	// ExpiresAfter/ExpiresBefore, when set, select keys with an expiry in
	// (ExpiresAfter, ExpiresBefore]; keys that never expire never match.
	// Backends may answer from an expiry index (the expiry-notice job asks
	// for the next days' keys out of millions).
	ExpiresAfter  time.Time
	ExpiresBefore time.Time
	// WithoutExpiryNotice selects keys whose expiry notice is not sent.
	WithoutExpiryNotice bool
}

// Matches reports whether k is selected by q.
func (q KeyQuery) Matches(k Key) bool {
	if q.Kind != "" && q.Kind != k.Kind || q.Owner != "" && q.Owner != k.Owner {
		return false
	}
	if !q.ExpiresAfter.IsZero() || !q.ExpiresBefore.IsZero() {
		if k.ExpiresAt.IsZero() || !k.ExpiresAt.After(q.ExpiresAfter) ||
			!q.ExpiresBefore.IsZero() && k.ExpiresAt.After(q.ExpiresBefore) {
			return false
		}
	}
	return !q.WithoutExpiryNotice || k.ExpiryNoticeAt.IsZero()
}

// ByExpiry reports whether q is best answered from an expiry index.
func (q KeyQuery) ByExpiry() bool { return q.Kind == "" && !q.ExpiresBefore.IsZero() }

// KeyUsage is one observation of a key being used.
type KeyUsage struct {
	KeyID string
	At    time.Time
	IP    string
}

// SigningKeyState is the lifecycle state of a JWT signing key.
type SigningKeyState string

const (
	// SigningPending keys are published in JWKS but do not sign yet.
	SigningPending SigningKeyState = "pending"
	// SigningActive is the one key that signs new tokens.
	SigningActive SigningKeyState = "active"
	// SigningRetired keys stay published until RemoveAfter so tokens they
	// signed still verify.
	SigningRetired SigningKeyState = "retired"
)

// SigningKey is a JWT signing key. The private key is stored only encrypted
// (AES-256-GCM under the key-encryption key, the kid as associated data).
type SigningKey struct {
	ID        string          `json:"id"` // the JWK kid (RFC 7638 thumbprint)
	Algorithm string          `json:"algorithm"`
	State     SigningKeyState `json:"state"`
	PublicJWK []byte          `json:"publicJwk"`
	// EncryptedPrivateKey is nonce || AES-GCM(PKCS#8 DER).
	EncryptedPrivateKey []byte    `json:"encryptedPrivateKey"`
	KEKID               string    `json:"kekId"`
	CreatedAt           time.Time `json:"createdAt"`
	ActivateAt          time.Time `json:"activateAt,omitzero"`
	ActivatedAt         time.Time `json:"activatedAt,omitzero"`
	RetiredAt           time.Time `json:"retiredAt,omitzero"`
	RemoveAfter         time.Time `json:"removeAfter,omitzero"`
	// ConfiguredAlgorithm is the signing.algorithm the server was
	// configured with when it generated this key (empty on keys from
	// before it was recorded). It differs from Algorithm when an
	// administrator chose the algorithm (keys rotate --algorithm): that
	// choice stands until the configuration changes.
	ConfiguredAlgorithm string `json:"configuredAlgorithm,omitempty"`
}

// AuditEvent records one administrative action or token issuance.
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

// AuditQuery filters audit events; zero fields match everything.
type AuditQuery struct {
	Actor  string
	Action string // exact, or a prefix ending in "*"
	Target string
	Since  time.Time
	Until  time.Time
	// Before is an event ID: only older events are returned (paging).
	Before string
	Limit  int // 0 means 100
}

// RevokedToken is a deny-listed access token.
type RevokedToken struct {
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expiresAt"`
	RevokedAt time.Time `json:"revokedAt"`
	RevokedBy string    `json:"revokedBy,omitempty"`
}

// Expired reports whether the revoked token has expired at now: its
// revocation is no longer needed (PruneRevokedTokens removes it).
func (t RevokedToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// Matches reports whether e is selected by q (ignoring Before and Limit,
// which are paging concerns of the backend).
func (q AuditQuery) Matches(e AuditEvent) bool {
	if q.Actor != "" && q.Actor != e.Actor {
		return false
	}
	if q.Target != "" && q.Target != e.Target {
		return false
	}
	if q.Action != "" {
		if prefix, ok := strings.CutSuffix(q.Action, "*"); ok {
			if !strings.HasPrefix(e.Action, prefix) {
				return false
			}
		} else if q.Action != e.Action {
			return false
		}
	}
	if q.BeforeSince(e) {
		return false
	}
	if !q.Until.IsZero() && e.Time.After(q.Until) {
		return false
	}
	return true
}

// BeforeSince reports whether e is older than q.Since: a backend reading
// events newest first stops there, since nothing older can match.
func (q AuditQuery) BeforeSince(e AuditEvent) bool {
	return !q.Since.IsZero() && e.Time.Before(q.Since)
}

// EffectiveLimit returns the page size to use for q.
func (q AuditQuery) EffectiveLimit() int {
	if q.Limit <= 0 {
		return 100
	}
	return min(q.Limit, 1000)
}

// Watcher is implemented by backends that other processes write to (etcd).
// SigningKeyChanges delivers a signal (coalesced: at most one pending)
// whenever the stored signing keys change, so that a replica can publish
// a key set written by another replica without waiting for its periodic
// re-read.
type Watcher interface {
	SigningKeyChanges() <-chan struct{}
}
