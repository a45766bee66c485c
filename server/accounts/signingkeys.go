package accounts

import (
	"context"

	"github.com/tokenwright/tokenwright/store"
)

// SigningKeyAction is an administrative change of the JWT signing keys;
// its value is the audit trail's action name.
type SigningKeyAction string

// The signing-key actions.
const (
	SigningKeyRotate SigningKeyAction = "signing_key.rotate"
	SigningKeyRemove SigningKeyAction = "signing_key.remove"
)

// MayManageSigningKeys is who may see, rotate and remove the signing keys:
// active administrators. ErrForbidden otherwise.
func MayManageSigningKeys(actor Actor) error {
	if !actor.IsAdmin() {
		return ErrForbidden
	}
	return nil
}

// ChangeSigningKeys performs a change of the signing keys (the signing
// manager's RotateTo or Remove, in change) for actor, under the rules of
// every administrative action: only who MayManageSigningKeys; the success
// event is stored by change's own write (it receives the context that
// carries it: store.WithAudit; the manager names the new key with
// store.WithAuditTarget); a refusal or failure is recorded afterwards,
// best-effort, with the target change returns, or target if it returns "".
func (s *Service) ChangeSigningKeys(ctx context.Context, actor Actor, action SigningKeyAction, target string,
	details map[string]string, change func(context.Context) (string, error)) (err error) {
	act := s.begin(actor, string(action), target, details)
	defer func() { act.finish(ctx, err) }()
	if err := MayManageSigningKeys(actor); err != nil {
		return err
	}
	changed, err := change(act.change(ctx))
	if changed != "" {
		act.target = changed
	}
	return err
}

// SystemActor is the actor of what the server does on its own (expiry
// notices) in the audit trail.
var SystemActor = Actor{User: store.User{Name: "tokenwright"}}

// Event composes the audit record of an action taken outside this
// service (expiry notices), by the rules of every event: the result
// follows err, details and target are redacted. The caller stores it with
// its write (store.WithAudit) or, failing that, with RecordEvent.
func (s *Service) Event(actor Actor, action, target string, err error, details map[string]string) store.AuditEvent {
	return s.event(actor, action, target, err, details)
}

// RecordEvent appends ev on its own, best-effort: for an event whose write
// could not carry it. A failure is logged, not returned.
func (s *Service) RecordEvent(ctx context.Context, ev store.AuditEvent) {
	if _, err := s.store.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		s.log.Error().Err(err).Str("action", ev.Action).Str("target", ev.Target).Msg("writing audit event failed")
	}
}
