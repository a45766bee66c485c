package sso_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ssotest.Cleanup()
	os.Exit(code)
}

// The people at the test provider.
var (
	alice = ssotest.User{ID: "id-alice", Username: "Alice", Password: "pw-alice", Email: "alice@example.com", EmailVerified: true,
		Groups: []string{"data-science"}}
	bob = ssotest.User{ID: "id-bob", Username: "bob", Password: "pw-bob", Email: "bob@other.org", EmailVerified: true}
	// carol's username is not a valid tokenwright user name.
	carol = ssotest.User{ID: "id-carol", Username: "Carol Smith", Password: "pw-carol", Email: "carol@example.com", EmailVerified: true}
)

type env struct {
	op *ssotest.Provider
	tw *servertest.Server
}

// start runs the example OP and a tokenwright server signing in through
// it (admin group tw-admins; roles data-science→analyst, ops→operator).
func start(t *testing.T, edit func(*config.Config), users ...ssotest.User) env {
	t.Helper()
	op := ssotest.Start(t, users...)
	tw := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
			c.SSO.AdminGroups = []string{"tw-admins"}
			c.SSO.Roles = map[string]string{"data-science": "analyst", "ops": "operator"}
			if edit != nil {
				edit(c)
			}
		},
		Environ: op.Environ,
	})
	op.Register(t, tw.URL+sso.CallbackPath)
	return env{op: op, tw: tw}
}

// call sends a request as the console does (the CSRF header, and Origin
// on changes) with browser's cookies; edit may change it.
func (e env) call(t *testing.T, browser *http.Client, method, path string, in any, edit func(*http.Request)) (int, []byte) {
	t.Helper()
	var body io.Reader
	if in != nil {
		data, _ := json.Marshal(in)
		body = strings.NewReader(string(data))
	}
	req, err := http.NewRequest(method, e.tw.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(sso.CSRFHeader, "1")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", e.tw.URL)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (e env) me(t *testing.T, browser *http.Client) (int, api.User) {
	t.Helper()
	status, data := e.call(t, browser, http.MethodGet, "/api/v1/users/me", nil, nil)
	var u api.User
	if status == http.StatusOK {
		if err := json.Unmarshal(data, &u); err != nil {
			t.Fatal(err)
		}
	}
	return status, u
}

// signIn completes a sign-in and checks that it landed in the console.
func (e env) signIn(t *testing.T, u ssotest.User) *http.Client {
	t.Helper()
	browser := ssotest.Browser(t)
	resp, body := ssotest.SignIn(t, browser, e.tw.URL+sso.LoginPath, u.Username, u.Password)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("sign-in of %s ended at %s with %d: %s", u.Username, resp.Request.URL, resp.StatusCode, body)
	}
	return browser
}

// refused runs a sign-in that must be refused with status and a message
// containing want.
func (e env) refused(t *testing.T, u ssotest.User, status int, want string) {
	t.Helper()
	resp, body := ssotest.SignIn(t, ssotest.Browser(t), e.tw.URL+sso.LoginPath, u.Username, u.Password)
	if resp.StatusCode != status || !strings.Contains(body, want) {
		t.Fatalf("sign-in of %s: %d %q, want %d with %q", u.Username, resp.StatusCode, body, status, want)
	}
}

func (e env) audit(t *testing.T, action string) []api.AuditEvent {
	t.Helper()
	var page api.List[api.AuditEvent]
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodGet, "/api/v1/audit?action="+url.QueryEscape(action), nil, &page); s != http.StatusOK {
		t.Fatalf("audit: %d", s)
	}
	return page.Items
}

// The whole path: sign in at the provider's own login page, land in the
// console with a session cookie (HttpOnly, SameSite=Lax, path /, 8h), be
// that user on the admin API (GET /api/v1/users/me: user created just in
// time, roles from groups, the provider's mixed-case name lowercased),
// sign out, and the session is gone.
func TestSignInSessionSignOut(t *testing.T) {
	e := start(t, nil, alice)
	browser := ssotest.Browser(t)
	loginURL, id := ssotest.LoginPage(t, browser, e.tw.URL+sso.LoginPath)
	_, callback := ssotest.SubmitLogin(t, browser, loginURL, id, alice.Username, alice.Password, e.tw.URL+sso.CallbackPath)
	if callback == nil {
		t.Fatal("the provider did not redirect to the callback")
	}
	q := callback.Query()
	if q.Get("code") == "" || q.Get("state") == "" {
		t.Fatalf("callback %s", callback)
	}
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("callback answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "tokenwright_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" ||
		session.MaxAge != 8*3600 || len(session.Value) < 43 {
		t.Fatalf("session cookie %+v", session)
	}

	status, me := e.me(t, browser)
	if status != http.StatusOK || me.UserName != "alice" || me.Email != "alice@example.com" || !slices.Equal(me.Roles, []string{"analyst"}) || me.Admin {
		t.Fatalf("users/me: %d %+v", status, me)
	}
	if ev := e.audit(t, "sso.signin"); len(ev) != 1 || ev[0].Result != store.ResultSuccess || ev[0].Actor != "alice" || ev[0].Details["groups"] != "data-science" {
		t.Fatalf("sso.signin events %+v", ev)
	}

	if status, body := e.call(t, browser, http.MethodPost, sso.LogoutPath, nil, nil); status != http.StatusOK { // 200: with the provider's end_session URL (logout_test.go)
		t.Fatalf("logout: %d %s", status, body)
	}
	if status, _ := e.me(t, browser); status != http.StatusUnauthorized {
		t.Fatalf("users/me after logout (cookie cleared): %d", status)
	}
	// The old cookie, replayed, names no session any more.
	jar := ssotest.Browser(t)
	jar.Jar.SetCookies(mustURL(t, e.tw.URL), []*http.Cookie{{Name: "tokenwright_session", Value: session.Value}})
	if status, _ := e.me(t, jar); status != http.StatusUnauthorized {
		t.Fatalf("users/me with the signed-out session's cookie: %d", status)
	}
	if ev := e.audit(t, "sso.signout"); len(ev) != 1 || ev[0].Actor != "alice" {
		t.Fatalf("sso.signout events %+v", ev)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
