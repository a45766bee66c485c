package store

import (
	"context"
	"time"
)

// Session is a person's signed-in session (single sign-on, server/sso):
// a console session (its secret in a cookie), a CLI session (its secret a
// bearer credential kept by `tokenwright login`), or a CLI sign-in code
// waiting to be exchanged for one. Only the SHA-256 hash of the secret is
// stored, as ID, so that a copy of the store signs no one in. Kind keeps
// them apart: a secret is accepted only where its kind is.
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
	Kind        SessionKind   `json:"kind"`
	// Challenge is the PKCE S256 challenge a SessionCLICode is bound to:
	// the code is exchanged only with its verifier.
	Challenge string `json:"challenge,omitempty"`
	// IDToken is the provider's ID token of the sign-in, sent back as
	// id_token_hint when the session is signed out (RP-initiated logout:
	// it tells the provider whose session to end). It is no credential
	// here or at the provider; its audience is tokenwright's client.
	IDToken string `json:"idToken,omitempty"`
}

// SessionKind says where a session's secret is accepted.
type SessionKind string

const (
	// SessionConsole: the secret is the console's session cookie.
	SessionConsole SessionKind = "console"
	// SessionCLI: the secret is a bearer credential of the CLI.
	SessionCLI SessionKind = "cli"
	// SessionCLICode: a one-time code, exchanged (once, with its PKCE
	// verifier) for a SessionCLI; never a credential itself.
	SessionCLICode SessionKind = "cli-code"
	// SessionCLIDevice records a redeemed device code of the provider
	// (kept until the flow could have expired), so that it gives one
	// CLI session at most; never a credential.
	SessionCLIDevice SessionKind = "cli-device"
)

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
