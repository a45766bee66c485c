package records

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// CreateSession stores s for an existing, active user. The user record is
// read (guarded) in the same transaction: a concurrent deactivation, which
// writes it, makes one of the two run again, so a session is never created
// for a user whose deactivation already deleted their sessions.
func (w Writer) CreateSession(ctx context.Context, s store.Session) error {
	return w.run(ctx, func(tx Tx) error {
		u, err := Get[store.User](tx, Users, s.User)
		if err != nil {
			return err
		}
		if u.Status != store.StatusActive {
			return fmt.Errorf("user %q is %s: %w", s.User, u.Status, store.ErrConflict)
		}
		if taken, err := exists(tx, Sessions, s.ID); err != nil {
			return err
		} else if taken {
			return fmt.Errorf("session: %w", store.ErrAlreadyExists)
		}
		return put(tx, Sessions, s.ID, s)
	})
}

// UpdateSession applies update to session id; ID and User are immutable.
func (w Writer) UpdateSession(ctx context.Context, id string, update func(store.Session) (store.Session, error)) (result store.Session, err error) {
	err = w.run(ctx, func(tx Tx) error {
		old, err := Get[store.Session](tx, Sessions, id)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.ID, updated.User = old.ID, old.User
		result = updated
		return put(tx, Sessions, id, updated)
	})
	return result, err
}

// DeleteSession ends session id; ErrNotFound when there is none.
func (w Writer) DeleteSession(ctx context.Context, id string) error {
	return w.run(ctx, func(tx Tx) error {
		if _, err := Get[store.Session](tx, Sessions, id); err != nil {
			return err
		}
		return tx.Delete(Sessions, id)
	})
}

// DeleteUserSessions ends every session of user.
func (w Writer) DeleteUserSessions(ctx context.Context, user string) (n int, err error) {
	err = w.run(ctx, func(tx Tx) error {
		n, err = deleteUserSessions(tx, user)
		return err
	})
	return n, err
}

// PruneSessions deletes the sessions expired at now and returns them.
func (w Writer) PruneSessions(ctx context.Context, now time.Time) (pruned []store.Session, err error) {
	err = w.run(store.WithoutAudit(ctx), func(tx Tx) error {
		pruned, err = deleteSessionsWhere(tx, func(s store.Session) bool { return s.Expired(now) })
		return err
	})
	return pruned, err
}

func deleteUserSessions(tx Tx, user string) (int, error) {
	deleted, err := deleteSessionsWhere(tx, func(s store.Session) bool { return s.User == user })
	return len(deleted), err
}

// deleteSessionsWhere deletes the sessions match selects. Sessions have no
// owner index: a scan, guarded as a whole (Each), so a session created
// concurrently makes this transaction run again rather than be missed.
func deleteSessionsWhere(tx Tx, match func(store.Session) bool) ([]store.Session, error) {
	var doomed []store.Session
	err := tx.Each(Sessions, func(id string, data []byte) error {
		s, err := decode[store.Session](Sessions, id, data)
		if err == nil && match(s) {
			doomed = append(doomed, s)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, s := range doomed {
		if err := tx.Delete(Sessions, s.ID); err != nil {
			return nil, err
		}
	}
	return doomed, nil
}
