package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

var ssoAlice = ssotest.User{ID: "id-alice", Username: "alice", Password: "pw-alice", Email: "alice@example.com", EmailVerified: true,
	Groups: []string{"data-science", "tw-admins"}}

// ssoConfig writes a configuration file for tokenwright at issuer signing
// in through the provider; extra is more YAML under sso:.
func ssoConfig(t *testing.T, issuer, opIssuer, clientID, extra string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenwright.yaml")
	yaml := fmt.Sprintf("listen: %s\nissuer: %s\ndataDir: %s\nsso:\n  issuer: %s\n  clientId: %s\n  adminGroups: [tw-admins]\n  roles: {data-science: analyst}\n%s",
		strings.TrimPrefix(issuer, "http://"), issuer, filepath.Join(dir, "data"), opIssuer, clientID, extra)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func secretFile(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sso-secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ssoCheck runs `tokenwright sso check --config path` and returns its
// output (stdout and stderr) and exit status.
func ssoCheck(t *testing.T, path string, env []string, extra ...string) (string, string, int) {
	t.Helper()
	return runStatus(t, env, append([]string{"sso", "check", "--config", path}, extra...)...)
}

// `tokenwright sso check` against the real example provider: a correct
// setup passes every rule (exit 0); a wrong client secret is reported as
// refused credentials (invalid_client), an unregistered redirect URI as
// the provider's error, an issuer without its trailing slash as a
// mismatch (exit 1 each, with the fix); private_key_jwt credentials are
// checked the same way.
func TestSSOCheckCLI(t *testing.T) {
	op := ssotest.StartWith(t, ssotest.Options{JWTClient: true}, ssoAlice)
	const tw = "http://127.0.0.1:18443"
	op.Register(t, tw+sso.CallbackPath)
	good := ssoConfig(t, tw, op.Issuer, op.ClientID, "  clientSecretFile: "+secretFile(t, op.ClientSecret)+"\n")

	out, stderr, code := ssoCheck(t, good, nil)
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("correct setup: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("correct setup:\n%s", out)
	wantIn(t, out, "PASS  issuer matches sso.issuer exactly: "+op.Issuer,
		"PASS  authorization code flow", "PASS  PKCE S256", "PASS  client authentication method: client_secret_basic",
		"PASS  client credentials accepted:", "invalid_grant", "PASS  redirect URI registered: an authorization request with "+tw+"/ui/callback led to the provider's login",
		"PASS  signing keys", "PASS  sign-out at the provider: end_session_endpoint")

	// The secret from the environment works the same way.
	env := ssoConfig(t, tw, op.Issuer, op.ClientID, "")
	if out, stderr, code := ssoCheck(t, env, []string{config.SSOClientSecretEnv + "=" + op.ClientSecret}); code != 0 {
		t.Fatalf("secret from the environment: exit %d\n%s%s", code, out, stderr)
	}

	wrong := ssoConfig(t, tw, op.Issuer, op.ClientID, "  clientSecretFile: "+secretFile(t, "not-the-secret")+"\n")
	out, stderr, code = ssoCheck(t, wrong, nil)
	if code != 1 || !strings.Contains(stderr, "Single sign-on would not work") {
		t.Fatalf("wrong secret: exit %d\n%s%s", code, out, stderr)
	}
	wantIn(t, line(t, out, "FAIL  client credentials accepted"), "invalid_client", "refused tokenwright's client credentials")
	wantIn(t, fixAfter(t, out, "FAIL  client credentials accepted"), "sso.clientSecretFile")

	unregistered := ssoConfig(t, "http://127.0.0.1:18444", op.Issuer, op.ClientID, "  clientSecretFile: "+secretFile(t, op.ClientSecret)+"\n")
	out, stderr, code = ssoCheck(t, unregistered, nil)
	if code != 1 {
		t.Fatalf("unregistered redirect URI: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("unregistered redirect URI:\n%s", out)
	wantIn(t, line(t, out, "FAIL  redirect URI registered"), "http://127.0.0.1:18444/ui/callback")
	wantIn(t, fixAfter(t, out, "FAIL  redirect URI registered"), "register http://127.0.0.1:18444/ui/callback as a redirect URI")
	if !strings.Contains(out, "PASS  client credentials accepted") {
		t.Fatalf("the credentials check should not depend on the redirect URI:\n%s", out)
	}

	noSlash := ssoConfig(t, tw, strings.TrimSuffix(op.Issuer, "/"), op.ClientID, "  clientSecretFile: "+secretFile(t, op.ClientSecret)+"\n")
	out, _, code = ssoCheck(t, noSlash, nil)
	if code != 1 {
		t.Fatalf("issuer without its slash: exit %d\n%s", code, out)
	}
	wantIn(t, fixAfter(t, out, "FAIL  issuer matches sso.issuer exactly"), fmt.Sprintf("set sso.issuer to %q", op.Issuer))

	jwt := ssoConfig(t, tw, op.Issuer, op.JWTClientID, "  clientKeyFile: "+op.JWTKeyFile+"\n  clientKeyId: "+op.JWTKeyID+"\n")
	out, stderr, code = ssoCheck(t, jwt, nil)
	if code != 0 {
		t.Fatalf("private_key_jwt: exit %d\n%s%s", code, out, stderr)
	}
	wantIn(t, out, "PASS  client authentication method: private_key_jwt", "PASS  client credentials accepted")
	otherKey := filepath.Join(t.TempDir(), "other.pem")
	ssotest.WriteKeyPair(t, otherKey, "")
	wrongKey := ssoConfig(t, tw, op.Issuer, op.JWTClientID, "  clientKeyFile: "+otherKey+"\n  clientKeyId: "+op.JWTKeyID+"\n")
	out, _, code = ssoCheck(t, wrongKey, nil)
	if code != 1 {
		t.Fatalf("wrong key: exit %d\n%s", code, out)
	}
	wantIn(t, line(t, out, "FAIL  client credentials accepted"), "invalid_client")
	wantIn(t, fixAfter(t, out, "FAIL  client credentials accepted"), "sso.clientKeyFile")

	// Two ways of giving the credential refuse to run, naming both.
	_, stderr, code = ssoCheck(t, good, []string{config.SSOClientSecretEnv + "=" + op.ClientSecret})
	if code == 0 || !strings.Contains(stderr, "not TOKENWRIGHT_SSO_CLIENT_SECRET and sso.clientSecretFile") {
		t.Fatalf("two credentials: exit %d: %s", code, stderr)
	}
}

// `sso check --sign-in` prints the check sign-in's URL; signing in there
// at the real provider shows what tokenwright reads and would do, and
// changes nothing: no user created, no session, no audit of a sign-in;
// for an existing user, no change of roles and no token revoked.
func TestSSOCheckSignInChangesNothing(t *testing.T) {
	op := ssotest.Start(t, ssoAlice)
	tw := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
			c.SSO.AdminGroups, c.SSO.Roles = []string{"tw-admins"}, map[string]string{"data-science": "analyst"}
		},
		Environ: op.Environ,
	})
	op.Register(t, tw.URL+sso.CallbackPath)
	path := ssoConfig(t, tw.URL, op.Issuer, op.ClientID, "  clientSecretFile: "+secretFile(t, op.ClientSecret)+"\n")
	out, stderr, code := ssoCheck(t, path, nil, "--sign-in")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	checkURL := lines[len(lines)-1]
	if checkURL != tw.URL+"/ui/login/sso?check=1" {
		t.Fatalf("--sign-in printed %q", checkURL)
	}

	report := func() string {
		t.Helper()
		browser := ssotest.Browser(t)
		resp, body := ssotest.SignIn(t, browser, checkURL, ssoAlice.Username, ssoAlice.Password)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("check sign-in: %d %s", resp.StatusCode, body)
		}
		for _, c := range browser.Jar.Cookies(resp.Request.URL) {
			if strings.Contains(c.Name, "tokenwright_session") {
				t.Fatalf("the check sign-in set a session cookie: %+v", c)
			}
		}
		return body
	}
	body := report()
	t.Logf("check sign-in page:\n%s", body)
	wantIn(t, body, "nothing was changed", `user name:     from claim preferred_username = "alice" -> "alice"`,
		`email:         from claim email = "alice@example.com" (email_verified: true)`,
		`groups:        from claim groups = ["data-science","tw-admins"]`,
		"administrator: yes (sso.adminGroups: tw-admins)", "roles:         analyst (sso.roles: data-science -> analyst)",
		`outcome:       ALLOWED: would create the user "alice"`)
	if s := tw.Do(t, tw.AdminToken, http.MethodGet, "/api/v1/users/alice", nil, nil); s != http.StatusNotFound {
		t.Fatalf("user after the check sign-in: %d", s)
	}
	var page api.List[api.AuditEvent]
	if s := tw.Do(t, tw.AdminToken, http.MethodGet, "/api/v1/audit?action=sso.signin", nil, &page); s != http.StatusOK || len(page.Items) != 0 {
		t.Fatalf("sso.signin events after the check: %d %+v", s, page.Items)
	}

	// An existing user whose roles would change: the report says so, and
	// nothing changes (the PAT survives).
	tw.Do(t, tw.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "alice", Email: "alice@example.com", Roles: []string{"operator"}}, nil)
	var pat api.KeyWithSecret
	if s := tw.Do(t, tw.AdminToken, http.MethodPost, "/api/v1/users/alice/tokens", api.CreateKey{Name: "laptop"}, &pat); s != http.StatusCreated {
		t.Fatalf("creating alice's PAT: %d", s)
	}
	body = report()
	wantIn(t, body, `outcome:       ALLOWED: would update the user "alice"`, "roles [operator] -> [analyst]",
		"their personal access tokens would be revoked first")
	var u api.User
	if s := tw.Do(t, tw.AdminToken, http.MethodGet, "/api/v1/users/alice", nil, &u); s != http.StatusOK || u.Admin || strings.Join(u.Roles, ",") != "operator" {
		t.Fatalf("alice after the check: %d %+v", s, u)
	}
	if s := tw.Do(t, pat.ClientSecret, http.MethodGet, "/api/v1/users/me", nil, nil); s != http.StatusOK {
		t.Fatalf("alice's PAT after the check: %d", s)
	}

	// A refusal is shown with its reason.
	tw.Do(t, tw.AdminToken, http.MethodPatch, "/api/v1/users/alice", map[string]any{"status": "inactive"}, nil)
	wantIn(t, report(), `outcome:       REFUSED: the tokenwright user "alice" is deactivated`)
}
