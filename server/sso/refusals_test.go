package sso_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

// toCallback runs a flow in browser up to the provider's redirect to
// tokenwright's callback, which it returns unfollowed.
func (e env) toCallback(t *testing.T, browser *http.Client, u ssotest.User) *url.URL {
	t.Helper()
	loginURL, id := ssotest.LoginPage(t, browser, e.tw.URL+sso.LoginPath)
	resp, callback := ssotest.SubmitLogin(t, browser, loginURL, id, u.Username, u.Password, e.tw.URL+sso.CallbackPath)
	resp.Body.Close()
	if callback == nil {
		t.Fatal("the provider did not redirect to the callback")
	}
	return callback
}

func get(t *testing.T, browser *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func withQuery(u *url.URL, key, value string) string {
	c := *u
	q := c.Query()
	q.Set(key, value)
	c.RawQuery = q.Encode()
	return c.String()
}

// flowCookie returns the browser's sign-in flow cookie's three parts
// (state, nonce, PKCE verifier).
func flowCookie(t *testing.T, browser *http.Client, base string) []string {
	t.Helper()
	for _, c := range browser.Jar.Cookies(mustURL(t, base)) {
		if c.Name == "tokenwright_sso_flow" {
			return strings.Split(c.Value, ".")
		}
	}
	t.Fatal("no flow cookie")
	return nil
}

func setFlowCookie(t *testing.T, browser *http.Client, base string, parts []string) {
	t.Helper()
	browser.Jar.SetCookies(mustURL(t, base), []*http.Cookie{{Name: "tokenwright_sso_flow", Value: strings.Join(parts, "."), Path: "/"}})
}

// State: a callback whose state differs from the browser's flow is
// refused, the flow is used up by the attempt, and a callback in a browser
// that started no flow is refused. None of them signs anyone in.
func TestStateTamperingRefused(t *testing.T) {
	e := start(t, nil, alice)
	browser := ssotest.Browser(t)
	callback := e.toCallback(t, browser, alice)
	if status, body := get(t, browser, withQuery(callback, "state", "forged")); status != http.StatusBadRequest || !strings.Contains(body, "state") {
		t.Fatalf("forged state: %d %s", status, body)
	}
	if status, body := get(t, browser, callback.String()); status != http.StatusBadRequest || !strings.Contains(body, "no sign-in in progress") {
		t.Fatalf("the genuine callback after the flow was used up: %d %s", status, body)
	}
	if status, _ := get(t, ssotest.Browser(t), e.toCallback(t, ssotest.Browser(t), alice).String()); status != http.StatusBadRequest {
		t.Fatalf("a callback in a browser that started no flow: %d", status)
	}
	if status, _ := e.me(t, browser); status != http.StatusUnauthorized {
		t.Fatalf("users/me: %d", status)
	}
	if n := len(e.audit(t, "sso.signin")); n != 3 {
		t.Fatalf("%d sso.signin events, want the 3 refusals", n)
	}
}

// PKCE: a code injected into another browser's flow (its own state, so
// the state check passes) is exchanged with that browser's verifier, and
// the provider refuses it. Nonce: an ID token whose nonce is not the
// flow's is refused. A tampered verifier fails the exchange too.
func TestNonceAndPKCETamperingRefused(t *testing.T) {
	e := start(t, nil, alice)
	victim, attacker := ssotest.Browser(t), ssotest.Browser(t)
	stolen := e.toCallback(t, attacker, alice)
	_ = e.toCallback(t, victim, alice) // the victim's own flow, whose code is not used
	victimState := flowCookie(t, victim, e.tw.URL)[0]
	if status, body := get(t, victim, withQuery(stolen, "state", victimState)); status != http.StatusUnauthorized || !strings.Contains(body, "verification failed") {
		t.Fatalf("injected code: %d %s", status, body)
	}

	for i, what := range map[int]string{1: "nonce", 2: "PKCE verifier"} {
		browser := ssotest.Browser(t)
		callback := e.toCallback(t, browser, alice)
		parts := flowCookie(t, browser, e.tw.URL)
		parts[i] = strings.Repeat("A", len(parts[i]))
		setFlowCookie(t, browser, e.tw.URL, parts)
		if status, body := get(t, browser, callback.String()); status != http.StatusUnauthorized {
			t.Fatalf("tampered %s: %d %s", what, status, body)
		}
	}
	events := e.audit(t, "sso.signin")
	var reasons []string
	for _, ev := range events {
		reasons = append(reasons, ev.Details["error"])
	}
	if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, "nonce") }) {
		t.Errorf("no refusal names the nonce: %q", reasons)
	}
	if status, _ := e.me(t, victim); status != http.StatusUnauthorized {
		t.Fatalf("users/me: %d", status)
	}
}

// sso.issuer is compared exactly as written: the provider publishes its
// issuer with a trailing slash, so the same URL without it is a different
// issuer, and sign-in does not start.
func TestWrongIssuerRefused(t *testing.T) {
	e := start(t, func(c *config.Config) { c.SSO.Issuer = strings.TrimSuffix(c.SSO.Issuer, "/") }, alice)
	status, body := get(t, ssotest.Browser(t), e.tw.URL+sso.LoginPath)
	if status != http.StatusBadGateway || !strings.Contains(body, "discovery document is not valid") {
		t.Fatalf("issuer without the slash: %d %s", status, body)
	}
}

// Groups map to roles and the admin flag at every sign-in; a change of
// either revokes the user's personal access tokens, audited with the
// groups that caused it.
func TestGroupRolesAndPATRevocationOnChange(t *testing.T) {
	e := start(t, nil, alice)
	browser := e.signIn(t, alice)
	var pat api.KeyWithSecret
	status, data := e.call(t, browser, http.MethodPost, "/api/v1/users/me/tokens", api.CreateKey{Name: "laptop"}, nil)
	if status != http.StatusCreated {
		t.Fatalf("creating a PAT with the session: %d %s", status, data)
	}
	mustJSON(t, data, &pat)
	e.tw.WantToken(t, pat.ClientID, pat.ClientSecret) // the PAT works

	// Unchanged groups: the token survives a second sign-in.
	e.signIn(t, alice)
	if revoked := e.patRevoked(t, "alice", pat.ID); revoked {
		t.Fatal("a sign-in with unchanged groups revoked the PAT")
	}

	// A change of roles (data-science → ops) revokes it.
	e.op.SetGroups(t, alice.ID, "ops")
	browser = e.signIn(t, alice)
	status, me := e.me(t, browser)
	if status != http.StatusOK || me.Admin || !slices.Equal(me.Roles, []string{"operator"}) {
		t.Fatalf("after the role change: %d %+v", status, me)
	}
	if !e.patRevoked(t, "alice", pat.ID) {
		t.Fatal("the role change did not revoke the PAT")
	}
	ev := e.audit(t, "pat.revoke_all")
	if len(ev) != 1 || ev[0].Target != "alice" || ev[0].Details["groups"] != "ops" || ev[0].Details["source"] != "sso" || ev[0].Details["reason"] != "roles changed" {
		t.Fatalf("pat.revoke_all events %+v", ev)
	}

	// A change of the admin flag (joining tw-admins) revokes the next.
	status, data = e.call(t, browser, http.MethodPost, "/api/v1/users/me/tokens", api.CreateKey{Name: "laptop2"}, nil)
	if status != http.StatusCreated {
		t.Fatalf("creating a PAT with the session: %d %s", status, data)
	}
	mustJSON(t, data, &pat)
	e.op.SetGroups(t, alice.ID, "ops", "tw-admins")
	browser = e.signIn(t, alice)
	if status, me := e.me(t, browser); status != http.StatusOK || !me.Admin || !slices.Equal(me.Roles, []string{"operator"}) {
		t.Fatalf("after joining the admin group: %d %+v", status, me)
	}
	if !e.patRevoked(t, "alice", pat.ID) {
		t.Fatal("the promotion did not revoke the PAT")
	}
	if ev := e.audit(t, "pat.revoke_all"); len(ev) != 2 || ev[0].Details["groups"] != "ops,tw-admins" || ev[0].Details["reason"] != "promoted" {
		t.Fatalf("pat.revoke_all events %+v", ev)
	}
}

func (e env) patRevoked(t *testing.T, user, id string) bool {
	t.Helper()
	var list api.List[api.Key]
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodGet, "/api/v1/users/"+user+"/tokens", nil, &list); s != http.StatusOK {
		t.Fatalf("listing PATs: %d", s)
	}
	for _, k := range list.Items {
		if k.ID == id {
			return k.RevokedAt != nil
		}
	}
	t.Fatalf("PAT %s not listed", id)
	return false
}

// Refusals with their reason, audited, and no user created: an email
// outside allowedEmailDomains; a user name that is not a valid tokenwright
// name; an unknown user when autoCreateUsers is false.
func TestSignInRefusals(t *testing.T) {
	e := start(t, func(c *config.Config) { c.SSO.AllowedEmailDomains = []string{"example.com"} }, alice, bob, carol)
	e.refused(t, bob, http.StatusForbidden, "not in an allowed domain")
	e.refused(t, carol, http.StatusForbidden, "not a valid tokenwright user name")
	e.signIn(t, alice)
	for _, name := range []string{"bob", "carol smith"} {
		if s := e.tw.Do(t, e.tw.AdminToken, http.MethodGet, "/api/v1/users/"+url.PathEscape(name), nil, nil); s != http.StatusNotFound && s != http.StatusBadRequest {
			t.Fatalf("user %s after a refused sign-in: %d", name, s)
		}
	}
	var denied int
	for _, ev := range e.audit(t, "sso.signin") {
		if ev.Result == "denied" {
			denied++
		}
	}
	if denied != 2 {
		t.Fatalf("%d denied sso.signin events, want 2", denied)
	}

	closed := start(t, func(c *config.Config) { c.SSO.AutoCreateUsers = false }, alice)
	closed.refused(t, alice, http.StatusForbidden, "sso.autoCreateUsers is false")
}

// The admin API takes a session only with the CSRF header, and a change
// only with this server's Origin.
func TestSessionCSRFDefence(t *testing.T) {
	e := start(t, nil, alice)
	browser := e.signIn(t, alice)
	noHeader := func(r *http.Request) { r.Header.Del(sso.CSRFHeader) }
	if status, _ := e.call(t, browser, http.MethodGet, "/api/v1/users/me", nil, noHeader); status != http.StatusForbidden {
		t.Fatalf("read without the header: %d", status)
	}
	create := api.CreateKey{Name: "x"}
	for name, edit := range map[string]func(*http.Request){
		"no header":      noHeader,
		"foreign Origin": func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
		"no Origin":      func(r *http.Request) { r.Header.Del("Origin") },
		"null Origin":    func(r *http.Request) { r.Header.Set("Origin", "null") },
	} {
		if status, body := e.call(t, browser, http.MethodPost, "/api/v1/users/me/tokens", create, edit); status != http.StatusForbidden {
			t.Fatalf("%s: %d %s", name, status, body)
		}
	}
	if status, body := e.call(t, browser, http.MethodPost, sso.LogoutPath, nil, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); status != http.StatusForbidden {
		t.Fatalf("cross-site logout: %d %s", status, body)
	}
	if status, body := e.call(t, browser, http.MethodPost, "/api/v1/users/me/tokens", create, nil); status != http.StatusCreated {
		t.Fatalf("the console's own request: %d %s", status, body)
	}
}

// Deactivating a user (tokenwright user update --status inactive: the
// admin API's PATCH) ends their sessions at once, and they cannot sign in
// again.
func TestDeactivationEndsSessions(t *testing.T) {
	e := start(t, nil, alice)
	browser := e.signIn(t, alice)
	other := e.signIn(t, alice)
	inactive := "inactive"
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodPatch, "/api/v1/users/alice", api.UpdateUser{Status: &inactive}, nil); s != http.StatusOK {
		t.Fatalf("deactivate: %d", s)
	}
	for _, b := range []*http.Client{browser, other} {
		if status, _ := e.me(t, b); status != http.StatusUnauthorized {
			t.Fatalf("users/me after deactivation: %d", status)
		}
	}
	e.refused(t, alice, http.StatusForbidden, "deactivated")
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}

// Without sso: the sign-in routes do not exist, and the admin API ignores
// a session cookie (bearer tokens only, as before single sign-on).
func TestWithoutSSOSessionsAreNotAccepted(t *testing.T) {
	tw := servertest.Start(t, servertest.Options{})
	browser := ssotest.Browser(t)
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(tw.URL + sso.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("/ui/login/sso without sso: %d, cookies %q", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	req, _ := http.NewRequest(http.MethodGet, tw.URL+"/api/v1/users/me", nil)
	req.Header.Set(sso.CSRFHeader, "1")
	req.AddCookie(&http.Cookie{Name: "tokenwright_session", Value: strings.Repeat("A", 43)})
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("users/me with a session cookie and no sso: %d", resp.StatusCode)
	}
}

// A code the provider issued to another client (a second tokenwright, or
// any relying party at the same provider), delivered to this server's
// callback with this browser's own state, is not accepted: the provider
// refuses to redeem it for this client, so no ID token for another
// audience is ever verified as ours.
func TestCodeOfAnotherClientRefused(t *testing.T) {
	op := ssotest.Start(t, alice)
	environ := func(k string) string {
		if k == config.SSOClientSecretEnv {
			return op.ClientSecret
		}
		return ""
	}
	server := func(clientID string) *servertest.Server {
		return servertest.Start(t, servertest.Options{Environ: environ, Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, clientID
		}})
	}
	ours, theirs := server(op.ClientID), server(op.OtherClientID)
	op.Register(t, ours.URL+sso.CallbackPath, theirs.URL+sso.CallbackPath)
	e, other := env{op: op, tw: ours}, env{op: op, tw: theirs}

	otherCallback := other.toCallback(t, ssotest.Browser(t), alice)
	browser := ssotest.Browser(t)
	e.toCallback(t, browser, alice)
	state := flowCookie(t, browser, e.tw.URL)[0]
	forged, _ := url.Parse(e.tw.URL + sso.CallbackPath)
	forged.RawQuery = url.Values{"code": {otherCallback.Query().Get("code")}, "state": {state}}.Encode()
	if status, body := get(t, browser, forged.String()); status != http.StatusUnauthorized {
		t.Fatalf("another client's code: %d %s", status, body)
	}
	if status, _ := e.me(t, browser); status != http.StatusUnauthorized {
		t.Fatalf("users/me: %d", status)
	}
}

// The CSRF header makes a cross-origin request preflighted, and the admin
// API's CORS answers never allow credentials, even to an allowed origin:
// no other origin's page can send the session cookie with the header.
func TestCORSNeverAllowsCredentials(t *testing.T) {
	e := start(t, func(c *config.Config) { c.CORS.Origins = map[string]bool{"console.example.com": true} }, alice)
	req, _ := http.NewRequest(http.MethodOptions, e.tw.URL+"/api/v1/users/me/tokens", nil)
	req.Header.Set("Origin", "https://console.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,"+strings.ToLower(sso.CSRFHeader))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("the preflight of an allowed origin was not answered with CORS (%d %v): the test proves nothing", resp.StatusCode, resp.Header)
	}
	if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "" {
		t.Fatalf("Access-Control-Allow-Credentials: %q", v)
	}
}
