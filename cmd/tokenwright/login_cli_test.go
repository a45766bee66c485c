package main_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

// gina is an administrator at the test provider (group tw-admins).
var gina = ssotest.User{ID: "id-gina", Username: "gina", Password: "pw-gina", Email: "gina@example.com", EmailVerified: true,
	Groups: []string{"tw-admins"}}

// startSSO runs the example OP and a tokenwright server signing in
// through it (tw-admins are administrators).
func startSSO(t *testing.T, users ...ssotest.User) *servertest.Server {
	t.Helper()
	return startSSOWith(t, ssotest.Start(t, users...))
}

func startSSOWith(t *testing.T, op *ssotest.Provider) *servertest.Server {
	t.Helper()
	tw := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID, c.SSO.AdminGroups = op.Issuer, op.ClientID, []string{"tw-admins"}
		},
		Environ: op.Environ,
	})
	op.Register(t, tw.URL+sso.CallbackPath)
	return tw
}

// recordingBrowser is a $BROWSER that writes the URL it is given to a
// file (and opens nothing): the test then plays the browser.
func recordingBrowser(t *testing.T) (browser, opened string) {
	t.Helper()
	dir := t.TempDir()
	opened = filepath.Join(dir, "opened")
	browser = filepath.Join(dir, "browser")
	script := "#!/bin/sh\nprintf '%s' \"$1\" > " + opened + ".tmp && mv " + opened + ".tmp " + opened + "\n"
	if err := os.WriteFile(browser, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return browser, opened
}

// login runs `tokenwright login` and plays the browser: it takes the URL
// from getURL (the $BROWSER's record, or the CLI's output), signs in at
// the provider's login page, and follows the redirects to the CLI's
// loopback listener. It returns the CLI's stdout and stderr.
func login(t *testing.T, env []string, u ssotest.User, getURL func(stderr string) string, args ...string) (string, string) {
	t.Helper()
	stdout, stderr, wait := startLogin(t, env, args...)
	var start string
	eventually.True(t, 30*time.Second, "the sign-in URL", func() bool { start = getURL(stderr.String()); return start != "" })
	// The CLI's listener takes only its own sign-in: a forged code with
	// another state is refused, and the CLI keeps waiting.
	parsed, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	forged := "http://127.0.0.1:" + parsed.Query().Get(sso.CLIPortParam) + "/callback?code=forged&state=forged-state-0000"
	if r, err := http.Get(forged); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a forged return to the CLI's listener: %v %v", r, err)
	}
	resp, body := ssotest.SignIn(t, ssotest.Browser(t), start, u.Username, u.Password)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Hostname() != "127.0.0.1" || resp.Request.URL.Path != "/callback" ||
		!strings.Contains(body, "Signed in") {
		t.Fatalf("the browser ended at %s with %d: %s\nCLI stderr: %s", resp.Request.URL, resp.StatusCode, body, stderr)
	}
	wait()
	return stdout.String(), stderr.String()
}

// startLogin starts `tokenwright login`; wait waits for it to succeed.
func startLogin(t *testing.T, env []string, args ...string) (stdout, stderr *syncBuffer, wait func()) {
	t.Helper()
	cmd := exec.Command(cliBinary(t), append([]string{"login"}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return stdout, stderr, func() {
		t.Helper()
		select {
		case <-exited:
			if waitErr != nil {
				t.Fatalf("tokenwright login: %v\nstderr: %s", waitErr, stderr)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("tokenwright login did not finish\nstderr: %s", stderr)
		}
	}
}

// urlIn is the first sign-in URL in the CLI's output.
func urlIn(out string) string {
	for _, f := range strings.Fields(out) {
		if strings.Contains(f, sso.LoginPath+"?") {
			return f
		}
	}
	return ""
}

// The whole CLI path through the real binary, the real server and the
// real provider: login (the browser from $BROWSER, played by the test
// through the provider's login page to the loopback redirect) stores a
// tws_ session credential, never a PAT, in the user config directory with
// mode 0600; whoami says who and how; an admin command uses the stored
// sign-in; logout ends it at the server and here, and the admin command
// is refused again. Sign-in and sign-out are audited.
func TestCLILoginWhoamiLogout(t *testing.T) {
	tw := startSSO(t, gina)
	cfg := t.TempDir()
	browser, opened := recordingBrowser(t)
	env := []string{"TOKENWRIGHT_SERVER=" + tw.URL, "XDG_CONFIG_HOME=" + cfg, "BROWSER=" + browser}

	if out := run(t, env, true, "user", "list"); !strings.Contains(out, "no credentials") || !strings.Contains(out, "tokenwright login") {
		t.Fatalf("user list before login: %s", out)
	}
	stdout, stderr := login(t, env, gina, func(string) string { data, _ := os.ReadFile(opened); return string(data) })
	if !strings.Contains(stdout, "Signed in to "+tw.URL+" as gina") {
		t.Fatalf("login's stdout: %s", stdout)
	}
	if data, _ := os.ReadFile(opened); !strings.Contains(stderr, string(data)) || !strings.HasPrefix(string(data), tw.URL+sso.LoginPath+"?") {
		t.Fatalf("the URL given to $BROWSER (%s) is not the one printed: %s", data, stderr)
	}

	dir := filepath.Join(cfg, "tokenwright")
	file := filepath.Join(dir, "logins.json")
	for path, want := range map[string]os.FileMode{dir: 0o700, file: 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want mode %o", path, st.Mode(), err, want)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Servers map[string]struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expiresAt"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	token := stored.Servers[tw.URL].Token
	if !strings.HasPrefix(token, "tws_") || strings.Contains(string(data), "twp_") || len(stored.Servers) != 1 {
		t.Fatalf("stored: %s", data)
	}

	var who struct {
		Server, UserName, Authentication string
		Admin                            bool
		ExpiresAt                        time.Time
		IdleTimeoutSeconds               int64
	}
	if err := json.Unmarshal([]byte(run(t, env, false, "whoami", "-o", "json")), &who); err != nil {
		t.Fatal(err)
	}
	if who.Server != tw.URL || who.UserName != "gina" || !who.Admin || who.Authentication != "single-sign-on" ||
		who.IdleTimeoutSeconds != 3600 || time.Until(who.ExpiresAt) < 7*time.Hour || time.Until(who.ExpiresAt) > 8*time.Hour {
		t.Fatalf("whoami: %+v", who)
	}
	if out := run(t, env, false, "whoami"); !strings.Contains(out, "single sign-on") || !strings.Contains(out, "gina") {
		t.Fatalf("whoami (table): %s", out)
	}
	// An admin command with the stored sign-in; a given token still wins.
	if out := run(t, env, false, "user", "list"); !strings.Contains(out, "gina") {
		t.Fatalf("user list with the stored sign-in: %s", out)
	}
	withPAT := append(env, "TOKENWRIGHT_TOKEN="+tw.AdminToken)
	if out := run(t, withPAT, false, "whoami", "-o", "json"); !strings.Contains(out, `"authentication": "personal-access-token"`) {
		t.Fatalf("whoami with a PAT: %s", out)
	}

	if out := run(t, env, false, "logout"); !strings.Contains(out, "Signed out of "+tw.URL) {
		t.Fatalf("logout: %s", out)
	}
	if data, _ := os.ReadFile(file); strings.Contains(string(data), "tws_") {
		t.Fatalf("the credential is still stored: %s", data)
	}
	if status := tw.Do(t, token, http.MethodGet, "/api/v1/users/me", nil, nil); status != http.StatusUnauthorized {
		t.Fatalf("the logged-out credential at the server: %d", status)
	}
	if out := run(t, env, true, "user", "list"); !strings.Contains(out, "no credentials") {
		t.Fatalf("user list after logout: %s", out)
	}
	if out := run(t, env, false, "logout"); !strings.Contains(out, "Not signed in") {
		t.Fatalf("logout twice: %s", out)
	}

	audit := func(action string) []api.AuditEvent {
		var page api.List[api.AuditEvent]
		tw.Do(t, tw.AdminToken, http.MethodGet, "/api/v1/audit?action="+url.QueryEscape(action), nil, &page)
		return page.Items
	}
	if ev := audit("sso.signin"); len(ev) != 1 || ev[0].Actor != "gina" || ev[0].Result != store.ResultSuccess || ev[0].Details["client"] != "cli" {
		t.Fatalf("sso.signin events %+v", ev)
	}
	if ev := audit("sso.signout"); len(ev) != 1 || ev[0].Actor != "gina" || ev[0].Details["client"] != "cli" {
		t.Fatalf("sso.signout events %+v", ev)
	}
}

// --no-browser opens nothing and uses the provider's device
// authorization: the CLI prints the verification address and the user
// code, the person signs in there (the test, at the example provider's
// device page), and the CLI's polls end in a stored sign-in. An expired
// stored sign-in makes admin commands say to run tokenwright login.
func TestCLILoginNoBrowserAndExpiry(t *testing.T) {
	tw := startSSO(t, gina)
	cfg := t.TempDir()
	browser, opened := recordingBrowser(t)
	env := []string{"TOKENWRIGHT_SERVER=" + tw.URL, "XDG_CONFIG_HOME=" + cfg, "BROWSER=" + browser}
	stdout, stderr, wait := startLogin(t, env, "--no-browser")
	var uri, code string
	eventually.True(t, 30*time.Second, "the device sign-in instructions", func() bool {
		f := strings.Fields(stderr.String())
		for i := range f {
			if f[i] == "open" && i+1 < len(f) && uri == "" {
				uri = f[i+1]
			}
			if f[i] == "code" && i+1 < len(f) {
				code = f[i+1]
			}
		}
		return uri != "" && code != ""
	})
	if page := ssotest.DeviceSignIn(t, uri, code, gina.Username, gina.Password); !strings.Contains(page, "allowed") {
		t.Fatalf("the provider's device confirmation: %s", page)
	}
	wait()
	if _, err := os.Stat(opened); !os.IsNotExist(err) || !strings.Contains(stdout.String(), "Signed in to "+tw.URL+" as gina") {
		t.Fatalf("--no-browser opened a browser (%v) or did not sign in: %s\n%s", err, stdout, stderr)
	}
	if out := run(t, env, false, "user", "get", "me"); !strings.Contains(out, "gina") {
		t.Fatalf("user get me: %s", out)
	}

	file := filepath.Join(cfg, "tokenwright", "logins.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]map[string]map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f["servers"][tw.URL]["expiresAt"] = time.Now().Add(-time.Minute).Format(time.RFC3339)
	data, _ = json.Marshal(f)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, env, true, "user", "list")
	if !strings.Contains(out, "expired") || !strings.Contains(out, "tokenwright login --server "+tw.URL) {
		t.Fatalf("user list with an expired sign-in: %s", out)
	}
}

// --no-browser with a provider that offers no device authorization says
// so, opens nothing, and prints the sign-in URL for a browser on this
// computer, which completes as usual.
func TestCLILoginNoBrowserWithoutDeviceGrant(t *testing.T) {
	tw := startSSOWith(t, ssotest.StartWith(t, ssotest.Options{NoDeviceGrant: true}, gina))
	browser, opened := recordingBrowser(t)
	env := []string{"TOKENWRIGHT_SERVER=" + tw.URL, "XDG_CONFIG_HOME=" + t.TempDir(), "BROWSER=" + browser}
	stdout, stderr := login(t, env, gina, urlIn, "--no-browser")
	if _, err := os.Stat(opened); !os.IsNotExist(err) || !strings.Contains(stderr, "offers no device authorization") ||
		!strings.Contains(stderr, "Open this URL in a browser on this computer") || !strings.Contains(stdout, "as gina") {
		t.Fatalf("--no-browser without the device grant (browser opened: %v):\n%s\n%s", err == nil, stdout, stderr)
	}
}

// Against a server without single sign-on, login says so and opens no
// browser.
func TestCLILoginWithoutSSO(t *testing.T) {
	tw := servertest.Start(t, servertest.Options{})
	browser, opened := recordingBrowser(t)
	env := []string{"TOKENWRIGHT_SERVER=" + tw.URL, "XDG_CONFIG_HOME=" + t.TempDir(), "BROWSER=" + browser}
	out := run(t, env, true, "login")
	if !strings.Contains(out, "no single sign-on") || strings.Contains(out, sso.LoginPath) {
		t.Fatalf("login without sso: %s", out)
	}
	if _, err := os.Stat(opened); !os.IsNotExist(err) {
		t.Fatal("a browser was opened")
	}
}
