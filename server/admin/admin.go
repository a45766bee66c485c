// Package admin serves the administrative REST API under /api/v1/. Handlers
// are thin: decode, call the accounts service, encode. Every route requires a
// bearer personal access token; authorisation is the service's job.
package admin

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/ratelimit"
	"github.com/tokenwright/tokenwright/server/reqctx"
	"github.com/tokenwright/tokenwright/store"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// maxBody bounds every request body of the admin API.
const maxBody = 64 << 10

// API is the admin REST API.
type API struct {
	accounts *accounts.Service
	log      zerolog.Logger
	signing  SigningKeys // nil: the signing-key routes answer 404
	domino   DominoSettings
	snapshot Snapshotter // backup.go; nil: backups unavailable
	sessions Sessions    // nil: bearer tokens only (single sign-on off)
	// fromConsole, when set (console.patSignIn: false), marks requests
	// sent by the console's pages; a bearer token on one is refused.
	fromConsole func(*http.Request) bool
}

// Sessions authenticates console sessions (server/sso). ok is false when
// the request carries no session cookie; err is a refusal (cross-site:
// Forbidden, 403; an ended session: 401) or a store outage (503).
type Sessions interface {
	Authenticate(r *http.Request) (actor accounts.Actor, ok bool, err error)
	// Forbidden reports whether err refuses the request as a cross-site
	// one (403) rather than as unauthenticated (401).
	Forbidden(err error) bool
	// AuthenticateBearer resolves a CLI session credential (a bearer
	// token starting with apikey.SessionPrefix); err as for Authenticate.
	AuthenticateBearer(r *http.Request, token string) (accounts.Actor, error)
}

// WithSessions makes the API accept console sessions besides bearer
// tokens (a bearer token, when sent, is used and the session ignored).
func (a *API) WithSessions(s Sessions) *API {
	a.sessions = s
	return a
}

// New returns the API.
func New(a *accounts.Service, log zerolog.Logger) *API {
	return &API{accounts: a, log: log}
}

// OpenAPI is the API's OpenAPI 3 description; tests hold it to the routes.
//
//go:embed openapi.yaml
var OpenAPI []byte

type actorKey struct{}

func actorFrom(ctx context.Context) accounts.Actor {
	actor, _ := ctx.Value(actorKey{}).(accounts.Actor)
	return actor
}

// authenticate resolves the bearer token to an actor.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if ok && a.sessions != nil && strings.HasPrefix(token, apikey.SessionPrefix) {
			actor, err := a.sessions.AuthenticateBearer(r, token)
			a.serveSession(w, r, next, actor, err)
			return
		}
		if !ok && a.sessions != nil {
			if actor, ok, err := a.sessions.Authenticate(r); ok {
				a.serveSession(w, r, next, actor, err)
				return
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwright"`)
			writeError(w, http.StatusUnauthorized, api.CodeUnauthenticated, "a bearer personal access token is required")
			return
		}
		if a.fromConsole != nil && a.fromConsole(r) {
			writeError(w, http.StatusForbidden, api.CodeForbidden, ErrConsoleBearer.Error())
			return
		}
		ip := ""
		if addr := reqctx.ClientIP(r.Context()); addr.IsValid() {
			ip = addr.String()
		}
		actor, err := a.accounts.AuthenticateBearer(r.Context(), token, ip)
		if errors.Is(err, store.ErrUnavailable) {
			writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, store.UnavailableReason(err))
			return
		}
		if err != nil {
			// The reason is for the log only (the log sink redacts a
			// credential sent as something else).
			reqctx.Correlate(r.Context(), a.log.Info()).Str("reason", string(accounts.ReasonOf(err))).Str("ip", ip).Msg("admin authentication failed")
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwright", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, api.CodeUnauthenticated, "the bearer token is invalid, expired or revoked")
			return
		}
		reqctx.SetActor(r.Context(), reqctx.Actor{Name: actor.Name(), KeyID: actor.KeyID})
		// Only now, with the token verified, may the rate limiter check
		// (and charge) this key's own budget: forged tokens naming the key
		// id cannot spend it.
		if errors.Is(reqctx.Authenticated(r.Context(), actor.KeyID), reqctx.ErrThrottled) {
			writeError(w, http.StatusTooManyRequests, api.CodeRateLimited, ratelimit.RefusalMessage)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

// serveSession serves a request authenticated by a console session (or
// answers its refusal).
func (a *API) serveSession(w http.ResponseWriter, r *http.Request, next http.Handler, actor accounts.Actor, err error) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, store.UnavailableReason(err))
		return
	case err != nil && a.sessions.Forbidden(err):
		writeError(w, http.StatusForbidden, api.CodeForbidden, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusUnauthorized, api.CodeUnauthenticated, err.Error())
		return
	}
	reqctx.SetActor(r.Context(), reqctx.Actor{Name: actor.Name()})
	// The session's own budget is the user's: "session:" keeps it apart
	// from key ids.
	if errors.Is(reqctx.Authenticated(r.Context(), "session:"+actor.Name()), reqctx.ErrThrottled) {
		writeError(w, http.StatusTooManyRequests, api.CodeRateLimited, ratelimit.RefusalMessage)
		return
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// handlerFunc returns the status and body of a success, or an error that
// handle maps to the API error format.
type handlerFunc func(r *http.Request, actor accounts.Actor) (int, any, error)

func (a *API) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(r, actorFrom(r.Context()))
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		writeJSON(w, status, body)
	})
}

func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var verr *accounts.ValidationError
	var derr *decodeError
	var cerr *accounts.ConflictError
	switch {
	case errors.As(err, &derr):
		writeError(w, derr.status, derr.code, derr.msg)
	case errors.As(err, &verr):
		writeError(w, http.StatusBadRequest, api.CodeInvalidRequest, verr.Error())
	case errors.Is(err, store.ErrInvalidArgument):
		writeError(w, http.StatusBadRequest, api.CodeInvalidRequest, err.Error())
	case errors.Is(err, accounts.ErrForbidden):
		writeError(w, http.StatusForbidden, api.CodeForbidden, "you are not allowed to do this")
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, api.CodeNotFound, "not found")
	case errors.Is(err, store.ErrAlreadyExists):
		writeError(w, http.StatusConflict, api.CodeAlreadyExists, "the name is already taken")
	case errors.As(err, &cerr):
		writeError(w, http.StatusConflict, api.CodeConflict, cerr.Error())
	case errors.Is(err, store.ErrConflict):
		// The store's one conflict (store.ErrConflict): an email taken.
		writeError(w, http.StatusConflict, api.CodeConflict, "the email address is already used by another account or user")
	case errors.Is(err, accounts.ErrQuota):
		writeError(w, http.StatusConflict, api.CodeConflict, err.Error())
	case errors.Is(err, accounts.ErrKeyState):
		writeError(w, http.StatusConflict, api.CodeConflict, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		a.log.Error().Err(err).Str("path", r.URL.Path).Msg("admin API: store unavailable")
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, store.UnavailableReason(err))
	case errors.Is(err, context.Canceled):
		// The client went away; nothing useful can be written.
	default:
		a.log.Error().Err(err).Str("path", r.URL.Path).Msg("admin API error")
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "internal error")
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if body != nil && status != http.StatusNoContent {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// writeError answers with an error. Messages may quote the request (a
// rejected name, email or JSON problem); a credential quoted there is
// redacted, so that proxies and clients that log error bodies keep none.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.Error{Code: code, Message: apikey.Redact(msg)})
}

// decodeError is a client mistake in the request body.
type decodeError struct {
	status    int
	code, msg string
}

func (e *decodeError) Error() string { return e.msg }

// decode reads a JSON body strictly: JSON content type, bounded size, no
// unknown fields, exactly one value.
func decode(r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &decodeError{http.StatusUnsupportedMediaType, api.CodeUnsupportedType, "the body must be application/json"}
	}
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &decodeError{http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("the body must be at most %d bytes", maxBody)}
		}
		return &decodeError{http.StatusBadRequest, api.CodeInvalidRequest, "malformed JSON body: " + jsonProblem(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &decodeError{http.StatusBadRequest, api.CodeInvalidRequest, "the body must hold exactly one JSON object"}
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be of type %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "invalid JSON"
}
