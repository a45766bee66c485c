package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ssotest.Cleanup() // the example OP's binary, if a test built it
	os.Exit(code)
}

// The people at the test provider.
var (
	ssoAlice = ssotest.User{ID: "id-alice", Username: "alice", Password: "pw-alice", Email: "alice@example.com", EmailVerified: true,
		Groups: []string{"data-science"}}
	// ssoBob's email is outside the allowed domain of the second test.
	ssoBob = ssotest.User{ID: "id-bob", Username: "bob", Password: "pw-bob", Email: "bob@other.org", EmailVerified: true}
)

// startSSO runs the example OP (its own process) and a tokenwright server
// that signs people in through it.
func startSSO(t *testing.T, edit func(*config.Config), users ...ssotest.User) *servertest.Server {
	t.Helper()
	return startSSOWith(t, ssotest.Options{}, edit, users...)
}

// startSSOWith is startSSO with provider options; with o.Sessions the
// provider remembers a sign-in until RP-initiated logout, which may
// return the browser to the console (/ui/).
func startSSOWith(t *testing.T, o ssotest.Options, edit func(*config.Config), users ...ssotest.User) *servertest.Server {
	t.Helper()
	op := ssotest.StartWith(t, o, users...)
	srv := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
			c.SSO.Roles = map[string]string{"data-science": "analyst"}
			if edit != nil {
				edit(c)
			}
		},
		Environ: op.Environ,
	})
	op.RegisterWithLogout(t, []string{srv.URL + sso.CallbackPath}, []string{srv.URL + "/ui/"})
	return srv
}

// ssoSignIn clicks "Sign in with single sign-on" and fills the
// provider's own login page (the example OP's form).
func ssoSignIn(t *testing.T, ctx context.Context, srv *servertest.Server, u ssotest.User) {
	t.Helper()
	do(t, ctx, "single sign-on as "+u.Username,
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
		chromedp.Click(chromedp.ID("signin-sso-link")),
		chromedp.WaitVisible(chromedp.ID("username")), // the provider's page
		chromedp.SendKeys(chromedp.ID("username"), u.Username),
		chromedp.SendKeys(chromedp.ID("password"), u.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
}

// sessionCookie reads the console's session cookie from the browser
// (HttpOnly: only the DevTools protocol sees it).
func sessionCookie(t *testing.T, ctx context.Context, srv *servertest.Server) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "tokenwright_session" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("session cookie: HttpOnly %v SameSite %q", c.HTTPOnly, c.SameSite)
			}
			return c.Value
		}
	}
	t.Fatalf("no session cookie in the browser: %+v", res.Cookies)
	return ""
}

// meWith asks GET /api/v1/users/me as a script would, with edit setting
// the credential and headers; it returns the status and the user name.
func meWith(t *testing.T, srv *servertest.Server, edit func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/users/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	edit(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u api.User
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &u)
	return resp.StatusCode, u.UserName
}

// pageFetchMe runs fetch('/api/v1/users/me') in the page with a bearer
// token (and the console's CSRF header when csrf) and returns the status:
// what a console page, or someone typing into its devtools, gets.
func pageFetchMe(t *testing.T, ctx context.Context, token string, csrf bool) int {
	t.Helper()
	headers := `{Authorization: 'Bearer ' + ` + jsString(token) + `}`
	if csrf {
		headers = `{Authorization: 'Bearer ' + ` + jsString(token) + `, '` + sso.CSRFHeader + `': '1'}`
	}
	return run(t, ctx, "fetch from the page", chromedp.Evaluate[int](
		`fetch('/api/v1/users/me', {headers: `+headers+`, credentials: 'omit', cache: 'no-store'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
}

// TestConsoleSingleSignOnInBrowser is the acceptance test of the
// console's single sign-on: Chromium signs in through the provider's own
// login page, lands in the console as that user, stays signed in across a
// reload (the session cookie), manages its own PATs in My tokens within the
// allowed lists an administrator set, signs out, and the old session
// cookie no longer authenticates.
func TestConsoleSingleSignOnInBrowser(t *testing.T) {
	b := newBrowser(t)
	srv := startSSOWith(t, ssotest.Options{Sessions: true}, nil, ssoAlice)
	// An administrator created alice beforehand and limited what her tokens
	// may reach; her first sign-in links her to the provider's identity.
	if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "alice", Email: "alice@example.com"}, nil); code != http.StatusCreated {
		t.Fatalf("create alice: HTTP %d", code)
	}
	scopes := []string{"Domino.user.all"}
	if code := srv.Do(t, srv.AdminToken, http.MethodPatch, "/api/v1/users/alice", api.UpdateUser{AllowedScopes: &scopes}, nil); code != http.StatusOK {
		t.Fatalf("limit alice: HTTP %d", code)
	}
	var settings map[string]bool
	if code := srv.Do(t, "", http.MethodGet, "/ui/settings", nil, &settings); code != http.StatusOK || !settings["sso"] || !settings["patSignIn"] || len(settings) != 2 {
		t.Fatalf("GET /ui/settings: HTTP %d %v", code, settings)
	}

	ctx := b.tab()
	do(t, ctx, "sign-in page offers both",
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
		chromedp.WaitVisible(chromedp.ID("signin-token")),
	)
	b.screenshot(ctx, "signin-sso")
	ssoSignIn(t, ctx, srv, ssoAlice)
	do(t, ctx, "landed in the console", chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/accounts"] h1`)))
	if who := run(t, ctx, "who am I", chromedp.Text(chromedp.ID("whoami"))); who != "alice" {
		t.Fatalf("signed in as %q, want alice", who)
	}
	if path := run(t, ctx, "url", chromedp.Evaluate[string](`location.pathname`)); path != "/ui/" {
		t.Errorf("after sign-in the browser is at %s", path)
	}
	// Only the session cookie signs her in: the page holds no token.
	cookie := sessionCookie(t, ctx, srv)

	// A reload keeps her signed in (a PAT sign-in would not).
	do(t, ctx, "reload",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/accounts"] h1`)),
	)
	if who := run(t, ctx, "who am I after reload", chromedp.Text(chromedp.ID("whoami"))); who != "alice" {
		t.Fatalf("after a reload signed in as %q", who)
	}

	// My tokens: a token outside her allowed scopes is refused in words,
	// one within them is created and its secret shown once.
	do(t, ctx, "my tokens: scope outside the allowed list",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/tokens"]`)),
		chromedp.WaitVisible(chromedp.ID("new-key")),
		chromedp.Click(chromedp.ID("new-key")),
		chromedp.SendKeys(chromedp.ID("create-key-name"), "laptop"),
		chromedp.SendKeys(chromedp.ID("create-key-scopes"), "$DATA"),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-key .error`)),
	)
	if msg := run(t, ctx, "scope error", chromedp.Text(chromedp.CSS(`#create-key .error`))); !strings.Contains(msg, "scope") {
		t.Errorf("a token outside the allowed scopes explained as %q", msg)
	}
	if hint := run(t, ctx, "scope hint", chromedp.Text(chromedp.ID("create-key-scopes-hint"))); !strings.Contains(hint, "Domino.user.all") {
		t.Errorf("the scopes hint %q does not show the allowed list", hint)
	}
	do(t, ctx, "my tokens: create",
		chromedp.SetValue(chromedp.ID("create-key-scopes"), "Domino.user.all"),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-secret")),
	)
	secret := run(t, ctx, "read secret", chromedp.Value(chromedp.ID("reveal-secret")))
	if !strings.HasPrefix(secret, "twp_") {
		t.Fatalf("revealed secret %q is not a personal access token", secret)
	}
	do(t, ctx, "close reveal dialog",
		chromedp.Click(chromedp.ID("reveal-done")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="laptop"] .badge[data-status="active"]`)),
	)
	if n := run(t, ctx, "secret gone", chromedp.Evaluate[int](`document.body.innerText.split(`+jsString(secret)+`).length - 1`)); n != 0 {
		t.Errorf("the secret is still in the page after the dialog closed")
	}
	// The PAT works on the admin API (as alice) and at the token endpoint.
	if code, name := meWith(t, srv, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }); code != http.StatusOK || name != "alice" {
		t.Fatalf("the new PAT on the admin API: HTTP %d as %q", code, name)
	}
	if code, oerr := exchange(t, srv, "alice", secret); code != http.StatusOK {
		t.Fatalf("the new PAT at the token endpoint: HTTP %d %s", code, oerr)
	}
	var keys api.List[api.Key]
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/users/alice/tokens", nil, &keys); code != http.StatusOK || len(keys.Items) != 1 ||
		strings.Join(keys.Items[0].Scopes, " ") != "Domino.user.all" {
		t.Fatalf("alice's tokens as an administrator sees them: HTTP %d %+v", code, keys.Items)
	}

	// Revoke, then delete, in the page.
	menu := chromedp.CSS(`tr[data-key="laptop"] .menu-button`)
	item := func(label string) chromedp.Search {
		return chromedp.Search(`//tr[@data-key="laptop"]//button[@role="menuitem"][normalize-space()="` + label + `"]`)
	}
	do(t, ctx, "revoke",
		chromedp.Click(menu),
		chromedp.Click(item("Revoke")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="laptop"] .badge[data-status="revoked"]`)),
	)
	if code, _ := meWith(t, srv, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }); code != http.StatusUnauthorized {
		t.Fatalf("the revoked PAT on the admin API: HTTP %d", code)
	}
	do(t, ctx, "delete",
		chromedp.Click(menu),
		chromedp.Click(item("Delete")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-key="laptop"]`)),
	)
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/users/alice/tokens", nil, &keys); code != http.StatusOK || len(keys.Items) != 0 {
		t.Fatalf("after the delete alice has tokens: HTTP %d %+v", code, keys.Items)
	}

	// With patSignIn on (the default), a bearer token from the page is
	// accepted: the refusal in the next test is the setting's doing.
	if code := pageFetchMe(t, ctx, srv.AdminToken, true); code != http.StatusOK {
		t.Errorf("a bearer token from the console with patSignIn on: HTTP %d", code)
	}

	// The session works from a script too, with the CSRF header only.
	withCookie := func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "tokenwright_session", Value: cookie})
		r.Header.Set(sso.CSRFHeader, "1")
	}
	if code, name := meWith(t, srv, withCookie); code != http.StatusOK || name != "alice" {
		t.Fatalf("the session cookie before sign-out: HTTP %d as %q", code, name)
	}
	// Signing out ends the provider's session too (RP-initiated logout):
	// the page follows the server's endSessionUrl to the provider, which
	// sends the browser back to the console's sign-in page.
	do(t, ctx, "sign out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
		chromedp.WaitNotVisible(chromedp.ID("top")),
	)
	if loc := run(t, ctx, "back from the provider", chromedp.Location()); loc != srv.URL+"/ui/" {
		t.Errorf("after sign-out the browser is at %s, want the console %s/ui/", loc, srv.URL)
	}
	if code, _ := meWith(t, srv, withCookie); code != http.StatusUnauthorized {
		t.Fatalf("the old session cookie after sign-out: HTTP %d, want 401", code)
	}
	// The provider forgot the sign-in: single sign-on asks for the
	// password again (without the logout it would sign alice straight in).
	do(t, ctx, "single sign-on after sign-out",
		chromedp.Click(chromedp.ID("signin-sso-link")),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
	)
	// A reload now shows the sign-in page: the server ended the session.
	do(t, ctx, "reload after sign-out",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
		chromedp.WaitNotVisible(chromedp.ID("top")),
	)
	b.checkConsole()
}

// TestConsolePATSignInOffAndRefusalInBrowser: with console.patSignIn:
// false the sign-in page has no PAT form and the admin API refuses a
// bearer token sent from the console's page, while scripts keep using
// PATs; single sign-on still works; and a refused sign-in shows a page
// with its reason and a way back.
func TestConsolePATSignInOffAndRefusalInBrowser(t *testing.T) {
	b := newBrowser(t)
	srv := startSSO(t, func(c *config.Config) {
		c.Console.PATSignIn = false
		c.SSO.AllowedEmailDomains = []string{"example.com"}
	}, ssoAlice, ssoBob)
	var settings map[string]bool
	if code := srv.Do(t, "", http.MethodGet, "/ui/settings", nil, &settings); code != http.StatusOK || !settings["sso"] || settings["patSignIn"] {
		t.Fatalf("GET /ui/settings: HTTP %d %v", code, settings)
	}

	ctx := b.tab()
	do(t, ctx, "sign-in page",
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
		chromedp.WaitNotVisible(chromedp.ID("signin-pat")),
	)
	if visible := run(t, ctx, "PAT form shown?", chromedp.Evaluate[bool](`document.getElementById('signin-token').checkVisibility()`)); visible {
		t.Fatal("the PAT form is shown with patSignIn: false")
	}
	b.screenshot(ctx, "signin-sso-only")

	// The server's half: a bearer token from the console's page is
	// refused, whether the page sends the console's header or not (the
	// browser's Sec-Fetch-Site: same-origin marks it).
	for _, csrf := range []bool{true, false} {
		if code := pageFetchMe(t, ctx, srv.AdminToken, csrf); code != http.StatusForbidden {
			t.Errorf("a bearer token from the console's page (CSRF header %v) with patSignIn off: HTTP %d, want 403", csrf, code)
		}
	}
	// Scripts and the CLI keep using PATs; requests that look like the
	// console's are refused.
	bearer := func(extra ...string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+srv.AdminToken)
			for i := 0; i+1 < len(extra); i += 2 {
				r.Header.Set(extra[i], extra[i+1])
			}
		}
	}
	for _, tc := range []struct {
		name    string
		headers []string
		want    int
	}{
		{"a script", nil, http.StatusOK},
		{"a page of another site (cors)", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusOK},
		{"the console's header", []string{sso.CSRFHeader, "1"}, http.StatusForbidden},
		{"a same-origin page", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
	} {
		if code, _ := meWith(t, srv, bearer(tc.headers...)); code != tc.want {
			t.Errorf("PAT from %s with patSignIn off: HTTP %d, want %d", tc.name, code, tc.want)
		}
	}

	// A refused sign-in (bob's email is outside the allowed domain) lands
	// on a page that says why, under the strict policy, with a way back.
	ssoSignIn(t, ctx, srv, ssoBob)
	do(t, ctx, "refusal page", chromedp.WaitVisible(chromedp.ID("reason")))
	if h1 := run(t, ctx, "refusal title", chromedp.Text(chromedp.CSS("h1"))); h1 != "Sign-in failed" {
		t.Errorf("refusal page title %q", h1)
	}
	want := `the email address "bob@other.org" is not in an allowed domain (sso.allowedEmailDomains)`
	if reason := run(t, ctx, "refusal reason", chromedp.Text(chromedp.ID("reason"))); reason != want {
		t.Errorf("refusal reason %q, want %q", reason, want)
	}
	if text := run(t, ctx, "refusal page", chromedp.Evaluate[string](`document.body.innerText`)); strings.Count(text, "\n") > 6 {
		t.Errorf("the refusal page says more than its reason:\n%s", text)
	}
	b.screenshot(ctx, "signin-refused")
	do(t, ctx, "back to the console",
		chromedp.Click(chromedp.ID("back")),
		chromedp.WaitVisible(chromedp.ID("signin-sso-link")),
	)
	resp, err := http.Get(srv.URL + sso.CallbackPath + "?state=x&code=y")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct, csp := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("refusal page: Content-Type %q, CSP %q", ct, csp)
	}

	// Single sign-on still signs alice in.
	ssoSignIn(t, ctx, srv, ssoAlice)
	do(t, ctx, "alice in the console", chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/accounts"] h1`)))
	if who := run(t, ctx, "who am I", chromedp.Text(chromedp.ID("whoami"))); who != "alice" {
		t.Fatalf("signed in as %q, want alice", who)
	}
	b.checkConsole()
}
