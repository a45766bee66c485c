package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// The browser tests drive Debian's Chromium (headless) through the DevTools
// protocol against a real server on 127.0.0.1. Without chromium they skip,
// unless TOKENWRIGHT_TEST_STRICT=1 (CI), where a missing browser fails.

// stepTimeout bounds each group of browser actions; a real failure shows as
// the element that never appeared, not as a hung test.
const stepTimeout = 20 * time.Second

type browser struct {
	t        *testing.T
	alloc    context.Context
	shots    string
	mu       sync.Mutex
	problems []string
}

var (
	shotsOnce sync.Once
	shotsDir  string
	shotsErr  error
)

// screenshotDir is TOKENWRIGHT_SCREENSHOTS or, by default, one new temporary
// directory per test run that outlives the run so the pictures can be
// looked at (CI keeps them as artifacts). Never inside the repository.
func screenshotDir() (string, error) {
	shotsOnce.Do(func() {
		shotsDir = os.Getenv("TOKENWRIGHT_SCREENSHOTS")
		if shotsDir == "" {
			shotsDir, shotsErr = os.MkdirTemp("", "tokenwright-screenshots-")
		} else {
			shotsErr = os.MkdirAll(shotsDir, 0o755)
		}
		if shotsErr == nil {
			fmt.Fprintf(os.Stderr, "console screenshots: %s\n", shotsDir)
		}
	})
	return shotsDir, shotsErr
}

// newBrowser starts Chromium; every browser test starts here, so this is
// where -short (the fast test layer) skips them.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a real Chromium; skipped with -short")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatal("chromium is not installed (apt-get install chromium); TOKENWRIGHT_TEST_STRICT=1 forbids skipping")
		}
		t.Skip("chromium is not installed; skipping the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	shots, err := screenshotDir()
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, alloc: alloc, shots: shots}
}

// tab opens the browser (one per test, with its own profile directory) and
// records uncaught exceptions and CSP violations, which fail the test.
func (b *browser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("starting chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return ctx
}

// checkConsole fails the test if the page threw or broke the CSP.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser console: %s", p)
	}
	b.problems = nil
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageState(ctx))
	}
}

// pageState describes what the page shows, for failure messages.
func pageState(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	state, err := chromedp.Run(sctx, chromedp.Evaluate[string](`location.hash + "\n" + document.body.innerText`))
	if err != nil {
		return "(page state unavailable: " + err.Error() + ")"
	}
	return "page now shows: " + state
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) screenshot(ctx context.Context, name string) []byte {
	b.t.Helper()
	// The pictures are documentation: the whole page from the top, without
	// the passing notification toast.
	do(b.t, ctx, "prepare screenshot "+name, chromedp.Evaluate[chromedp.Void](
		`{ const t = document.getElementById('toast'); if (t) { t.style.transition = 'none'; t.classList.remove('show') } if (!document.querySelector('dialog[open]')) window.scrollTo(0, 0) }`))
	shot := chromedp.FullScreenshot(100)
	if run(b.t, ctx, "dialog open?", chromedp.Evaluate[bool](`!!document.querySelector('dialog[open]')`)) {
		shot = chromedp.CaptureScreenshot() // the modal backdrop covers the viewport only
	}
	png := run(b.t, ctx, "screenshot "+name, shot)
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return png
}

func signIn(t *testing.T, ctx context.Context, srv *servertest.Server, token string) {
	t.Helper()
	do(t, ctx, "sign in",
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin-token")), // once the page knows PAT sign-in is on
		chromedp.SendKeys(chromedp.ID("signin-token"), token),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#nav a[href="#/accounts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/accounts"] h1`)),
	)
}

// exchange asks the token endpoint for a JWT with a client secret, as a
// script would, and returns the HTTP status and the OAuth error (if any).
func exchange(t *testing.T, srv *servertest.Server, clientID, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answer: %v", err)
	}
	if resp.StatusCode == http.StatusOK && strings.Count(body.AccessToken, ".") != 2 {
		t.Fatalf("token endpoint: 200 without a JWT: %q", body.AccessToken)
	}
	return resp.StatusCode, body.Error
}

func keyStatusAPI(t *testing.T, srv *servertest.Server, account, name string) string {
	t.Helper()
	return keyAPI(t, srv, account, name).Status
}

func lastUsed(t *testing.T, srv *servertest.Server, account, name string) *time.Time {
	t.Helper()
	return keyAPI(t, srv, account, name).LastUsedAt
}

func keyAPI(t *testing.T, srv *servertest.Server, account, name string) api.Key {
	t.Helper()
	var keys api.List[api.Key]
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/service-accounts/"+account+"/keys", nil, &keys); code != http.StatusOK {
		t.Fatalf("listing keys: HTTP %d", code)
	}
	for _, k := range keys.Items {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("key %s of %s not found", name, account)
	return api.Key{}
}

// TestConsoleKeyLifecycleInBrowser is the acceptance test: sign in,
// create an account and a key in the UI, use the revealed secret at the
// token endpoint, revoke the key in the UI, see the badge change and the
// token endpoint refuse the secret.
func TestConsoleKeyLifecycleInBrowser(t *testing.T) {
	b := newBrowser(t)
	// Last use is written in batches; a short interval lets the test see it.
	srv := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.Keys.UsageFlushInterval = config.Duration(100 * time.Millisecond)
	}})
	ctx := b.tab()
	signIn(t, ctx, srv, srv.AdminToken)
	if who := run(t, ctx, "who am I", chromedp.Text(chromedp.ID("whoami"))); who != "admin (administrator)" {
		t.Errorf("signed in as %q", who)
	}

	// Create a service account through the dialog.
	do(t, ctx, "create account",
		chromedp.Click(chromedp.ID("new-account")),
		chromedp.SendKeys(chromedp.ID("create-account-userName"), "ci-bot"),
		chromedp.SendKeys(chromedp.ID("create-account-email"), "ci-bot@example.com"),
		chromedp.SendKeys(chromedp.ID("create-account-description"), "Nightly builds"),
		chromedp.SendKeys(chromedp.ID("create-account-allowedScopes"), "Domino.user.all, $DATA"),
		chromedp.SendKeys(chromedp.ID("create-account-allowedAudiences"), "https://domino.example.com"),
		chromedp.Click(chromedp.CSS(`#create-account button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("account-details")),
	)
	if title := run(t, ctx, "account title", chromedp.Text(chromedp.ID("page-title"))); title != "ci-bot" {
		t.Fatalf("account page title %q", title)
	}
	var sa api.ServiceAccount
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/service-accounts/ci-bot", nil, &sa); code != http.StatusOK {
		t.Fatalf("the account the UI created is not in the API: HTTP %d", code)
	}
	if sa.Email != "ci-bot@example.com" || strings.Join(sa.AllowedScopes, " ") != "Domino.user.all $DATA" || sa.Description != "Nightly builds" {
		t.Errorf("account as created by the UI: %+v", sa)
	}

	// Edit: bad claims JSON is refused in the dialog; good changes land.
	do(t, ctx, "edit account with bad claims",
		chromedp.Click(chromedp.ID("edit-account-button")),
		chromedp.WaitVisible(chromedp.ID("edit-account-claims")),
		chromedp.SendKeys(chromedp.ID("edit-account-claims"), `{"team": `),
		chromedp.Click(chromedp.CSS(`#edit-account button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#edit-account .error`)),
	)
	if msg := run(t, ctx, "claims error", chromedp.Text(chromedp.CSS(`#edit-account .error`))); !strings.Contains(msg, "not valid JSON") {
		t.Errorf("bad claims error %q", msg)
	}
	do(t, ctx, "edit account",
		chromedp.SetValue(chromedp.ID("edit-account-claims"), `{"team": "ops", "tier": 2}`),
		chromedp.SetValue(chromedp.ID("edit-account-roles"), "deployer, reader"),
		chromedp.SetValue(chromedp.ID("edit-account-notesName"), "CN=ci-bot/O=Acme"),
		chromedp.SetValue(chromedp.ID("edit-account-profile"), "generic"),
		chromedp.SetValue(chromedp.ID("edit-account-audienceFormat"), "string"),
		chromedp.Click(chromedp.ID("edit-account-introspect")),
		chromedp.Click(chromedp.CSS(`#edit-account button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.ID("edit-account")),
		chromedp.WaitVisible(chromedp.CSS(`pre.claims`)),
	)
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/service-accounts/ci-bot", nil, &sa); code != http.StatusOK {
		t.Fatalf("get account: HTTP %d", code)
	}
	if strings.Join(sa.Roles, ",") != "deployer,reader" || sa.NotesName != "CN=ci-bot/O=Acme" || sa.Claims["team"] != "ops" || sa.Claims["tier"] != float64(2) ||
		strings.Join(sa.AllowedScopes, " ") != "Domino.user.all $DATA" || sa.Profile != "generic" || strings.Join(sa.Permissions, ",") != "introspect" ||
		sa.AudienceFormat != "string" || sa.TokenType != "at+jwt" {
		// tokenType was not touched: it follows the new profile (at+jwt)
		// rather than being pinned to the old one's default.
		t.Errorf("account after the UI edit: roles %v notes %q claims %v scopes %v profile %q permissions %v tokenType %q audienceFormat %q",
			sa.Roles, sa.NotesName, sa.Claims, sa.AllowedScopes, sa.Profile, sa.Permissions, sa.TokenType, sa.AudienceFormat)
	}
	if typ := run(t, ctx, "token type shown", chromedp.Text(chromedp.ID("account-token-type"))); typ != "at+jwt" {
		t.Errorf("the account page shows token type %q", typ)
	}
	// Back to the Domino profile (through the API: the page stays as it
	// is): the Domino setup page below expects it.
	domino, array := "domino", "array"
	if code := srv.Do(t, srv.AdminToken, http.MethodPatch, "/api/v1/service-accounts/ci-bot",
		api.UpdateServiceAccount{Profile: &domino, AudienceFormat: &array}, nil); code != http.StatusOK {
		t.Fatalf("profile back to domino: HTTP %d", code)
	}

	// An API error is shown in words and the dialog stays open.
	do(t, ctx, "a key without a name is refused",
		chromedp.Click(chromedp.ID("new-key")),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-key .error`)),
	)
	if msg := run(t, ctx, "error text", chromedp.Text(chromedp.CSS(`#create-key .error`))); !strings.Contains(msg, "name") {
		t.Errorf("create-key error %q does not explain the problem", msg)
	}

	// Create the key for real and read the secret from the reveal dialog.
	do(t, ctx, "create key",
		chromedp.SendKeys(chromedp.ID("create-key-name"), "nightly-build"),
		chromedp.SetValue(chromedp.ID("create-key-expiry"), "30d"),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-secret")),
	)
	secret := run(t, ctx, "read secret", chromedp.Value(chromedp.ID("reveal-secret")))
	if !strings.HasPrefix(secret, "twk_") {
		t.Fatalf("revealed secret %q is not an API key", secret)
	}
	if warn := run(t, ctx, "reveal warning", chromedp.Text(chromedp.ID("reveal-warning"))); !strings.Contains(warn, "You will not see it again") {
		t.Errorf("reveal dialog warning %q", warn)
	}
	if cid := run(t, ctx, "reveal client id", chromedp.Text(chromedp.ID("reveal-client-id"))); cid != "ci-bot" {
		t.Errorf("reveal dialog client id %q", cid)
	}
	b.screenshot(ctx, "reveal-dialog")
	do(t, ctx, "close reveal dialog",
		chromedp.Click(chromedp.ID("reveal-done")),
		chromedp.WaitNotPresent(chromedp.ID("reveal-dialog")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="nightly-build"] .badge[data-status="active"]`)),
	)
	if n := run(t, ctx, "secret gone from page", chromedp.Evaluate[int](`document.body.innerText.split(`+jsString(secret)+`).length - 1`)); n != 0 {
		t.Errorf("the secret is still in the page after the dialog closed (%d times)", n)
	}

	// The secret works at the token endpoint.
	if code, oerr := exchange(t, srv, "ci-bot", secret); code != http.StatusOK {
		t.Fatalf("token endpoint with the revealed secret: HTTP %d %s", code, oerr)
	}

	// The row menu works from the keyboard: ArrowDown opens it on the first
	// item, Escape closes it and gives the focus back to the button.
	menuButton := chromedp.CSS(`tr[data-key="nightly-build"] .menu-button`)
	do(t, ctx, "menu by keyboard",
		chromedp.Focus(menuButton),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="nightly-build"] [role="menu"]`)),
	)
	if focused := run(t, ctx, "focused item", chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Rotate" {
		t.Errorf("ArrowDown focused %q, want the first item Rotate", focused)
	}
	do(t, ctx, "escape closes the menu",
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotVisible(chromedp.CSS(`tr[data-key="nightly-build"] [role="menu"]`)),
	)
	if focused := run(t, ctx, "focus back", chromedp.Evaluate[bool](`document.activeElement.classList.contains('menu-button')`)); !focused {
		t.Error("Escape did not return the focus to the menu button")
	}

	// Revoke asks first; Cancel changes nothing.
	revokeItem := chromedp.Search(`//tr[@data-key="nightly-build"]//button[@role="menuitem"][normalize-space()="Revoke"]`)
	do(t, ctx, "revoke, then cancel",
		chromedp.Click(menuButton),
		chromedp.Click(revokeItem),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
	)
	b.screenshot(ctx, "confirm-revoke")
	do(t, ctx, "cancel",
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="cancel"]`)),
		chromedp.WaitNotPresent(chromedp.ID("confirm-dialog")),
	)
	if st := keyStatusAPI(t, srv, "ci-bot", "nightly-build"); st != api.KeyActive {
		t.Fatalf("after Cancel the key is %s", st)
	}
	if code, _ := exchange(t, srv, "ci-bot", secret); code != http.StatusOK {
		t.Fatalf("after Cancel the token endpoint answers HTTP %d", code)
	}

	// Wait (through the API) until the last use is recorded, so the table
	// redrawn after the revoke below must show it.
	eventually.True(t, stepTimeout, "the key's last use recorded", func() bool { return lastUsed(t, srv, "ci-bot", "nightly-build") != nil })

	// Revoke for real: the badge changes and the token endpoint refuses.
	do(t, ctx, "revoke, then confirm",
		chromedp.Click(menuButton),
		chromedp.Click(revokeItem),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="nightly-build"] .badge[data-status="revoked"]`)),
	)
	if badge := run(t, ctx, "badge", chromedp.Text(chromedp.CSS(`tr[data-key="nightly-build"] .badge`))); badge != "Revoked" {
		t.Errorf("badge after revoke %q, want Revoked", badge)
	}
	if used := run(t, ctx, "last used", chromedp.Text(chromedp.CSS(`tr[data-key="nightly-build"] td[data-label="Last used"]`))); !strings.Contains(used, "UTC") || !strings.Contains(used, "from 127.0.0.1") {
		t.Errorf("last used shows %q, want a time and the source address", used)
	}
	if st := keyStatusAPI(t, srv, "ci-bot", "nightly-build"); st != api.KeyRevoked {
		t.Fatalf("the API says the key is %s after the UI revoked it", st)
	}
	if code, oerr := exchange(t, srv, "ci-bot", secret); code != http.StatusUnauthorized || oerr != "invalid_client" {
		t.Fatalf("token endpoint after revoke: HTTP %d %q, want 401 invalid_client", code, oerr)
	}

	// A second key for the picture of the keys page.
	do(t, ctx, "second key",
		chromedp.Click(chromedp.ID("new-key")),
		chromedp.SendKeys(chromedp.ID("create-key-name"), "etl-export"),
		chromedp.SendKeys(chromedp.ID("create-key-description"), "Nightly export to the data warehouse"),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.Click(chromedp.ID("reveal-done")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="etl-export"] .badge[data-status="active"]`)),
	)
	b.screenshot(ctx, "console-keys")

	// The audit log shows what the UI did, filtered by action.
	do(t, ctx, "audit log",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/audit"]`)),
		chromedp.WaitVisible(chromedp.ID("audit-action")),
		chromedp.SendKeys(chromedp.ID("audit-action"), "key.*"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-route="#/audit?action=key.*"] table`)),
	)
	actions := run(t, ctx, "audit actions", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#view tbody td:nth-child(3)')].map(td => td.textContent)`))
	if !contains(actions, "key.revoke") || !contains(actions, "key.create") {
		t.Errorf("audit page with action=key.* shows %v, want key.create and key.revoke", actions)
	}
	for _, a := range actions {
		if !strings.HasPrefix(a, "key.") {
			t.Errorf("the filter let %q through", a)
		}
	}
	b.screenshot(ctx, "audit")

	// My tokens and users pages render for the administrator.
	do(t, ctx, "my tokens",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/tokens"] table`)),
	)
	b.screenshot(ctx, "my-tokens")
	do(t, ctx, "users",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/users"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-user="admin"]`)),
	)
	do(t, ctx, "create user",
		chromedp.Click(chromedp.ID("new-user")),
		chromedp.SendKeys(chromedp.ID("create-user-userName"), "bob"),
		chromedp.SendKeys(chromedp.ID("create-user-email"), "bob@example.com"),
		chromedp.SendKeys(chromedp.ID("create-user-roles"), "viewer"),
		chromedp.Click(chromedp.CSS(`#create-user button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-user="bob"]`)),
	)
	var bob api.User
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/users/bob", nil, &bob); code != http.StatusOK || bob.Admin || strings.Join(bob.Roles, ",") != "viewer" {
		t.Errorf("user made in the console: HTTP %d %+v", code, bob)
	}
	b.screenshot(ctx, "users")
	do(t, ctx, "all tokens",
		chromedp.Click(chromedp.CSS(`#view a[href="#/all-tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/all-tokens"] tr[data-user="admin"]`)),
	)

	// Signing keys: the one active key, with the kid that JWKS publishes.
	do(t, ctx, "signing keys",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/signing-keys"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/signing-keys"] tr[data-kid] .badge[data-status="active"]`)),
	)
	kid := run(t, ctx, "kid", chromedp.Text(chromedp.CSS(`tr[data-kid] code.kid`)))
	if jwks := srv.DoRaw(t, "", http.MethodGet, "/keys"); kid == "" || !strings.Contains(jwks, `"kid":"`+kid+`"`) {
		t.Errorf("signing keys page shows kid %q, not in JWKS %s", kid, jwks)
	}
	b.screenshot(ctx, "signing-keys")

	// A reload forgets the token (it lives in memory only); after signing in
	// again the console returns to the page it was on.
	do(t, ctx, "reload",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("signin-token")),
		chromedp.SendKeys(chromedp.ID("signin-token"), srv.AdminToken+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/signing-keys"] tr[data-kid]`)),
	)

	// Domino setup for the account: the server's guided configuration, with
	// this server's issuer in the IdP section; a bad site is explained.
	do(t, ctx, "domino setup, bad site",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/accounts"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-account="ci-bot"] a`)),
		chromedp.Click(chromedp.ID("domino-link")),
		chromedp.SendKeys(chromedp.ID("domino-site"), "ftp://domino"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#domino-output .error`)),
	)
	if msg := run(t, ctx, "domino error", chromedp.Text(chromedp.CSS(`#domino-output .error`))); !strings.Contains(msg, "site") {
		t.Errorf("bad Domino site explained as %q", msg)
	}
	do(t, ctx, "domino setup",
		chromedp.SetValue(chromedp.ID("domino-site"), "https://domino.example.com"),
		chromedp.Click(chromedp.CSS(`#domino-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#domino-output section[data-section="idpcat"] pre`)),
	)
	if acct := run(t, ctx, "selected account", chromedp.Value(chromedp.ID("domino-account"))); acct != "ci-bot" {
		t.Errorf("Domino page opened from ci-bot selects %q", acct)
	}
	if idp := run(t, ctx, "idpcat", chromedp.Text(chromedp.CSS(`#domino-output section[data-section="idpcat"] pre`))); !strings.Contains(idp, srv.URL) {
		t.Errorf("the idpcat section does not name the issuer %s:\n%s", srv.URL, idp)
	}
	b.screenshot(ctx, "domino-setup")

	// Deactivate asks first; the account then gets no tokens; Activate undoes it.
	do(t, ctx, "deactivate",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/accounts"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-account="ci-bot"] a`)),
		chromedp.Click(chromedp.ID("toggle-account")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.crumb .badge[data-status="inactive"]`)),
	)
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/service-accounts/ci-bot", nil, &sa); code != http.StatusOK || sa.Status != "inactive" {
		t.Errorf("after Deactivate in the UI: HTTP %d status %q", code, sa.Status)
	}
	do(t, ctx, "activate",
		chromedp.Click(chromedp.ID("toggle-account")),
		chromedp.WaitVisible(chromedp.CSS(`.crumb .badge[data-status="active"]`)),
	)

	// Deleting the account asks first, then it is gone.
	do(t, ctx, "delete account",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/accounts"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-account="ci-bot"] a`)),
		chromedp.Click(chromedp.ID("delete-account")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/accounts"] .empty`)),
	)
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/service-accounts/ci-bot", nil, nil); code != http.StatusNotFound {
		t.Errorf("account after delete in the UI: HTTP %d", code)
	}

	// Sign out forgets the token.
	do(t, ctx, "sign out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signin-token")),
		chromedp.WaitNotVisible(chromedp.ID("top")),
	)
	b.checkConsole()
}

// TestConsoleShowsUserInputAsText: account descriptions and claims are user
// input; markup in them is shown as text and never runs.
func TestConsoleShowsUserInputAsText(t *testing.T) {
	b := newBrowser(t)
	srv := servertest.Start(t, servertest.Options{})
	const evil = `<img src=x onerror="document.body.dataset.xss='1'"><script>document.body.dataset.xss='2'</script>`
	srv.CreateAccount(t, api.CreateServiceAccount{UserName: "xss-demo", Email: "xss@example.com", Description: evil,
		Claims: map[string]any{"team": `<b onmouseover="alert(1)">ops</b>`}})
	srv.CreateKey(t, "xss-demo", api.CreateKey{Name: "k1", Description: evil})
	ctx := b.tab()
	signIn(t, ctx, srv, srv.AdminToken)
	do(t, ctx, "list", chromedp.WaitVisible(chromedp.CSS(`tr[data-account="xss-demo"]`)))
	if got := run(t, ctx, "description in list", chromedp.Text(chromedp.CSS(`tr[data-account="xss-demo"] .desc`))); got != evil {
		t.Errorf("list shows description %q, want the literal text %q", got, evil)
	}
	b.screenshot(ctx, "accounts")
	do(t, ctx, "account page",
		chromedp.Click(chromedp.CSS(`tr[data-account="xss-demo"] a`)),
		chromedp.WaitVisible(chromedp.ID("account-description")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="k1"]`)),
	)
	if got := run(t, ctx, "description", chromedp.Text(chromedp.ID("account-description"))); got != evil {
		t.Errorf("account page shows description %q, want the literal text %q", got, evil)
	}
	if got := run(t, ctx, "key description", chromedp.Text(chromedp.CSS(`tr[data-key="k1"] .desc`))); got != evil {
		t.Errorf("key row shows description %q", got)
	}
	if got := run(t, ctx, "claims", chromedp.Text(chromedp.CSS(`pre.claims`))); !strings.Contains(got, `<b onmouseover=\"alert(1)\">ops</b>`) {
		t.Errorf("claims shown as %q", got)
	}
	counts := run(t, ctx, "no injected elements", chromedp.Evaluate[map[string]any](
		`({img: document.querySelectorAll('#view img').length, script: document.querySelectorAll('#view script').length,
		  b: document.querySelectorAll('#view b').length, xss: document.body.dataset.xss || ''})`))
	for k, v := range counts {
		if v != float64(0) && v != "" {
			t.Errorf("injected markup took effect: %s = %v", k, v)
		}
	}
	b.screenshot(ctx, "xss-as-text")

	// The skip link moves the focus to the content without leaving the page.
	do(t, ctx, "skip link",
		chromedp.Focus(chromedp.CSS(`a.skip`)),
		chromedp.KeyEvent(kb.Enter),
	)
	where := run(t, ctx, "after skip", chromedp.Evaluate[[]string](`[document.activeElement.id, location.hash]`))
	if where[0] != "main" || where[1] != "#/accounts/xss-demo" {
		t.Errorf("after the skip link: focus on #%s, hash %s", where[0], where[1])
	}
	b.checkConsole()
}

// TestConsoleOwnerSeesOnlyWhatTheyMayDo: an account owner who is not an
// administrator sees their accounts and can manage keys, but gets no
// administrator pages or account settings actions. The API enforces the
// rules; the console does not offer what would be refused.
func TestConsoleOwnerSeesOnlyWhatTheyMayDo(t *testing.T) {
	b := newBrowser(t)
	srv := servertest.Start(t, servertest.Options{})
	srv.CreateAccount(t, api.CreateServiceAccount{UserName: "alice-bot", Email: "alice-bot@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	srv.CreateAccount(t, api.CreateServiceAccount{UserName: "other-bot", Email: "other-bot@example.com"})
	if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "alice", Email: "alice@example.com", Roles: []string{"deployer"}}, nil); code != http.StatusCreated {
		t.Fatalf("create user: HTTP %d", code)
	}
	if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/service-accounts/alice-bot/owners", api.Owner{UserName: "alice"}, nil); code != http.StatusOK {
		t.Fatalf("add owner: HTTP %d", code)
	}
	var pat api.KeyWithSecret
	if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/users/alice/tokens", api.CreateKey{Name: "console"}, &pat); code != http.StatusCreated {
		t.Fatalf("create PAT: HTTP %d", code)
	}

	ctx := b.tab()
	// A wrong token is refused in words.
	do(t, ctx, "bad token",
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin-token")),
		chromedp.SendKeys(chromedp.ID("signin-token"), "twp_not-a-real-token"),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("signin-error")),
	)
	if msg := run(t, ctx, "sign-in error", chromedp.Text(chromedp.ID("signin-error"))); !strings.Contains(msg, "not valid") {
		t.Errorf("sign-in error %q", msg)
	}
	do(t, ctx, "clear", chromedp.Clear(chromedp.ID("signin-token")))
	signIn(t, ctx, srv, pat.ClientSecret)

	nav := run(t, ctx, "nav", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#nav a')].map(a => a.textContent)`))
	if strings.Join(nav, ",") != "Service accounts,My tokens,Domino setup" {
		t.Errorf("owner's navigation %v, want only Service accounts, My tokens and Domino setup", nav)
	}
	rows := run(t, ctx, "accounts", chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr[data-account]')].map(r => r.dataset.account)`))
	if strings.Join(rows, ",") != "alice-bot" {
		t.Errorf("owner sees accounts %v, want only alice-bot", rows)
	}
	if n := run(t, ctx, "no create", chromedp.Evaluate[int](`document.querySelectorAll('#new-account').length`)); n != 0 {
		t.Error("a non-administrator is offered New service account")
	}
	do(t, ctx, "owned account",
		chromedp.Click(chromedp.CSS(`tr[data-account="alice-bot"] a`)),
		chromedp.WaitVisible(chromedp.ID("new-key")),
	)
	if n := run(t, ctx, "no admin actions", chromedp.Evaluate[int](`document.querySelectorAll('#edit-account-button, #delete-account, #toggle-account').length`)); n != 0 {
		t.Errorf("owner is offered %d account-settings actions", n)
	}
	// The owner can create a key and it works.
	do(t, ctx, "owner creates key",
		chromedp.Click(chromedp.ID("new-key")),
		chromedp.SendKeys(chromedp.ID("create-key-name"), "deploy"),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-secret")),
	)
	secret := run(t, ctx, "owner's secret", chromedp.Value(chromedp.ID("reveal-secret")))
	do(t, ctx, "done", chromedp.Click(chromedp.ID("reveal-done")), chromedp.WaitVisible(chromedp.CSS(`tr[data-key="deploy"]`)))
	if code, oerr := exchange(t, srv, "alice-bot", secret); code != http.StatusOK {
		t.Errorf("owner's key at the token endpoint: HTTP %d %s", code, oerr)
	}
	// Rotate with no grace: the new secret works, the old one stops.
	do(t, ctx, "rotate",
		chromedp.Click(chromedp.CSS(`tr[data-key="deploy"] .menu-button`)),
		chromedp.Click(chromedp.Search(`//tr[@data-key="deploy"]//button[@role="menuitem"][normalize-space()="Rotate"]`)),
		chromedp.SetValue(chromedp.ID("rotate-key-grace"), "0"),
		chromedp.Click(chromedp.CSS(`#rotate-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-secret")),
	)
	rotated := run(t, ctx, "rotated secret", chromedp.Value(chromedp.ID("reveal-secret")))
	do(t, ctx, "done", chromedp.Click(chromedp.ID("reveal-done")), chromedp.WaitNotPresent(chromedp.ID("reveal-dialog")))
	if rotated == secret || !strings.HasPrefix(rotated, "twk_") {
		t.Fatalf("rotation revealed %q", rotated)
	}
	if code, oerr := exchange(t, srv, "alice-bot", rotated); code != http.StatusOK {
		t.Errorf("rotated secret: HTTP %d %s", code, oerr)
	}
	if code, oerr := exchange(t, srv, "alice-bot", secret); code != http.StatusUnauthorized || oerr != "invalid_client" {
		t.Errorf("old secret after rotation without grace: HTTP %d %s", code, oerr)
	}

	// My tokens: a new personal access token signs in to the API.
	do(t, ctx, "new PAT",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/tokens"] tr[data-key="console"]`)),
		chromedp.Click(chromedp.ID("new-key")),
		chromedp.SendKeys(chromedp.ID("create-key-name"), "laptop"),
		chromedp.SetValue(chromedp.ID("create-key-expiry"), "7d"),
		chromedp.Click(chromedp.CSS(`#create-key button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-secret")),
	)
	patSecret := run(t, ctx, "PAT secret", chromedp.Value(chromedp.ID("reveal-secret")))
	// Seven days is within the server's expiringSoon window (7d).
	do(t, ctx, "done", chromedp.Click(chromedp.ID("reveal-done")), chromedp.WaitVisible(chromedp.CSS(`tr[data-key="laptop"] .badge[data-status="expiring_soon"]`)))
	if badge := run(t, ctx, "badge", chromedp.Text(chromedp.CSS(`tr[data-key="laptop"] .badge`))); badge != "Expiring soon" {
		t.Errorf("a 7-day token shows %q", badge)
	}
	var meUser api.User
	if code := srv.Do(t, patSecret, http.MethodGet, "/api/v1/users/me", nil, &meUser); code != http.StatusOK || meUser.UserName != "alice" {
		t.Errorf("the PAT made in the console: HTTP %d user %q", code, meUser.UserName)
	}

	// Revoke all (on the owner's account, after asking) revokes every key.
	do(t, ctx, "revoke all",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/accounts"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-account="alice-bot"] a`)),
		chromedp.Click(chromedp.ID("revoke-all")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="deploy"] .badge[data-status="revoked"]`)),
		chromedp.WaitNotPresent(chromedp.ID("revoke-all")), // nothing left to revoke
	)
	if code, oerr := exchange(t, srv, "alice-bot", rotated); code != http.StatusUnauthorized || oerr != "invalid_client" {
		t.Errorf("after Revoke all: HTTP %d %s", code, oerr)
	}

	// Someone else's account and administrator pages are refused in words.
	do(t, ctx, "other account",
		chromedp.Evaluate[chromedp.Void](`location.hash = '#/accounts/other-bot'`),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/accounts/other-bot"] .error`)),
	)
	if msg := run(t, ctx, "other account error", chromedp.Text(chromedp.CSS(`#view .error`))); !strings.Contains(msg, "not found") {
		t.Errorf("another owner's account shows %q", msg)
	}
	do(t, ctx, "admin page",
		chromedp.Evaluate[chromedp.Void](`location.hash = '#/users'`),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-page="#/users"] h1`)),
	)
	if msg := run(t, ctx, "admin page text", chromedp.Text(chromedp.ID("view"))); !strings.Contains(msg, "for administrators") {
		t.Errorf("a non-administrator on #/users sees %q", msg)
	}

	// Narrow screen (375 px): the keys page fits without sideways scrolling
	// of the page (wide tables scroll inside their own box).
	do(t, ctx, "narrow viewport",
		chromedp.EmulateViewport(375, 812),
		chromedp.Evaluate[chromedp.Void](`location.hash = '#/accounts/alice-bot'`),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="deploy"]`)),
	)
	if fits := run(t, ctx, "no horizontal overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)); !fits {
		w := run(t, ctx, "widths", chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
		t.Errorf("at 375 px the page is %d px wide (viewport %d)", w[0], w[1])
	}
	b.screenshot(ctx, "narrow-keys")
	// The row menu opens inside the screen, and its actions are reachable.
	do(t, ctx, "narrow menu",
		chromedp.Click(chromedp.CSS(`tr[data-key="deploy"] .menu-button`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="deploy"] [role="menu"]`)),
	)
	inside := run(t, ctx, "menu inside viewport", chromedp.Evaluate[bool](
		`(() => { const r = document.querySelector('tr[data-key="deploy"] [role="menu"]').getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth })()`))
	if !inside {
		t.Error("at 375 px the row menu opens outside the screen")
	}
	b.screenshot(ctx, "narrow-menu")
	b.checkConsole()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func jsString(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}

// The user editor sets a user's allowed lists (what their tokens may
// reach), and the all-tokens page pages through more tokens than one page
// of the API holds.
func TestConsoleUserAllowedListsAndTokenPages(t *testing.T) {
	b := newBrowser(t)
	srv := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled, c.Keys.MaxPATsPerUser = false, 200 }})
	if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "hana", Email: "hana@example.com"}, nil); code != http.StatusCreated {
		t.Fatalf("create user: HTTP %d", code)
	}
	// 104 tokens in all with the bootstrap one: two pages of 100.
	for i := range 3 {
		if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/users/hana/tokens", api.CreateKey{Name: fmt.Sprintf("h%d", i)}, nil); code != http.StatusCreated {
			t.Fatalf("create PAT: HTTP %d", code)
		}
	}
	for i := range 100 {
		if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/users/me/tokens", api.CreateKey{Name: fmt.Sprintf("a%03d", i)}, nil); code != http.StatusCreated {
			t.Fatalf("create PAT: HTTP %d", code)
		}
	}

	ctx := b.tab()
	signIn(t, ctx, srv, srv.AdminToken)
	do(t, ctx, "edit hana",
		chromedp.Click(chromedp.CSS(`#nav a[href="#/users"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-user="hana"] .menu-button`)),
		chromedp.Click(chromedp.Search(`//tr[@data-user="hana"]//button[@role="menuitem"][normalize-space()="Edit"]`)),
		chromedp.WaitVisible(chromedp.ID("edit-user-allowedScopes")),
		chromedp.SendKeys(chromedp.ID("edit-user-allowedScopes"), "Domino.user.all\n$DATA"),
		chromedp.SendKeys(chromedp.ID("edit-user-allowedAudiences"), "https://domino.example.com/*"),
		chromedp.SendKeys(chromedp.ID("edit-user-allowedCidrs"), "10.0.0.0/8"),
		chromedp.Click(chromedp.CSS(`#edit-user button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.ID("edit-user-allowedScopes")),
		// The toast and the page's refresh start in the same task; wait for
		// the refreshed table, or the next click can hit a row that the
		// refresh is about to replace.
		chromedp.WaitVisible(chromedp.Search(`//*[contains(text(), "Saved hana.")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#view:not([aria-busy]) tr[data-user="hana"] .menu-button`)),
	)
	var hana api.User
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/users/hana", nil, &hana); code != http.StatusOK ||
		strings.Join(hana.AllowedScopes, " ") != "Domino.user.all $DATA" || strings.Join(hana.AllowedAudiences, " ") != "https://domino.example.com/*" ||
		strings.Join(hana.AllowedCIDRs, " ") != "10.0.0.0/8" {
		t.Fatalf("lists set in the console: HTTP %d %+v", code, hana)
	}
	// An invalid CIDR is explained in the dialog and changes nothing.
	do(t, ctx, "bad cidr",
		chromedp.Click(chromedp.CSS(`tr[data-user="hana"] .menu-button`)),
		chromedp.Click(chromedp.Search(`//tr[@data-user="hana"]//button[@role="menuitem"][normalize-space()="Edit"]`)),
		chromedp.WaitVisible(chromedp.ID("edit-user-allowedCidrs")),
		chromedp.SetValue(chromedp.ID("edit-user-allowedCidrs"), "10.0.0.0/99"),
		chromedp.Click(chromedp.CSS(`#edit-user button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#edit-user .error`)),
	)
	b.screenshot(ctx, "user-allowed-lists")

	rows := func() []string {
		return run(t, ctx, "rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#view tr[data-key]')].map(r => r.dataset.user + '/' + r.dataset.key)`))
	}
	do(t, ctx, "all tokens",
		chromedp.Click(chromedp.Search(`//dialog[@id="edit-user"]//button[normalize-space()="Cancel"]`)),
		chromedp.WaitNotPresent(chromedp.ID("edit-user-allowedCidrs")),
		chromedp.Click(chromedp.CSS(`#view a[href="#/all-tokens"]`)),
		chromedp.WaitVisible(chromedp.ID("tokens-next")),
	)
	first := rows()
	do(t, ctx, "next page",
		chromedp.Click(chromedp.ID("tokens-next")),
		chromedp.WaitVisible(chromedp.ID("tokens-first")),
	)
	second := rows()
	if n := run(t, ctx, "no next", chromedp.Evaluate[int](`document.querySelectorAll('#tokens-next').length`)); len(first) != 100 || len(second) != 4 || n != 0 {
		t.Fatalf("pages of %d and %d tokens (next link on the last: %d), want 100 and 4", len(first), len(second), n)
	}
	seen := map[string]bool{}
	for _, r := range append(first, second...) {
		if seen[r] {
			t.Fatalf("%s listed twice", r)
		}
		seen[r] = true
	}
	if !seen["hana/h0"] || !seen["admin/bootstrap"] {
		t.Fatalf("oldest tokens missing from the pages")
	}
	b.checkConsole()
}
