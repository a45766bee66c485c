package sso_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

// startWith is start with the provider's options; the client is
// registered with the console as its post-logout redirect URI.
func startWith(t *testing.T, o ssotest.Options, edit func(*config.Config), users ...ssotest.User) env {
	t.Helper()
	op := ssotest.StartWith(t, o, users...)
	tw := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
			if edit != nil {
				edit(c)
			}
		},
		Environ: op.Environ,
	})
	op.RegisterWithLogout(t, []string{tw.URL + sso.CallbackPath}, []string{tw.URL + "/ui/"})
	return env{op: op, tw: tw}
}

// follow follows a URL in the browser and returns where it ended.
func follow(t *testing.T, browser *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// RP-initiated logout: POST /ui/logout ends the tokenwright session and
// answers the provider's end_session URL (id_token_hint, client_id,
// post_logout_redirect_uri = the console); following it ends the
// provider's own session, so the next sign-in from that browser asks for
// the password again. Before the logout, the provider's session signs the
// same browser in without the password (so the test can tell).
func TestRPInitiatedLogout(t *testing.T) {
	e := startWith(t, ssotest.Options{Sessions: true}, nil, alice)
	browser := e.signIn(t, alice)
	if resp, body := follow(t, browser, e.tw.URL+sso.LoginPath); resp.Request.URL.String() != e.tw.URL+"/ui/" {
		t.Fatalf("a second sign-in with the provider's session ended at %s (%d), not the console: %s", resp.Request.URL, resp.StatusCode, body)
	}

	status, body := e.call(t, browser, http.MethodPost, sso.LogoutPath, nil, nil)
	var out sso.LogoutResponse
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || out.EndSessionURL == "" {
		t.Fatalf("logout: %d %s", status, body)
	}
	end, err := url.Parse(out.EndSessionURL)
	if err != nil {
		t.Fatal(err)
	}
	q := end.Query()
	if !strings.HasPrefix(out.EndSessionURL, e.op.Issuer) || q.Get("client_id") != e.op.ClientID ||
		q.Get("post_logout_redirect_uri") != e.tw.URL+"/ui/" || strings.Count(q.Get("id_token_hint"), ".") != 2 {
		t.Fatalf("end session URL %s", out.EndSessionURL)
	}
	if s, _ := e.me(t, browser); s != http.StatusUnauthorized {
		t.Fatalf("users/me after logout: %d", s)
	}
	if resp, body := follow(t, browser, out.EndSessionURL); resp.Request.URL.String() != e.tw.URL+"/ui/" {
		t.Fatalf("end_session ended at %s (%d), not the console: %s", resp.Request.URL, resp.StatusCode, body)
	}
	// The provider's session is gone: its login page again.
	loginURL, id := ssotest.LoginPage(t, browser, e.tw.URL+sso.LoginPath)
	if resp, _ := ssotest.SubmitLogin(t, browser, loginURL, id, alice.Username, alice.Password, ""); resp.Request.URL.Path != "/ui/" {
		t.Fatalf("sign-in after logout ended at %s", resp.Request.URL)
	}
	if ev := e.audit(t, "sso.signout"); len(ev) != 1 || ev[0].Actor != "alice" {
		t.Fatalf("sso.signout events %+v", ev)
	}
}

// A provider without end_session_endpoint: logout ends the tokenwright
// session and answers 204, as before.
func TestLogoutWithoutEndSession(t *testing.T) {
	e := startWith(t, ssotest.Options{NoEndSession: true}, nil, alice)
	browser := e.signIn(t, alice)
	if status, body := e.call(t, browser, http.MethodPost, sso.LogoutPath, nil, nil); status != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("logout: %d %s", status, body)
	}
	if s, _ := e.me(t, browser); s != http.StatusUnauthorized {
		t.Fatalf("users/me after logout: %d", s)
	}
	// Signing out again, with no session, is not an error.
	if status, _ := e.call(t, browser, http.MethodPost, sso.LogoutPath, nil, nil); status != http.StatusNoContent {
		t.Fatalf("second logout: %d", status)
	}
}

// A server that cannot discover the provider at sign-out (restarted while
// the provider is down: nothing cached) still ends the session and
// answers 204.
func TestLogoutWhenProviderUnreachable(t *testing.T) {
	e := startWith(t, ssotest.Options{}, nil, alice)
	browser := e.signIn(t, alice)
	id := sessionID(t, e, browser)
	var secret string
	for _, c := range browser.Jar.Cookies(mustURL(t, e.tw.URL)) {
		if c.Name == "tokenwright_session" {
			secret = c.Value
		}
	}
	c := e.tw.Config.SSO
	c.Issuer = "http://127.0.0.1:1/" // nothing listens there
	m, err := sso.New(sso.Options{SSO: c, Console: e.tw.Config.Console, PublicURL: e.tw.URL, Store: e.tw.Server.Store(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, e.tw.URL+sso.LogoutPath, nil)
	req.Header.Set(sso.CSRFHeader, "1")
	req.Header.Set("Origin", e.tw.URL)
	req.AddCookie(&http.Cookie{Name: "tokenwright_session", Value: secret})
	rec := httptest.NewRecorder()
	m.Logout(rec, req)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.tw.Server.Store().GetSession(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after logout: %v", err)
	}
}
