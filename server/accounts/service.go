// Package accounts holds tokenwright's business rules for service accounts,
// users and their credentials: validation, who may do what, key expiry and
// status, the policy applied at the token endpoint, and the audit trail.
// The admin REST API, the token endpoint and (through the API) the CLI and
// web console all go through it, so each rule lives in exactly one place.
package accounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
)

// Policy holds the server-wide settings the rules depend on.
type Policy struct {
	// DefaultKeyLifetime applies when a key is created without an expiry.
	DefaultKeyLifetime time.Duration
	// MaxKeyLifetime caps key expiry; zero means no cap and allows "never".
	MaxKeyLifetime time.Duration
	// ExpiringSoon is the window in which a key's status is expiring_soon.
	ExpiringSoon time.Duration
	// DefaultTokenLifetime and MaxTokenLifetime bound issued JWTs.
	DefaultTokenLifetime time.Duration
	MaxTokenLifetime     time.Duration
	// DefaultAudiences and DefaultScopes apply to principals that have none.
	DefaultAudiences []string
	DefaultScopes    []string
	// DominoSites are the Domino site URLs that Domino-profile principals
	// without audiences of their own receive; DominoRESTAPI adds "Domino".
	DominoSites   []string
	DominoRESTAPI bool
	// MaxPATsPerUser bounds the personal access tokens one user holds
	// (stored ones, revoked and expired included); 0 means no limit.
	MaxPATsPerUser int
}

// DefaultPolicy is what a server without configuration uses.
func DefaultPolicy() Policy {
	return Policy{
		DefaultKeyLifetime:   4 * 30 * 24 * time.Hour, // four months
		ExpiringSoon:         7 * 24 * time.Hour,
		DefaultTokenLifetime: 10 * time.Minute,
		MaxTokenLifetime:     time.Hour,
		MaxPATsPerUser:       50,
	}
}

// Service applies the rules on top of a store.
type Service struct {
	store  store.Store
	policy Policy
	log    zerolog.Logger
	now    func() time.Time
	usage  usageRecorder
	replay replayGuard
}

// Options configure a Service.
type Options struct {
	Policy Policy
	Logger zerolog.Logger
	Now    func() time.Time
}

// New returns a Service.
func New(s store.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: s, policy: opts.Policy, log: opts.Logger, now: opts.Now}
}

// Policy returns the policy in force.
func (s *Service) Policy() Policy { return s.policy }

// Actor is an authenticated caller of the admin API.
type Actor struct {
	User store.User
	// KeyID is the PAT the caller authenticated with.
	KeyID string
	// IP is the caller's address, for the audit trail.
	IP string
}

// IsAdmin reports whether the actor is an administrator.
func (a Actor) IsAdmin() bool { return a.User.Admin && a.User.Status == store.StatusActive }

// Name is the actor's user name.
func (a Actor) Name() string { return a.User.Name }

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS is broken; nothing safe to do
	}
	return hex.EncodeToString(b)
}

// audit records an action. The action already happened (or was refused);
// a failure to write the record is logged loudly but does not undo it.
func (s *Service) audit(ctx context.Context, actor Actor, action, target string, err error, details map[string]string) {
	result := "success"
	switch {
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrUnauthenticated):
		result = "denied"
	case err != nil:
		result = "failure"
		if details == nil {
			details = map[string]string{}
		}
		details["error"] = err.Error()
	}
	// Target and details may quote rejected input: a credential pasted into
	// the wrong field must not reach the database and its backups.
	if len(details) > 0 {
		clean := make(map[string]string, len(details))
		for k, v := range details {
			clean[apikey.Redact(k)] = apikey.Redact(v)
		}
		details = clean
	}
	ev := store.AuditEvent{Time: s.now().UTC(), Actor: actor.Name(), Action: action, Target: apikey.Redact(target),
		SourceIP: actor.IP, Result: result, Details: details}
	if _, aerr := s.store.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil {
		s.log.Error().Err(aerr).Str("action", action).Str("target", target).Msg("writing audit event failed")
	}
}

// Audit lists audit events (administrators only).
func (s *Service) Audit(ctx context.Context, actor Actor, q store.AuditQuery) ([]store.AuditEvent, error) {
	if !actor.IsAdmin() {
		return nil, ErrForbidden
	}
	return s.store.ListAudit(ctx, q)
}

// Bootstrap makes sure an administrator exists. On an empty store it
// creates user name with a personal access token and returns the secret
// (once); otherwise it returns "".
func (s *Service) Bootstrap(ctx context.Context, name, email string) (secret string, err error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap: listing users: %w", err)
	}
	if len(users) > 0 {
		return "", nil
	}
	if err := validateName("name", name); err != nil {
		return "", fmt.Errorf("bootstrap: admin %w", err)
	}
	if email, err = normalizeEmail("email", email); err != nil {
		return "", fmt.Errorf("bootstrap: admin %w", err)
	}
	now := s.now().UTC()
	admin := store.User{ID: newID(), Name: name, Email: email, Admin: true, Status: store.StatusActive,
		CreatedAt: now, UpdatedAt: now, CreatedBy: "bootstrap"}
	if err := s.store.CreateUser(ctx, admin); errors.Is(err, store.ErrAlreadyExists) {
		return "", nil // another replica sharing the store bootstrapped first
	} else if err != nil {
		return "", fmt.Errorf("bootstrap: creating admin: %w", err)
	}
	// The bootstrap token does not expire, so that a fresh installation can
	// never lock itself out; the README says to replace it.
	key, cred, err := s.newKey(now, apikey.PersonalToken, name, "bootstrap", "created at first start", time.Time{})
	if err != nil {
		return "", err
	}
	key.CreatedBy = "bootstrap"
	if err := s.store.CreateKey(ctx, key); err != nil {
		return "", fmt.Errorf("bootstrap: creating admin token: %w", err)
	}
	s.audit(ctx, Actor{User: store.User{Name: "bootstrap"}}, "user.bootstrap", name, nil, nil)
	return cred.String(), nil
}

// newKey makes a key record and its credential.
func (s *Service) newKey(now time.Time, kind apikey.Kind, owner, name, description string, expires time.Time) (store.Key, apikey.Credential, error) {
	id, err := apikey.NewID()
	if err != nil {
		return store.Key{}, apikey.Credential{}, err
	}
	cred, err := apikey.Generate(kind, id)
	if err != nil {
		return store.Key{}, apikey.Credential{}, err
	}
	storeKind := store.KindServiceKey
	if kind == apikey.PersonalToken {
		storeKind = store.KindPersonalToken
	}
	return store.Key{ID: id, Kind: storeKind, Owner: owner, Name: name, Description: description,
		SecretHash: cred.Hash(), CreatedAt: now, ExpiresAt: expires}, cred, nil
}

// KeyStatus computes a key's status at now.
func (s *Service) KeyStatus(k store.Key) string {
	now := s.now()
	switch {
	case k.Revoked():
		return "revoked"
	case k.Expired(now):
		return "expired"
	case !k.ExpiresAt.IsZero() && k.ExpiresAt.Sub(now) <= s.policy.ExpiringSoon:
		return "expiring_soon"
	}
	return "active"
}

// RecordAudit records an administrative action performed outside this
// service (signing-key operations), with the same rules as its own.
func (s *Service) RecordAudit(ctx context.Context, actor Actor, action, target string, err error, details map[string]string) {
	s.audit(ctx, actor, action, target, err, details)
}
