package sso

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// Errors of Authenticate.
var (
	// ErrNoSession: the session cookie names no live session.
	ErrNoSession = errors.New("the session has ended; sign in again")
	// ErrCSRF: a session-authenticated request without the CSRF header,
	// or from another origin.
	// ErrAddress: the user's allowed networks (allowedCidrs) exclude the
	// request's source address.
	ErrAddress = errors.New("this user may not use tokenwright from this address (the user's allowed networks)")
	ErrCSRF    = errors.New("a console session is accepted only from the console: the " + CSRFHeader +
		" header is required and Origin, when sent (always for a change), must be this server's")
)

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// checkCSRF is the session's CSRF defence (docs/console.md): the custom
// header on every request, and an Origin equal to this server's origin —
// required on state-changing methods, compared whenever sent.
func (m *Manager) checkCSRF(r *http.Request) error {
	if r.Header.Get(CSRFHeader) != "1" {
		return ErrCSRF
	}
	origin := r.Header.Get("Origin")
	if origin == "" && !safeMethod(r.Method) || origin != "" && origin != m.origin {
		return ErrCSRF
	}
	return nil
}

// Authenticate resolves the request's session cookie to an actor. ok is
// false when the request carries no session cookie (the caller then
// answers as for a missing credential). err is ErrCSRF, ErrNoSession, or a
// store error (an outage).
func (m *Manager) Authenticate(r *http.Request) (actor accounts.Actor, ok bool, err error) {
	c, err := r.Cookie(m.sessionCookie)
	if err != nil || c.Value == "" {
		return actor, false, nil
	}
	if err := m.checkCSRF(r); err != nil {
		return actor, true, err
	}
	se, u, err := m.live(r.Context(), c.Value, store.SessionConsole)
	if err != nil {
		return actor, true, err
	}
	actor, err = m.actor(r, se, u)
	return actor, true, err
}

// actor is the user of a live session, within the user's allowed
// networks; it records the session's use (at most once a minute).
func (m *Manager) actor(r *http.Request, se store.Session, u store.User) (accounts.Actor, error) {
	ip := sourceIP(r)
	if !m.opts.Accounts.UserAllowsAddress(u, ip) {
		return accounts.Actor{}, ErrAddress
	}
	if now := m.opts.Now(); now.Sub(se.LastSeenAt) >= touchEvery {
		_, err := m.opts.Store.UpdateSession(store.WithoutAudit(r.Context()), se.ID, func(s store.Session) (store.Session, error) {
			s.LastSeenAt = now.UTC()
			return s, nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			m.opts.Log.Warn().Err(err).Msg("recording a session's use failed")
		}
	}
	return accounts.Actor{User: u, IP: ip}, nil
}

// live returns the session of secret and its user, if both are live and
// the session is of kind (a secret is accepted only where its kind is:
// a console cookie is no bearer credential, nor the reverse). An expired
// session is deleted (audited as session.expire).
func (m *Manager) live(ctx context.Context, secret string, kind store.SessionKind) (store.Session, store.User, error) {
	se, err := m.opts.Store.GetSession(ctx, HashSessionSecret(secret))
	if errors.Is(err, store.ErrNotFound) || err == nil && se.Kind != kind {
		return se, store.User{}, ErrNoSession
	}
	if err != nil {
		return se, store.User{}, err
	}
	if se.Expired(m.opts.Now()) {
		ev := store.AuditEvent{Time: m.opts.Now().UTC(), Actor: se.User, Action: "session.expire", Target: se.User, Result: store.ResultSuccess,
			Details: map[string]string{"kind": string(se.Kind)}}
		if err := m.opts.Store.DeleteSession(store.WithAudit(ctx, ev, nil), se.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.opts.Log.Warn().Err(err).Msg("deleting an expired session failed")
		}
		return se, store.User{}, ErrNoSession
	}
	u, err := m.opts.Store.GetUser(ctx, se.User)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Status != store.StatusActive {
		return se, u, ErrNoSession
	}
	return se, u, err
}

// Logout ends the request's session (POST, with the same CSRF defence as
// the admin API) and clears the cookie. It answers 204 whether or not a
// session was live, so that signing out twice is not an error — unless a
// live session was ended and the provider advertises an
// end_session_endpoint: then 200 with {"endSessionUrl": URL}, where the
// console sends the browser to end the provider's session too
// (RP-initiated logout; logout.go).
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := m.checkCSRF(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	var ended *store.Session
	if c, err := r.Cookie(m.sessionCookie); err == nil && c.Value != "" {
		id := HashSessionSecret(c.Value)
		se, err := m.opts.Store.GetSession(r.Context(), id)
		if err == nil && se.Kind == store.SessionConsole {
			ev := store.AuditEvent{Time: m.opts.Now().UTC(), Actor: se.User, Action: "sso.signout", Target: se.User,
				SourceIP: sourceIP(r), Result: store.ResultSuccess}
			if err = m.opts.Store.DeleteSession(store.WithAudit(r.Context(), ev, nil), id); err == nil {
				ended = &se
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			m.opts.Log.Error().Err(err).Msg("ending a session failed")
			http.Error(w, "the session could not be ended; try again", http.StatusServiceUnavailable)
			return
		}
	}
	m.setCookie(w, m.sessionCookie, "", -1)
	if ended != nil {
		if u := m.endSessionURL(r.Context(), *ended); u != "" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(LogoutResponse{EndSessionURL: u})
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// Forbidden reports whether err is the CSRF refusal (admin.Sessions).
func (m *Manager) Forbidden(err error) bool { return errors.Is(err, ErrCSRF) }
