// Package sso signs people in to the console through one OpenID Connect
// provider (the `sso:` configuration) and keeps their sessions.
//
// The flow is the authorization code flow with PKCE (S256), state and
// nonce, through zitadel/oidc's rp package: GET /ui/login/sso starts it,
// GET /ui/callback finishes it. The flow's secrets (state, nonce, PKCE
// verifier) live in a short-lived HttpOnly cookie of this origin; the
// callback compares state, sends the verifier with the code, and the ID
// token's verifier (issuer exactly as configured, audience, signature,
// expiry, nonce) runs in rp. Claims the ID token lacks are taken from the
// userinfo endpoint, whose sub must match the ID token's.
//
// A verified sign-in becomes a user through accounts.SignIn (just-in-time
// creation, refresh of email, admin flag and roles, revocation of the
// user's PATs when those change) and a server-side session
// (store.Session): the cookie holds 256 random bits, the store only their
// SHA-256. The admin API accepts the session (Authenticate) with a CSRF
// defence: a required custom header and a same-origin Origin
// (docs/console.md has the threat model).
//
// Around that: tokenwright authenticates to the provider with a client
// secret or private_key_jwt (clientauth.go); sign-out also ends the
// provider's session where it offers RP-initiated logout (logout.go); a
// flow started with ?check=1 reports what a sign-in would do and changes
// nothing (check.go, for `tokenwright sso check --sign-in`); expired
// sessions are pruned in the background (prune.go).
package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/reqctx"
	"github.com/tokenwright/tokenwright/store"
)

// The console's sign-in routes.
const (
	LoginPath    = "/ui/login/sso"
	CallbackPath = "/ui/callback"
	LogoutPath   = "/ui/logout"
	// landing is where a signed-in person is sent.
	landing = "/ui/"
)

// CSRFHeader must be sent, with the value "1", by every request to the
// admin API that authenticates with the session cookie (the console's
// fetches do). A cross-site page cannot send it without a CORS preflight,
// which the admin API's CORS policy never grants with credentials.
const CSRFHeader = "X-Tokenwright-Csrf"

// flowMaxAge bounds the time between /ui/login/sso and /ui/callback.
const flowMaxAge = 10 * time.Minute

// touchEvery: a session's LastSeenAt is written at most this often (the
// idle timeout is enforced to within it), not on every request.
const touchEvery = time.Minute

// Options configure New.
type Options struct {
	SSO     config.SSO
	Console config.Console
	// PublicURL is tokenwright's issuer: the redirect URI is
	// PublicURL + CallbackPath, and Origin headers are compared with it.
	PublicURL string
	// Client authenticates tokenwright at the provider's token endpoint
	// (LoadClientAuth).
	Client   ClientAuth
	Store    store.Store
	Accounts *accounts.Service
	Log      zerolog.Logger
	Now      func() time.Time
	// HTTPClient reaches the provider (default: 10s timeout).
	HTTPClient *http.Client
}

// Manager serves the sign-in routes and authenticates sessions.
type Manager struct {
	opts   Options
	origin string
	secure bool
	// cookie names: __Host- prefixed over https (bound to this host,
	// path /, Secure: a sibling subdomain cannot plant them).
	sessionCookie, flowCookie string

	mu sync.Mutex
	rp rp.RelyingParty // discovered at first use (a provider outage does not stop the server)
}

// New returns the Manager.
func New(opts Options) (*Manager, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("sso: public URL %q", opts.PublicURL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	m := &Manager{opts: opts, origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https"}
	m.sessionCookie, m.flowCookie = "tokenwright_session", "tokenwright_sso_flow"
	if m.secure {
		m.sessionCookie, m.flowCookie = "__Host-"+m.sessionCookie, "__Host-"+m.flowCookie
	}
	return m, nil
}

// SessionCookie is the name of the session cookie.
func (m *Manager) SessionCookie() string { return m.sessionCookie }

// RedirectURI is the URI to register at the provider.
func (m *Manager) RedirectURI() string {
	return strings.TrimSuffix(m.opts.PublicURL, "/") + CallbackPath
}

type nonceKey struct{}

// relyingParty discovers the provider on first use; a failure is not
// kept, so the next sign-in tries again.
func (m *Manager) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rp != nil {
		return m.rp, nil
	}
	c := m.opts.SSO
	// rp builds the discovery URL without doubling a trailing slash and
	// refuses a document whose issuer differs from c.Issuer as written.
	opts := []rp.Option{rp.WithHTTPClient(m.opts.HTTPClient),
		rp.WithVerifierOpts(rp.WithNonce(func(ctx context.Context) string { n, _ := ctx.Value(nonceKey{}).(string); return n }))}
	if m.opts.Client.Key != nil {
		// private_key_jwt: client_id in the body beside the assertion, no
		// Basic header (one authentication method per request).
		opts = append(opts, rp.WithAuthStyle(oauth2.AuthStyleInParams))
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, c.Issuer, c.ClientID, m.opts.Client.Secret, m.RedirectURI(), c.Scopes, opts...)
	if err != nil {
		return nil, fmt.Errorf("discovering the provider %s: %w", c.Issuer, err)
	}
	m.rp = party
	return party, nil
}

func random256() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS is broken; nothing safe to do
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSessionSecret is the stored id of the session whose cookie holds secret.
func HashSessionSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func (m *Manager) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: m.secure, SameSite: http.SameSiteLaxMode})
}

// Login starts the flow: a fresh state, nonce and PKCE verifier in the
// flow cookie, and a redirect to the provider.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cli, cliErr := parseCLIFlow(q.Get(CLIPortParam), q.Get(CLIChallengeParam), q.Get(CLIStateParam))
	if cliErr != nil && !errors.Is(cliErr, errNotCLI) {
		refusePage(w, http.StatusBadRequest, cliErr.Error())
		return
	}
	party, err := m.relyingParty(r.Context())
	if err != nil {
		m.opts.Log.Error().Err(err).Msg("single sign-on: the provider cannot be used")
		refusePage(w, http.StatusBadGateway, "the identity provider cannot be reached or its discovery document is not valid; try again later")
		return
	}
	state, nonce, verifier := random256(), random256(), random256()
	flow := state + "." + nonce + "." + verifier
	switch {
	case r.URL.Query().Get("check") == "1":
		flow += "." + checkMode // the callback reports instead of signing in (check.go)
	case cliErr == nil:
		flow += "." + cli.cookieParts() // cli.go
	}
	m.setCookie(w, m.flowCookie, flow, int(flowMaxAge/time.Second))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rp.AuthURL(state, party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier)),
		rp.AuthURLOpt(rp.WithURLParam("nonce", nonce))), http.StatusFound)
}

func sourceIP(r *http.Request) string {
	if addr := reqctx.ClientIP(r.Context()); addr.IsValid() {
		return addr.String()
	}
	return ""
}

// audit records a sign-in event that changes nothing (a refusal, a
// sign-out's failure), best-effort.
func (m *Manager) audit(ctx context.Context, actor, action, result, ip string, details map[string]string) {
	ev := store.AuditEvent{Time: m.opts.Now().UTC(), Actor: actor, Action: action, Target: actor, SourceIP: ip, Result: result, Details: details}
	if _, err := m.opts.Store.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		m.opts.Log.Error().Err(err).Str("action", action).Msg("writing audit event failed")
	}
}

// refuse answers a refused callback and audits it (action sso.signin,
// denied, with the reason).
func (m *Manager) refuse(w http.ResponseWriter, r *http.Request, status int, actor, reason string, cause error) {
	details := map[string]string{"reason": reason}
	if cause != nil {
		details["error"] = cause.Error()
	}
	if actor == "" {
		actor = "anonymous"
	}
	m.audit(r.Context(), actor, "sso.signin", store.ResultDenied, sourceIP(r), details)
	refusePage(w, status, reason)
}

// Callback finishes the flow and signs the person in.
func (m *Manager) Callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	flow, err := r.Cookie(m.flowCookie)
	m.setCookie(w, m.flowCookie, "", -1) // one use
	if err != nil {
		m.refuse(w, r, http.StatusBadRequest, "", "no sign-in in progress in this browser (or it took longer than 10 minutes); start again", nil)
		return
	}
	parts := strings.Split(flow.Value, ".")
	q := r.URL.Query()
	check := len(parts) == 4 && parts[3] == checkMode
	if len(parts) != 3 && len(parts) != 6 && !check || subtle.ConstantTimeCompare([]byte(parts[0]), []byte(q.Get("state"))) != 1 {
		m.refuse(w, r, http.StatusBadRequest, "", "the state parameter does not match this browser's sign-in", nil)
		return
	}
	nonce, verifier := parts[1], parts[2]
	var cli *cliFlow
	if len(parts) == 6 { // a sign-in of the CLI (cli.go)
		f, err := parseCLIFlow(parts[3], parts[4], parts[5])
		if err != nil {
			m.refuse(w, r, http.StatusBadRequest, "", "the CLI's sign-in parameters are not valid: "+err.Error(), nil)
			return
		}
		cli = &f
	}
	if e := q.Get("error"); e != "" {
		m.refuse(w, r, http.StatusForbidden, "", "the identity provider refused: "+e+" "+q.Get("error_description"), nil)
		return
	}
	party, err := m.relyingParty(ctx)
	if err != nil {
		refusePage(w, http.StatusBadGateway, "the identity provider cannot be reached; try again later")
		return
	}
	exchange := []rp.CodeExchangeOpt{rp.WithCodeVerifier(verifier)}
	if m.opts.Client.Key != nil {
		assertion, err := m.opts.Client.Assertion(m.opts.SSO.ClientID, party.Issuer(), party.OAuthConfig().Endpoint.TokenURL, m.opts.Now())
		if err != nil {
			m.opts.Log.Error().Err(err).Msg("single sign-on: signing the client assertion failed")
			refusePage(w, http.StatusInternalServerError, "the client assertion could not be signed")
			return
		}
		exchange = append(exchange, rp.WithClientAssertionJWT(assertion))
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](context.WithValue(ctx, nonceKey{}, nonce), q.Get("code"), party, exchange...)
	if err != nil {
		m.refuse(w, r, http.StatusUnauthorized, "", "the code exchange or the ID token's verification failed", err)
		return
	}
	claims, err := m.mergedClaims(ctx, party, tokens)
	if err != nil {
		m.refuse(w, r, http.StatusUnauthorized, "", "the provider's userinfo could not be used", err)
		return
	}
	if check {
		m.checkReport(w, r, tokens.IDTokenClaims, claims)
		return
	}
	id, reason := m.identity(tokens.IDTokenClaims, claims)
	id.IP = sourceIP(r)
	if reason != "" {
		m.refuse(w, r, http.StatusForbidden, id.Name, reason, nil)
		return
	}
	u, err := m.opts.Accounts.SignIn(ctx, id)
	if refusal := (*accounts.SignInRefusal)(nil); errors.As(err, &refusal) {
		refusePage(w, http.StatusForbidden, refusal.Reason) // audited by SignIn
		return
	}
	if err != nil {
		m.opts.Log.Error().Err(err).Str("user", id.Name).Msg("single sign-on: applying the sign-in failed")
		refusePage(w, http.StatusServiceUnavailable, "the sign-in could not be recorded; try again")
		return
	}
	if cli != nil {
		m.handOverToCLI(w, r, u, id, *cli)
		return
	}
	secret := random256()
	now := m.opts.Now().UTC()
	se := store.Session{ID: HashSessionSecret(secret), User: u.Name, Subject: id.Subject, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(m.opts.Console.SessionMaxAge.Std()), IdleTimeout: m.opts.Console.SessionIdleTimeout.Std(), SourceIP: id.IP,
		Kind: store.SessionConsole, IDToken: tokens.IDToken}
	ev := store.AuditEvent{Time: now, Actor: u.Name, Action: "sso.signin", Target: u.Name, SourceIP: id.IP, Result: store.ResultSuccess,
		Details: map[string]string{"groups": strings.Join(id.Groups, ","), "subject": id.Subject}}
	if err := m.opts.Store.CreateSession(store.WithAudit(ctx, ev, nil), se); err != nil {
		m.opts.Log.Error().Err(err).Str("user", u.Name).Msg("single sign-on: storing the session failed")
		refusePage(w, http.StatusServiceUnavailable, "the session could not be stored; try again")
		return
	}
	m.setCookie(w, m.sessionCookie, secret, int(m.opts.Console.SessionMaxAge.Std()/time.Second))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, landing, http.StatusSeeOther)
}

// claimSet is a userinfo answer as a plain claim map.
type claimSet map[string]any

func (c claimSet) GetSubject() string { s, _ := c["sub"].(string); return s }

// mergedClaims are the ID token's claims, completed from the userinfo
// endpoint when the ID token lacks the username, email or groups claim
// (many providers put them only there); the ID token's own claims win,
// and rp.Userinfo refuses an answer whose sub differs from the ID token's.
func (m *Manager) mergedClaims(ctx context.Context, party rp.RelyingParty, tokens *oidc.Tokens[*oidc.IDTokenClaims]) (map[string]any, error) {
	merged := map[string]any{}
	for k, v := range tokens.IDTokenClaims.Claims {
		merged[k] = v
	}
	c := m.opts.SSO
	complete := merged[c.UsernameClaim] != nil && merged[c.EmailClaim] != nil && merged[c.GroupsClaim] != nil
	if complete || party.UserinfoEndpoint() == "" || tokens.Token == nil || tokens.AccessToken == "" {
		return merged, nil
	}
	info, err := rp.Userinfo[claimSet](ctx, tokens.AccessToken, tokens.TokenType, tokens.IDTokenClaims.GetSubject(), party)
	if err != nil {
		return nil, err
	}
	for k, v := range info {
		if _, ok := merged[k]; !ok {
			merged[k] = v
		}
	}
	return merged, nil
}

// identity maps the claims to a provider identity, or says why the
// sign-in is refused.
func (m *Manager) identity(idt *oidc.IDTokenClaims, claims map[string]any) (accounts.ProviderIdentity, string) {
	c := m.opts.SSO
	id := accounts.ProviderIdentity{Issuer: idt.Issuer, Subject: idt.Subject, AutoCreate: c.AutoCreateUsers,
		ManagesAdmin: len(c.AdminGroups) > 0, ManagesRoles: len(c.Roles) > 0}
	claim := stringClaim(claims, c.UsernameClaim)
	id.Name = UserName(claim)
	id.Email = strings.ToLower(stringClaim(claims, c.EmailClaim))
	id.Groups = stringsClaim(claims, c.GroupsClaim)
	if id.Name == "" {
		return id, "the provider's ID token and userinfo have no " + c.UsernameClaim + " claim (sso.usernameClaim)"
	}
	if c.UsernameDomain != "" {
		local, ok := CutUsernameDomain(id.Name, c.UsernameDomain)
		if !ok {
			return id, fmt.Sprintf("the %s claim %q is not an address in %s (sso.usernameDomain)", c.UsernameClaim, claim, c.UsernameDomain)
		}
		id.Name = local
	}
	if len(c.AllowedEmailDomains) > 0 {
		_, domain, _ := strings.Cut(id.Email, "@")
		if id.Email == "" || !slices.ContainsFunc(c.AllowedEmailDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return id, "the email address " + fmt.Sprintf("%q", id.Email) + " is not in an allowed domain (sso.allowedEmailDomains)"
		}
		if v, ok := claims["email_verified"].(bool); ok && !v {
			return id, "the provider says the email address is not verified"
		}
	}
	for _, g := range id.Groups {
		if slices.Contains(c.AdminGroups, g) {
			id.Admin = true
		}
		if role, ok := c.Roles[g]; ok && !slices.Contains(id.Roles, role) {
			id.Roles = append(id.Roles, role)
		}
	}
	slices.Sort(id.Roles)
	return id, ""
}

// UserName maps the username claim to a tokenwright user name: trimmed
// and lowercased (providers keep the case people typed), nothing more. A
// result that is not a valid user name (an "@", a space, over 63
// characters) is refused by accounts.SignIn with the rule in its message;
// pick a usernameClaim whose values fit (docs/console.md).
func UserName(claim string) string { return strings.ToLower(strings.TrimSpace(claim)) }

// CutUsernameDomain returns name without "@"+domain (compared
// case-insensitively; name is already lowercased), and false when name is
// not an address in exactly that domain. Cutting only the one configured
// domain keeps the mapping one-to-one: alice@example.com and
// alice@example.org can never both become "alice".
func CutUsernameDomain(name, domain string) (string, bool) {
	local, ok := strings.CutSuffix(name, "@"+strings.ToLower(domain))
	if !ok || local == "" || strings.Contains(local, "@") {
		return "", false
	}
	return local, true
}

func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

func stringsClaim(claims map[string]any, name string) []string {
	switch v := claims[name].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
