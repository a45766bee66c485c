// Package traced wraps a store.Store so that each operation made on behalf
// of a traced request is a span: store.GetKey, store.UpdateServiceAccount…,
// children of the request's span. It is a decorator, not a feature of the
// backends, so that bbolt, etcd and the cache are traced alike.
//
// Only operations whose context already carries a sampled span are
// traced: the background jobs (the usage flusher every few seconds, the
// key counts, the expiry notices) would otherwise start a root trace per
// run and drown the requests. A span records the operation's name and, on
// failure, the kind of error (a store sentinel such as not_found), never
// the error's text or the data read or written.
package traced

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenwright/tokenwright/store"
)

// InstrumentationName names the decorator's tracer.
const InstrumentationName = "github.com/tokenwright/tokenwright/store/traced"

// Store is a traced store.Store.
type Store struct {
	next   store.Store
	tracer trace.Tracer
}

var _ store.Store = (*Store)(nil)

// New wraps next with spans from tp.
func New(next store.Store, tp trace.TracerProvider) *Store {
	return &Store{next: next, tracer: tp.Tracer(InstrumentationName)}
}

// span is one operation's span; the zero value (untraced call) does nothing.
type span struct{ s trace.Span }

func (s *Store) start(ctx context.Context, op string) (context.Context, span) {
	// The sampled flag of the context's span, not whether that span
	// records: a library between the request and the store (zitadel's op
	// package) may put a non-recording span of the global no-op provider
	// in the context, which keeps the request's ids and sampling decision.
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx, span{}
	}
	ctx, sp := s.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("db.operation.name", op)))
	return ctx, span{sp}
}

// errorKinds are the store's sentinel errors as attribute values. An
// expected answer (not found, already exists, a conflict, a refused
// argument) is recorded as store.result; an unavailable or unknown failure
// also marks the span as an error.
var errorKinds = []struct {
	err     error
	kind    string
	failure bool
}{
	{store.ErrNotFound, "not_found", false},
	{store.ErrAlreadyExists, "already_exists", false},
	{store.ErrEmailTaken, "email_taken", false},
	{store.ErrConflict, "conflict", false},
	{store.ErrInvalidArgument, "invalid_argument", false},
	{store.ErrLimitExceeded, "limit_exceeded", false},
	{store.ErrInvalidAudit, "invalid_audit", false},
	{store.ErrOutcomeUnknown, "outcome_unknown", true},
	{store.ErrUnavailable, "unavailable", true},
}

func (sp span) end(err error) {
	if sp.s == nil {
		return
	}
	defer sp.s.End()
	if err == nil {
		return
	}
	kind, failure := "error", true
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			kind, failure = k.kind, k.failure
			break
		}
	}
	sp.s.SetAttributes(attribute.String("store.result", kind))
	if failure {
		sp.s.SetStatus(codes.Error, kind)
	}
}

func (s *Store) CreateServiceAccount(ctx context.Context, sa store.ServiceAccount) (err error) {
	ctx, sp := s.start(ctx, "CreateServiceAccount")
	defer func() { sp.end(err) }()
	return s.next.CreateServiceAccount(ctx, sa)
}

func (s *Store) GetServiceAccount(ctx context.Context, name string) (_ store.ServiceAccount, err error) {
	ctx, sp := s.start(ctx, "GetServiceAccount")
	defer func() { sp.end(err) }()
	return s.next.GetServiceAccount(ctx, name)
}

func (s *Store) ListServiceAccounts(ctx context.Context) (_ []store.ServiceAccount, err error) {
	ctx, sp := s.start(ctx, "ListServiceAccounts")
	defer func() { sp.end(err) }()
	return s.next.ListServiceAccounts(ctx)
}

func (s *Store) UpdateServiceAccount(ctx context.Context, name string, update func(store.ServiceAccount) (store.ServiceAccount, error)) (_ store.ServiceAccount, err error) {
	ctx, sp := s.start(ctx, "UpdateServiceAccount")
	defer func() { sp.end(err) }()
	return s.next.UpdateServiceAccount(ctx, name, update)
}

func (s *Store) DeleteServiceAccount(ctx context.Context, name string) (err error) {
	ctx, sp := s.start(ctx, "DeleteServiceAccount")
	defer func() { sp.end(err) }()
	return s.next.DeleteServiceAccount(ctx, name)
}

func (s *Store) CreateUser(ctx context.Context, u store.User) (err error) {
	ctx, sp := s.start(ctx, "CreateUser")
	defer func() { sp.end(err) }()
	return s.next.CreateUser(ctx, u)
}

func (s *Store) GetUser(ctx context.Context, name string) (_ store.User, err error) {
	ctx, sp := s.start(ctx, "GetUser")
	defer func() { sp.end(err) }()
	return s.next.GetUser(ctx, name)
}

func (s *Store) ListUsers(ctx context.Context) (_ []store.User, err error) {
	ctx, sp := s.start(ctx, "ListUsers")
	defer func() { sp.end(err) }()
	return s.next.ListUsers(ctx)
}

func (s *Store) UpdateUser(ctx context.Context, name string, update func(store.User) (store.User, error)) (_ store.User, err error) {
	ctx, sp := s.start(ctx, "UpdateUser")
	defer func() { sp.end(err) }()
	return s.next.UpdateUser(ctx, name, update)
}

func (s *Store) DeleteUser(ctx context.Context, name string) (err error) {
	ctx, sp := s.start(ctx, "DeleteUser")
	defer func() { sp.end(err) }()
	return s.next.DeleteUser(ctx, name)
}

func (s *Store) CreateKey(ctx context.Context, k store.Key, opts ...store.CreateKeyOption) (err error) {
	ctx, sp := s.start(ctx, "CreateKey")
	defer func() { sp.end(err) }()
	return s.next.CreateKey(ctx, k, opts...)
}

func (s *Store) GetKey(ctx context.Context, id string) (_ store.Key, err error) {
	ctx, sp := s.start(ctx, "GetKey")
	defer func() { sp.end(err) }()
	return s.next.GetKey(ctx, id)
}

func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (_ []store.Key, err error) {
	ctx, sp := s.start(ctx, "ListKeys")
	defer func() { sp.end(err) }()
	return s.next.ListKeys(ctx, q)
}

func (s *Store) UpdateKey(ctx context.Context, id string, update func(store.Key) (store.Key, error)) (_ store.Key, err error) {
	ctx, sp := s.start(ctx, "UpdateKey")
	defer func() { sp.end(err) }()
	return s.next.UpdateKey(ctx, id, update)
}

func (s *Store) UpdateKeys(ctx context.Context, q store.KeyQuery, update func(store.Key) (store.Key, error)) (_ []store.Key, err error) {
	ctx, sp := s.start(ctx, "UpdateKeys")
	defer func() { sp.end(err) }()
	return s.next.UpdateKeys(ctx, q, update)
}

func (s *Store) DeleteKey(ctx context.Context, id string) (err error) {
	ctx, sp := s.start(ctx, "DeleteKey")
	defer func() { sp.end(err) }()
	return s.next.DeleteKey(ctx, id)
}

func (s *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) (err error) {
	ctx, sp := s.start(ctx, "RecordKeyUsage")
	defer func() { sp.end(err) }()
	return s.next.RecordKeyUsage(ctx, usage)
}

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) (err error) {
	ctx, sp := s.start(ctx, "CreateSigningKey")
	defer func() { sp.end(err) }()
	return s.next.CreateSigningKey(ctx, k)
}

func (s *Store) ListSigningKeys(ctx context.Context) (_ []store.SigningKey, err error) {
	ctx, sp := s.start(ctx, "ListSigningKeys")
	defer func() { sp.end(err) }()
	return s.next.ListSigningKeys(ctx)
}

func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (_ store.SigningKey, err error) {
	ctx, sp := s.start(ctx, "UpdateSigningKey")
	defer func() { sp.end(err) }()
	return s.next.UpdateSigningKey(ctx, id, update)
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) (err error) {
	ctx, sp := s.start(ctx, "DeleteSigningKey")
	defer func() { sp.end(err) }()
	return s.next.DeleteSigningKey(ctx, id)
}

func (s *Store) ReplaceSigningKeys(ctx context.Context, keys []store.SigningKey) (err error) {
	ctx, sp := s.start(ctx, "ReplaceSigningKeys")
	defer func() { sp.end(err) }()
	return s.next.ReplaceSigningKeys(ctx, keys)
}

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (_ store.AuditEvent, err error) {
	ctx, sp := s.start(ctx, "AppendAudit")
	defer func() { sp.end(err) }()
	return s.next.AppendAudit(ctx, e)
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) (_ []store.AuditEvent, err error) {
	ctx, sp := s.start(ctx, "ListAudit")
	defer func() { sp.end(err) }()
	return s.next.ListAudit(ctx, q)
}

func (s *Store) RevokeToken(ctx context.Context, t store.RevokedToken) (err error) {
	ctx, sp := s.start(ctx, "RevokeToken")
	defer func() { sp.end(err) }()
	return s.next.RevokeToken(ctx, t)
}

func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (_ bool, err error) {
	ctx, sp := s.start(ctx, "IsTokenRevoked")
	defer func() { sp.end(err) }()
	return s.next.IsTokenRevoked(ctx, jti)
}

func (s *Store) ListRevokedTokens(ctx context.Context) (_ []store.RevokedToken, err error) {
	ctx, sp := s.start(ctx, "ListRevokedTokens")
	defer func() { sp.end(err) }()
	return s.next.ListRevokedTokens(ctx)
}

func (s *Store) PruneRevokedTokens(ctx context.Context, now time.Time) (_ int, err error) {
	ctx, sp := s.start(ctx, "PruneRevokedTokens")
	defer func() { sp.end(err) }()
	return s.next.PruneRevokedTokens(ctx, now)
}

func (s *Store) Health(ctx context.Context) (err error) {
	ctx, sp := s.start(ctx, "Health")
	defer func() { sp.end(err) }()
	return s.next.Health(ctx)
}

// Close closes the wrapped store; it makes no span.
func (s *Store) Close() error { return s.next.Close() }

// --- console sessions ---

func (s *Store) CreateSession(ctx context.Context, se store.Session) (err error) {
	ctx, sp := s.start(ctx, "CreateSession")
	defer func() { sp.end(err) }()
	return s.next.CreateSession(ctx, se)
}

func (s *Store) GetSession(ctx context.Context, id string) (_ store.Session, err error) {
	ctx, sp := s.start(ctx, "GetSession")
	defer func() { sp.end(err) }()
	return s.next.GetSession(ctx, id)
}

func (s *Store) UpdateSession(ctx context.Context, id string, update func(store.Session) (store.Session, error)) (_ store.Session, err error) {
	ctx, sp := s.start(ctx, "UpdateSession")
	defer func() { sp.end(err) }()
	return s.next.UpdateSession(ctx, id, update)
}

func (s *Store) DeleteSession(ctx context.Context, id string) (err error) {
	ctx, sp := s.start(ctx, "DeleteSession")
	defer func() { sp.end(err) }()
	return s.next.DeleteSession(ctx, id)
}

func (s *Store) DeleteUserSessions(ctx context.Context, user string) (_ int, err error) {
	ctx, sp := s.start(ctx, "DeleteUserSessions")
	defer func() { sp.end(err) }()
	return s.next.DeleteUserSessions(ctx, user)
}

func (s *Store) PruneSessions(ctx context.Context, now time.Time) (_ []store.Session, err error) {
	ctx, sp := s.start(ctx, "PruneSessions")
	defer func() { sp.end(err) }()
	return s.next.PruneSessions(ctx, now)
}

// --- federation rules ---

func (s *Store) CreateFederationRule(ctx context.Context, r store.FederationRule) (err error) {
	ctx, sp := s.start(ctx, "CreateFederationRule")
	defer func() { sp.end(err) }()
	return s.next.CreateFederationRule(ctx, r)
}

func (s *Store) ListFederationRules(ctx context.Context, account string) (_ []store.FederationRule, err error) {
	ctx, sp := s.start(ctx, "ListFederationRules")
	defer func() { sp.end(err) }()
	return s.next.ListFederationRules(ctx, account)
}

func (s *Store) GetFederationRule(ctx context.Context, account, id string) (_ store.FederationRule, err error) {
	ctx, sp := s.start(ctx, "GetFederationRule")
	defer func() { sp.end(err) }()
	return s.next.GetFederationRule(ctx, account, id)
}

func (s *Store) DeleteFederationRule(ctx context.Context, account, id string) (err error) {
	ctx, sp := s.start(ctx, "DeleteFederationRule")
	defer func() { sp.end(err) }()
	return s.next.DeleteFederationRule(ctx, account, id)
}

func (s *Store) TouchFederationRule(ctx context.Context, account, id string, at time.Time) (err error) {
	ctx, sp := s.start(ctx, "TouchFederationRule")
	defer func() { sp.end(err) }()
	return s.next.TouchFederationRule(ctx, account, id, at)
}

func (s *Store) ConsumeForeignToken(ctx context.Context, issuer, jti string, expiresAt time.Time) (err error) {
	ctx, sp := s.start(ctx, "ConsumeForeignToken")
	defer func() { sp.end(err) }()
	return s.next.ConsumeForeignToken(ctx, issuer, jti, expiresAt)
}

func (s *Store) PruneForeignTokens(ctx context.Context, now time.Time) (_ int, err error) {
	ctx, sp := s.start(ctx, "PruneForeignTokens")
	defer func() { sp.end(err) }()
	return s.next.PruneForeignTokens(ctx, now)
}

// --- TLS session-ticket keys ---

func (s *Store) CreateTLSTicketKey(ctx context.Context, k store.TLSTicketKey) (err error) {
	ctx, sp := s.start(ctx, "CreateTLSTicketKey")
	defer func() { sp.end(err) }()
	return s.next.CreateTLSTicketKey(ctx, k)
}

func (s *Store) ListTLSTicketKeys(ctx context.Context) (_ []store.TLSTicketKey, err error) {
	ctx, sp := s.start(ctx, "ListTLSTicketKeys")
	defer func() { sp.end(err) }()
	return s.next.ListTLSTicketKeys(ctx)
}

func (s *Store) DeleteTLSTicketKey(ctx context.Context, id string) (err error) {
	ctx, sp := s.start(ctx, "DeleteTLSTicketKey")
	defer func() { sp.end(err) }()
	return s.next.DeleteTLSTicketKey(ctx, id)
}
