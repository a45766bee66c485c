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
	"maps"
	"strconv"
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
	// Issuer is tokenwright's own issuer URL: the audience a federation
	// rule expects of foreign tokens unless it names another.
	Issuer string
}

// MaxTokenLifetime is the hard cap on JWT lifetime (the Domino REST API's
// maxJwtDuration default is far above; short tokens limit a leak's value).
// No setting raises it.
const MaxTokenLifetime = time.Hour

// DefaultPolicy is what a server without configuration uses. It is the one
// home of these defaults: the configuration's (config.Default) are
// read from it.
func DefaultPolicy() Policy {
	return Policy{
		DefaultKeyLifetime:   4 * 30 * 24 * time.Hour, // four months
		ExpiringSoon:         7 * 24 * time.Hour,
		DefaultTokenLifetime: 10 * time.Minute,
		MaxTokenLifetime:     MaxTokenLifetime,
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

// event composes the audit record of an action; its result follows err.
// Target and details may quote rejected input: a credential pasted into
// the wrong field must not reach the database and its backups, so both
// are redacted here, the one place every event is made.
func (s *Service) event(actor Actor, action, target string, err error, details map[string]string) store.AuditEvent {
	result := store.ResultSuccess
	switch {
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrUnauthenticated):
		result = store.ResultDenied
	case err != nil:
		result = store.ResultFailure
		details = maps.Clone(details)
		if details == nil {
			details = map[string]string{}
		}
		details["error"] = err.Error()
	}
	var clean map[string]string
	if len(details) > 0 {
		clean = make(map[string]string, len(details))
		for k, v := range details {
			clean[apikey.Redact(k)] = apikey.Redact(v)
		}
	}
	return store.AuditEvent{Time: s.now().UTC(), Actor: actor.Name(), Action: action, Target: apikey.Redact(target),
		SourceIP: actor.IP, Result: result, Details: clean}
}

// auditFailure records a refused or failed attempt, best-effort: nothing
// was changed, so a failure to write the record is logged loudly and the
// caller's error stands. A nil err records nothing: the event of a
// success was written by the store with the change itself (action.change).
func (s *Service) auditFailure(ctx context.Context, actor Actor, action, target string, err error, details map[string]string) {
	if err == nil {
		return
	}
	if _, aerr := s.store.AppendAudit(context.WithoutCancel(ctx), s.event(actor, action, target, err, details)); aerr != nil {
		s.log.Error().Err(aerr).Str("action", action).Str("target", apikey.Redact(target)).Msg("writing audit event failed")
	}
}

// action is one audited administrative action on its way through the
// service. Its success event is composed before the write and stored by
// the store in the transaction that makes the change (change): if the
// event cannot be written, the change is not made. Its refusal or failure
// is recorded afterwards, best-effort (finish).
type action struct {
	s       *Service
	actor   Actor
	name    string
	target  string
	details map[string]string
}

// begin starts an audited action; details may be filled in until the
// write (change) and, for a failure, until finish.
func (s *Service) begin(actor Actor, name, target string, details map[string]string) *action {
	if details == nil {
		details = map[string]string{}
	}
	return &action{s: s, actor: actor, name: name, target: target, details: details}
}

// change returns the context for the one store write that makes the
// change: that write records the success event with it.
func (a *action) change(ctx context.Context) context.Context {
	return store.WithAudit(ctx, a.s.event(a.actor, a.name, a.target, nil, a.details), nil)
}

// changeCounting is change for a write whose update closure counts what
// it changed (in *n, from 0, once per attempt): the event's details carry
// that count under key, exactly as committed.
func (a *action) changeCounting(ctx context.Context, key string, n *int) context.Context {
	return store.WithAudit(ctx, a.s.event(a.actor, a.name, a.target, nil, a.details), func(e *store.AuditEvent) {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details[key] = strconv.Itoa(*n)
		*n = 0 // a backend that runs the transaction again counts afresh
	})
}

// finish records err if the action was refused or failed.
func (a *action) finish(ctx context.Context, err error) {
	a.s.auditFailure(ctx, a.actor, a.name, a.target, err, a.details)
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
	// The event rides on the write that completes the bootstrap.
	act := s.begin(Actor{User: store.User{Name: "bootstrap"}}, "user.bootstrap", name, nil)
	if err := s.store.CreateKey(act.change(ctx), key); err != nil {
		act.finish(ctx, err)
		return "", fmt.Errorf("bootstrap: creating admin token: %w", err)
	}
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
