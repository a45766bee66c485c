package sso_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

// cliRun is what `tokenwright login` makes for one sign-in.
type cliRun struct{ verifier, challenge, state string }

func newCLIRun(n int) cliRun {
	verifier := strings.Repeat(fmt.Sprintf("v%d", n), 30)[:50]
	sum := sha256.Sum256([]byte(verifier))
	return cliRun{verifier: verifier, challenge: base64.RawURLEncoding.EncodeToString(sum[:]), state: fmt.Sprintf("state-of-run-%04d", n)}
}

func (c cliRun) start(base string, port int) string {
	return base + sso.LoginPath + "?" + url.Values{sso.CLIPortParam: {fmt.Sprint(port)}, sso.CLIChallengeParam: {c.challenge},
		sso.CLIStateParam: {c.state}}.Encode()
}

// cliCode signs u in as the CLI's browser does and returns the code the
// server hands to the loopback listener (not followed: nothing listens).
func (e env) cliCode(t *testing.T, u ssotest.User, port int, c cliRun) string {
	t.Helper()
	browser := ssotest.Browser(t)
	loginURL, id := ssotest.LoginPage(t, browser, c.start(e.tw.URL, port))
	loopback := fmt.Sprintf("http://127.0.0.1:%d/", port)
	_, got := ssotest.SubmitLogin(t, browser, loginURL, id, u.Username, u.Password, loopback)
	if got == nil {
		t.Fatalf("the sign-in did not end with a redirect to %s", loopback)
	}
	q := got.Query()
	if got.Scheme != "http" || got.Host != fmt.Sprintf("127.0.0.1:%d", port) || got.Path != sso.CLICallbackPath ||
		q.Get("state") != c.state || len(q.Get("code")) < 43 || len(q) != 2 {
		t.Fatalf("loopback redirect %s", got)
	}
	return q.Get("code")
}

// exchange posts a code and verifier as the CLI does.
func (e env) exchange(t *testing.T, code, verifier string) (int, sso.CLISessionResponse, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code, "codeVerifier": verifier})
	resp, err := http.Post(e.tw.URL+sso.CLISessionPath, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out sso.CLISessionResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
	} else if !strings.Contains(string(data), `"error":"invalid_grant"`) && resp.StatusCode == http.StatusBadRequest {
		t.Fatalf("a refused exchange must answer OAuth's invalid_grant: %s", data)
	}
	return resp.StatusCode, out, string(data)
}

// withBearer and withCookie send a secret as the named credential (the
// CSRF header is sent too, as the console does, so that only the kind of
// the secret decides).
func withBearer(secret string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
}

func withCookie(secret string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "tokenwright_session", Value: secret}) }
}

func (e env) meWith(t *testing.T, edit func(*http.Request)) int {
	t.Helper()
	status, _ := e.call(t, http.DefaultClient, http.MethodGet, "/api/v1/users/me", nil, edit)
	return status
}

// The CLI's sign-in end to end at the server: the browser part ends with
// a redirect to http://127.0.0.1:PORT/callback carrying a code and the
// CLI's state; the code with its verifier gives a tws_ credential of the
// console's lifetimes that the admin API accepts as a bearer token; the
// code works once; the credential is not a console cookie; DELETE ends
// it; every step is audited.
func TestCLISignIn(t *testing.T) {
	e := start(t, nil, alice)
	run := newCLIRun(1)
	code := e.cliCode(t, alice, 54321, run)
	before := time.Now()
	status, got, body := e.exchange(t, code, run.verifier)
	if status != http.StatusOK || !strings.HasPrefix(got.Token, "tws_") || len(got.Token) != 4+43 || got.User != "alice" || got.TokenType != "Bearer" ||
		got.IdleTimeoutSeconds != 3600 || got.ExpiresAt.Before(before.Add(8*time.Hour-time.Minute)) || got.ExpiresAt.After(time.Now().Add(8*time.Hour)) {
		t.Fatalf("exchange: %d %s", status, body)
	}
	if status, _, _ := e.exchange(t, code, run.verifier); status != http.StatusBadRequest {
		t.Fatalf("the code's second use: %d", status)
	}
	if s := e.meWith(t, withBearer(got.Token)); s != http.StatusOK {
		t.Fatalf("users/me with the CLI credential: %d", s)
	}
	if s := e.meWith(t, withCookie(got.Token)); s != http.StatusUnauthorized {
		t.Fatalf("users/me with the CLI credential as the console cookie: %d", s)
	}

	del := func(token string) int {
		req, _ := http.NewRequest(http.MethodDelete, e.tw.URL+sso.CLISessionPath, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := del(got.Token); s != http.StatusNoContent {
		t.Fatalf("ending the CLI session: %d", s)
	}
	if s := e.meWith(t, withBearer(got.Token)); s != http.StatusUnauthorized {
		t.Fatalf("users/me after the CLI's sign-out: %d", s)
	}
	if s := del(got.Token); s != http.StatusNoContent {
		t.Fatalf("ending it twice: %d", s)
	}

	signins := e.audit(t, "sso.signin")
	if len(signins) != 2 || signins[1].Result != store.ResultSuccess || signins[1].Details["client"] != "cli" ||
		signins[0].Result != store.ResultDenied || signins[0].Details["reason"] != "the code is unknown or already used" {
		t.Fatalf("sso.signin events %+v", signins)
	}
	if ev := e.audit(t, "session.create"); len(ev) != 1 || ev[0].Actor != "alice" || ev[0].Details["kind"] != "cli" {
		t.Fatalf("session.create events %+v", ev)
	}
	if ev := e.audit(t, "sso.signout"); len(ev) != 1 || ev[0].Actor != "alice" || ev[0].Details["client"] != "cli" {
		t.Fatalf("sso.signout events %+v", ev)
	}
}

// A code is burnt by its first exchange, even one with the wrong
// verifier; it is neither a bearer credential nor a cookie; it expires
// after 60 seconds; each refusal is audited with its reason.
func TestCLICodeRefusals(t *testing.T) {
	var offset atomic.Int64
	op := ssotest.Start(t, alice)
	tw := servertest.Start(t, servertest.Options{Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		Configure: func(c *config.Config) { c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID },
		Environ:   op.Environ})
	op.Register(t, tw.URL+sso.CallbackPath)
	e := env{op: op, tw: tw}

	run := newCLIRun(2)
	code := e.cliCode(t, alice, 1, run)
	for name, edit := range map[string]func(*http.Request){
		"bearer": withBearer(code), "tws_ bearer": withBearer("tws_" + code), "cookie": withCookie(code),
	} {
		if s := e.meWith(t, edit); s != http.StatusUnauthorized {
			t.Errorf("users/me with the code as %s: %d", name, s)
		}
	}
	if status, _, body := e.exchange(t, code, newCLIRun(3).verifier); !strings.Contains(body, "the code verifier does not match") {
		t.Fatalf("wrong verifier: %d %s", status, body)
	}
	if status, _, body := e.exchange(t, code, run.verifier); status != http.StatusBadRequest || !strings.Contains(body, "unknown or already used") {
		t.Fatalf("the right verifier after a wrong one: %d %s", status, body)
	}

	code = e.cliCode(t, alice, 65535, run)
	offset.Add(int64(61 * time.Second))
	if status, _, body := e.exchange(t, code, run.verifier); status != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Fatalf("a code 61s old: %d %s", status, body)
	}

	reasons := map[string]bool{}
	for _, ev := range e.audit(t, "sso.signin") {
		if ev.Result == store.ResultDenied && ev.Details["client"] == "cli" {
			reasons[ev.Details["reason"]] = true
		}
	}
	for _, want := range []string{"the code verifier does not match the code's challenge", "the code is unknown or already used",
		"the code has expired (it is valid for 60 seconds)"} {
		if !reasons[want] {
			t.Errorf("no denied sso.signin with reason %q in %v", want, reasons)
		}
	}
}

// The loopback target is only ever http://127.0.0.1:PORT: the CLI names a
// port number and nothing else, and anything else is refused before the
// provider is involved (no redirect at all).
func TestCLILoopbackOnly(t *testing.T) {
	e := start(t, nil, alice)
	run := newCLIRun(4)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, port := range []string{"evil.example:80", "evil.example", "0", "65536", "+80", "080", "-1", "80/x", "80@evil.example", "80 ", ""} {
		q := url.Values{sso.CLIPortParam: {port}, sso.CLIChallengeParam: {run.challenge}, sso.CLIStateParam: {run.state}}
		resp, err := noFollow.Get(e.tw.URL + sso.LoginPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(data), sso.CLIPortParam) {
			t.Errorf("cli_port=%q: %d to %q: %s", port, resp.StatusCode, resp.Header.Get("Location"), data)
		}
	}
	for name, q := range map[string]url.Values{
		"no challenge":     {sso.CLIPortParam: {"8080"}, sso.CLIStateParam: {run.state}},
		"plain challenge":  {sso.CLIPortParam: {"8080"}, sso.CLIChallengeParam: {"short"}, sso.CLIStateParam: {run.state}},
		"state with a dot": {sso.CLIPortParam: {"8080"}, sso.CLIChallengeParam: {run.challenge}, sso.CLIStateParam: {"state.of.the.cli.run"}},
	} {
		resp, err := noFollow.Get(e.tw.URL + sso.LoginPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d to %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// A console session's cookie is no bearer credential, with or without
// the CLI credential's prefix.
func TestConsoleCookieIsNoBearer(t *testing.T) {
	e := start(t, nil, alice)
	browser := e.signIn(t, alice)
	var secret string
	for _, c := range browser.Jar.Cookies(mustURL(t, e.tw.URL)) {
		if c.Name == "tokenwright_session" {
			secret = c.Value
		}
	}
	if secret == "" {
		t.Fatal("no session cookie")
	}
	if s := e.meWith(t, withCookie(secret)); s != http.StatusOK {
		t.Fatalf("the cookie as a cookie: %d", s)
	}
	for _, bearer := range []string{secret, "tws_" + secret} {
		if s := e.meWith(t, withBearer(bearer)); s != http.StatusUnauthorized {
			t.Errorf("the console cookie as bearer %q: %d", bearer[:8], s)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, e.tw.URL+sso.CLISessionPath, nil)
	req.Header.Set("Authorization", "Bearer tws_"+secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE with the cookie: %v %v", resp, err)
	}
	if s := e.meWith(t, withCookie(secret)); s != http.StatusOK {
		t.Fatalf("the CLI's sign-out ended a console session: %d", s)
	}
}

// Deactivating the user ends their CLI sessions and unexchanged codes
// at once (the store's rule for every kind of session).
func TestDeactivationEndsCLISessions(t *testing.T) {
	e := start(t, nil, alice)
	run := newCLIRun(5)
	status, got, body := e.exchange(t, e.cliCode(t, alice, 8080, run), run.verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %s", status, body)
	}
	pending := e.cliCode(t, alice, 8081, run)
	inactive := "inactive"
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodPatch, "/api/v1/users/alice", api.UpdateUser{Status: &inactive}, nil); s != http.StatusOK {
		t.Fatalf("deactivate: %d", s)
	}
	if s := e.meWith(t, withBearer(got.Token)); s != http.StatusUnauthorized {
		t.Fatalf("the CLI credential of a deactivated user: %d", s)
	}
	if status, _, body := e.exchange(t, pending, run.verifier); status != http.StatusBadRequest || !strings.Contains(body, "unknown or already used") {
		t.Fatalf("a code of a deactivated user: %d %s", status, body)
	}
}
