package store

import (
	"context"
	"errors"
	"fmt"
)

// Results of an audited action (AuditEvent.Result).
const (
	ResultSuccess = "success"
	ResultDenied  = "denied"
	ResultFailure = "failure"
)

// ErrInvalidAudit is returned for an audit event that cannot be stored
// (see AuditEvent.Validate). When it is the event of a change, the change
// is not made either. It is a caller's bug, never a client's mistake.
var ErrInvalidAudit = errors.New("invalid audit event")

// Validate reports whether e can be stored: it names an action, a time
// and one of the three results.
func (e AuditEvent) Validate() error {
	switch {
	case e.Action == "":
		return fmt.Errorf("%w: no action", ErrInvalidAudit)
	case e.Time.IsZero():
		return fmt.Errorf("%w: %s: no time", ErrInvalidAudit, e.Action)
	case e.Result != ResultSuccess && e.Result != ResultDenied && e.Result != ResultFailure:
		return fmt.Errorf("%w: %s: result %q", ErrInvalidAudit, e.Action, e.Result)
	}
	return nil
}

// The audit event of a change travels with the write in its context, so
// that every backend records it in the transaction that makes the change
// (see Store) and wrappers such as the cache pass it on untouched.
type auditKey struct{}

type changeAudit struct {
	ev       AuditEvent
	complete func(*AuditEvent)
}

// WithAudit returns a context with which a write method of Store records
// ev in the same transaction as its change: both are stored or neither is.
// complete, if not nil, is called inside that transaction after the
// method's update closures have run, each time they run (a backend may run
// a transaction more than once), to fill in what only they know, such as
// how many keys an UpdateKeys changed.
//
// The event rides on every write made with the returned context: derive
// it for the one call that makes the change, never for a whole request.
func WithAudit(ctx context.Context, ev AuditEvent, complete func(*AuditEvent)) context.Context {
	return context.WithValue(ctx, auditKey{}, &changeAudit{ev: ev, complete: complete})
}

// WithAuditTarget returns ctx with the target of the change event it
// carries, if any, set to target: for a change whose subject is decided by
// the code that makes the write (the id of a new signing key).
func WithAuditTarget(ctx context.Context, target string) context.Context {
	c, _ := ctx.Value(auditKey{}).(*changeAudit)
	if c == nil {
		return ctx
	}
	ev := c.ev
	ev.Target = target
	return context.WithValue(ctx, auditKey{}, &changeAudit{ev: ev, complete: c.complete})
}

// WithoutAudit returns a context that carries no change event.
func WithoutAudit(ctx context.Context) context.Context {
	return context.WithValue(ctx, auditKey{}, (*changeAudit)(nil))
}

// ChangeAudit returns the event that ctx carries (WithAudit), completed
// and validated; ok is false when there is none. Backends call it inside
// the write transaction, after the change is staged, and fail the whole
// transaction when err is not nil.
func ChangeAudit(ctx context.Context) (ev AuditEvent, ok bool, err error) {
	c, _ := ctx.Value(auditKey{}).(*changeAudit)
	if c == nil {
		return AuditEvent{}, false, nil
	}
	ev = c.ev
	if ev.Details != nil {
		ev.Details = cloneDetails(ev.Details)
	}
	if c.complete != nil {
		c.complete(&ev)
	}
	return ev, true, ev.Validate()
}

func cloneDetails(d map[string]string) map[string]string {
	out := make(map[string]string, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}
