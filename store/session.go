package store

import (
	"context"
	"time"
)

// Session is a person's signed-in console session (single sign-on,
// server/sso). The cookie holds a random secret; only its SHA-256 hash is
// stored, as ID, so that a copy of the store signs no one in.
//
// A session ends at ExpiresAt (absolute) or when it has not been used for
// IdleTimeout after LastSeenAt, whichever is first; it ends at once when
// it is deleted (sign-out), and the store deletes every session of a user
// who is deactivated or deleted, in the same transaction (SessionStore).
type Session struct {
	ID          string        `json:"id"`                // hex SHA-256 of the cookie's secret
	User        string        `json:"user"`              // user name
	Subject     string        `json:"subject,omitempty"` // the provider's sub
	CreatedAt   time.Time     `json:"createdAt"`
	LastSeenAt  time.Time     `json:"lastSeenAt"`
	ExpiresAt   time.Time     `json:"expiresAt"`
	IdleTimeout time.Duration `json:"idleTimeout"`
	SourceIP    string        `json:"sourceIp,omitempty"`
	// IDToken is the provider's ID token of the sign-in, sent back as
	// id_token_hint when the session is signed out (RP-initiated logout:
	// it tells the provider whose session to end). It is no credential
	// here or at the provider; its audience is tokenwright's client.
	IDToken string `json:"idToken,omitempty"`
}

// Expired reports whether the session has ended at now, by either timeout.
func (s Session) Expired(now time.Time) bool {
	return !now.Before(s.ExpiresAt) || s.IdleTimeout > 0 && !now.Before(s.LastSeenAt.Add(s.IdleTimeout))
}

// SessionStore is the part of Store that keeps console sessions.
// CreateSession fails with ErrNotFound when the user does not exist and
// with ErrConflict when the user is not active, checked in the same
// transaction as the write; a user's deactivation (UpdateUser setting
// StatusInactive) and DeleteUser delete the user's sessions in their own
// transaction, so no session outlives them on any replica.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	UpdateSession(ctx context.Context, id string, update func(Session) (Session, error)) (Session, error)
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of user and returns how many.
	DeleteUserSessions(ctx context.Context, user string) (int, error)
	// PruneSessions deletes the sessions expired at now (housekeeping)
	// and returns them, so that their end can be audited.
	PruneSessions(ctx context.Context, now time.Time) ([]Session, error)
}
