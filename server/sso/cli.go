package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// The CLI's sign-in (`tokenwright login`) is the console's sign-in with a
// different ending, in the manner of RFC 8252 (OAuth for native apps):
//
//  1. The CLI listens on 127.0.0.1:PORT, makes a PKCE verifier, its S256
//     challenge and a state, and opens the browser at
//     LoginPath?cli_port=PORT&cli_challenge=C&cli_state=S. Those ride in
//     the flow cookie beside the provider flow's own secrets.
//  2. The provider's flow runs as for the console (the provider client is
//     confidential: only the server holds its secret). After
//     accounts.SignIn, instead of a console session, the callback stores a
//     one-time code (a store.Session of kind SessionCLICode, 60 s, bound to
//     C; only its hash stored, so any replica can redeem it) and redirects
//     the browser to http://127.0.0.1:PORT/callback?code=…&state=S. Only
//     that host is ever a target: the CLI chooses a port number, nothing
//     else.
//  3. The CLI posts the code and the verifier to CLISessionPath and gets a
//     CLI session credential (apikey.SessionPrefix + 256 random bits; a
//     store.Session of kind SessionCLI with the console's lifetimes) that
//     the admin API accepts as a bearer token. The code is consumed by the
//     first attempt, whatever its outcome.
//
// A session of one kind is never accepted as another: a console cookie is
// no bearer credential, a CLI credential no cookie, a code neither.

// CLISessionPath: POST exchanges a code for a CLI session credential;
// DELETE, with the credential as bearer token, ends it.
const CLISessionPath = "/ui/cli/session"

// The query parameters of LoginPath that make a sign-in the CLI's.
const (
	CLIPortParam      = "cli_port"
	CLIChallengeParam = "cli_challenge"
	CLIStateParam     = "cli_state"
)

// cliCodeMaxAge bounds the time between the loopback redirect and the
// CLI's exchange (the CLI makes it at once).
const cliCodeMaxAge = 60 * time.Second

// CLICallbackPath is the path of the CLI's loopback listener.
const CLICallbackPath = "/callback"

var (
	// An S256 challenge is the base64url of a SHA-256: 43 characters.
	challengeShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// RFC 7636's verifier alphabet and lengths.
	verifierShape = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	// The CLI's state: base64url (no "." so it fits the flow cookie).
	stateShape = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
)

// cliFlow is a sign-in started by the CLI.
type cliFlow struct {
	port             int
	challenge, state string
}

// errNotCLI: the sign-in request has none of the CLI parameters.
var errNotCLI = errors.New("not a CLI sign-in")

// parseCLIFlow reads the CLI's parameters. The loopback target is only
// ever http://127.0.0.1:port: the port must be a decimal number from 1 to
// 65535 (no host, no sign, no other characters), so no parameter can name
// another host.
func parseCLIFlow(port, challenge, state string) (cliFlow, error) {
	if port == "" && challenge == "" && state == "" {
		return cliFlow{}, errNotCLI
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || strings.TrimLeft(port, "0") != port {
		return cliFlow{}, fmt.Errorf("%s must be the port number (1 to 65535) of the CLI's listener on 127.0.0.1", CLIPortParam)
	}
	if !challengeShape.MatchString(challenge) {
		return cliFlow{}, fmt.Errorf("%s must be a PKCE S256 code challenge (43 base64url characters)", CLIChallengeParam)
	}
	if !stateShape.MatchString(state) {
		return cliFlow{}, fmt.Errorf("%s must be 16 to 128 base64url characters", CLIStateParam)
	}
	return cliFlow{port: int(p), challenge: challenge, state: state}, nil
}

// cookieParts are the flow cookie's CLI parts (after state.nonce.verifier).
func (f cliFlow) cookieParts() string {
	return strconv.Itoa(f.port) + "." + f.challenge + "." + f.state
}

// loopback is where the browser hands the code to the CLI.
func (f cliFlow) loopback(code string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s?%s", f.port, CLICallbackPath, url.Values{"code": {code}, "state": {f.state}}.Encode())
}

// handOverToCLI ends a CLI sign-in at the callback: a one-time code bound
// to the CLI's challenge, and a redirect to its loopback listener.
func (m *Manager) handOverToCLI(w http.ResponseWriter, r *http.Request, u store.User, id accounts.ProviderIdentity, f cliFlow) {
	code := random256()
	now := m.opts.Now().UTC()
	se := store.Session{ID: HashSessionSecret(code), User: u.Name, Subject: id.Subject, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(cliCodeMaxAge), SourceIP: id.IP, Kind: store.SessionCLICode, Challenge: f.challenge}
	ev := store.AuditEvent{Time: now, Actor: u.Name, Action: "sso.signin", Target: u.Name, SourceIP: id.IP, Result: store.ResultSuccess,
		Details: map[string]string{"groups": strings.Join(id.Groups, ","), "subject": id.Subject, "client": "cli"}}
	if err := m.opts.Store.CreateSession(store.WithAudit(r.Context(), ev, nil), se); err != nil {
		m.opts.Log.Error().Err(err).Str("user", u.Name).Msg("single sign-on: storing the CLI's sign-in code failed")
		refusePage(w, http.StatusServiceUnavailable, "the sign-in could not be stored; try again")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, f.loopback(code), http.StatusSeeOther)
}

// CLISessionResponse is the answer to a successful exchange.
type CLISessionResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"tokenType"` // "Bearer"
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expiresAt"`
	// IdleTimeoutSeconds: the session also ends when unused this long.
	IdleTimeoutSeconds int64 `json:"idleTimeoutSeconds"`
}

// cliExchange is the exchange's request body.
type cliExchange struct {
	Code         string `json:"code"`
	CodeVerifier string `json:"codeVerifier"`
	// DeviceCode: a poll of the device flow instead (clidevice.go).
	DeviceCode string `json:"deviceCode"`
}

// cliError is an OAuth-style error body (RFC 6749 section 5.2).
type cliError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeCLIJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// CLISession serves CLISessionPath: POST exchanges, DELETE ends.
func (m *Manager) CLISession(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		m.exchangeCLICode(w, r)
	case http.MethodDelete:
		m.endCLISession(w, r)
	default:
		w.Header().Set("Allow", "POST, DELETE")
		writeCLIJSON(w, http.StatusMethodNotAllowed, cliError{Error: "invalid_request", Description: "use POST or DELETE"})
	}
}

// exchangeCLICode redeems a code for a CLI session. The code is deleted
// before anything is checked: one use, whatever the outcome, so a code
// seen by someone without the verifier is burnt by their first try.
func (m *Manager) exchangeCLICode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in cliExchange
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeCLIJSON(w, http.StatusUnsupportedMediaType, cliError{Error: "invalid_request", Description: "the body must be application/json"})
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(&in)
	if err == nil && in.DeviceCode != "" && in.Code == "" && in.CodeVerifier == "" && len(in.DeviceCode) <= 512 {
		m.redeemDevice(w, r, in.DeviceCode)
		return
	}
	if err != nil || in.Code == "" || !verifierShape.MatchString(in.CodeVerifier) {
		writeCLIJSON(w, http.StatusBadRequest, cliError{Error: "invalid_request",
			Description: `the body must be {"code": "...", "codeVerifier": "..."} with an RFC 7636 verifier, or {"deviceCode": "..."}`})
		return
	}
	id := HashSessionSecret(in.Code)
	se, err := m.opts.Store.GetSession(ctx, id)
	if err == nil && se.Kind == store.SessionCLICode {
		err = m.opts.Store.DeleteSession(store.WithoutAudit(ctx), id)
	} else if err == nil {
		err = store.ErrNotFound // a session of another kind is no code
	}
	ip := sourceIP(r)
	switch {
	case errors.Is(err, store.ErrNotFound):
		m.refuseCLI(ctx, w, "anonymous", ip, "the code is unknown or already used")
		return
	case err != nil:
		m.opts.Log.Error().Err(err).Msg("single sign-on: reading a CLI sign-in code failed")
		writeCLIJSON(w, http.StatusServiceUnavailable, cliError{Error: "temporarily_unavailable", Description: "try again"})
		return
	}
	now := m.opts.Now()
	if se.Expired(now) {
		m.refuseCLI(ctx, w, se.User, ip, "the code has expired (it is valid for 60 seconds)")
		return
	}
	if subtle.ConstantTimeCompare([]byte(oidc.NewSHACodeChallenge(in.CodeVerifier)), []byte(se.Challenge)) != 1 {
		m.refuseCLI(ctx, w, se.User, ip, "the code verifier does not match the code's challenge")
		return
	}
	m.issueCLISession(ctx, w, se, ip)
}

// issueCLISession answers a CLI session for the user (and provider
// subject) of signedIn.
func (m *Manager) issueCLISession(ctx context.Context, w http.ResponseWriter, signedIn store.Session, ip string) {
	now := m.opts.Now().UTC()
	secret := apikey.SessionPrefix + random256()
	cs := store.Session{ID: HashSessionSecret(secret), User: signedIn.User, Subject: signedIn.Subject, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(m.opts.Console.SessionMaxAge.Std()), IdleTimeout: m.opts.Console.SessionIdleTimeout.Std(),
		SourceIP: ip, Kind: store.SessionCLI}
	ev := store.AuditEvent{Time: now, Actor: cs.User, Action: "session.create", Target: cs.User, SourceIP: ip,
		Result: store.ResultSuccess, Details: map[string]string{"kind": string(store.SessionCLI)}}
	err := m.opts.Store.CreateSession(store.WithAudit(ctx, ev, nil), cs)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		m.refuseCLI(ctx, w, cs.User, ip, "the user was deactivated or deleted")
		return
	}
	if err != nil {
		m.opts.Log.Error().Err(err).Str("user", cs.User).Msg("single sign-on: storing a CLI session failed")
		writeCLIJSON(w, http.StatusServiceUnavailable, cliError{Error: "temporarily_unavailable", Description: "the session could not be stored; sign in again"})
		return
	}
	writeCLIJSON(w, http.StatusOK, CLISessionResponse{Token: secret, TokenType: "Bearer", User: cs.User, ExpiresAt: cs.ExpiresAt,
		IdleTimeoutSeconds: int64(cs.IdleTimeout / time.Second)})
}

// refuseCLI answers a refused exchange (invalid_grant) and audits it.
func (m *Manager) refuseCLI(ctx context.Context, w http.ResponseWriter, actor, ip, reason string) {
	m.audit(ctx, actor, "sso.signin", store.ResultDenied, ip, map[string]string{"reason": reason, "client": "cli"})
	writeCLIJSON(w, http.StatusBadRequest, cliError{Error: "invalid_grant", Description: reason})
}

// cliBearer is the request's CLI session credential, if it sends one.
func cliBearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, apikey.SessionPrefix) {
		return "", false
	}
	return token, true
}

// endCLISession ends the bearer's CLI session (`tokenwright logout`). It
// answers 204 whether or not the session was live, so that signing out
// twice is not an error.
func (m *Manager) endCLISession(w http.ResponseWriter, r *http.Request) {
	token, ok := cliBearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwright"`)
		writeCLIJSON(w, http.StatusUnauthorized, cliError{Error: "invalid_request", Description: "send the CLI session credential as the bearer token"})
		return
	}
	id := HashSessionSecret(token)
	se, err := m.opts.Store.GetSession(r.Context(), id)
	if err == nil && se.Kind == store.SessionCLI {
		ev := store.AuditEvent{Time: m.opts.Now().UTC(), Actor: se.User, Action: "sso.signout", Target: se.User,
			SourceIP: sourceIP(r), Result: store.ResultSuccess, Details: map[string]string{"client": "cli"}}
		err = m.opts.Store.DeleteSession(store.WithAudit(r.Context(), ev, nil), id)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.opts.Log.Error().Err(err).Msg("ending a CLI session failed")
		writeCLIJSON(w, http.StatusServiceUnavailable, cliError{Error: "temporarily_unavailable", Description: "the session could not be ended; try again"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// AuthenticateBearer resolves a CLI session credential (a bearer token
// with apikey.SessionPrefix) to an actor (admin.Sessions). No CSRF
// defence applies: a browser never sends a bearer token on its own.
func (m *Manager) AuthenticateBearer(r *http.Request, token string) (accounts.Actor, error) {
	se, u, err := m.live(r.Context(), token, store.SessionCLI)
	if err != nil {
		return accounts.Actor{}, err
	}
	return m.actor(r, se, u)
}
