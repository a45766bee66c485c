package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/config"
)

// The sso defaults are the issue's: scopes openid, email, profile; the
// standard claims; users created on first sign-in; 8h/1h sessions.
func TestSSODefaults(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.SSO.Enabled() {
		t.Error("sso is on by default")
	}
	if !slices.Equal(c.SSO.Scopes, []string{"openid", "email", "profile"}) || c.SSO.UsernameClaim != "preferred_username" ||
		c.SSO.EmailClaim != "email" || c.SSO.GroupsClaim != "groups" || !c.SSO.AutoCreateUsers {
		t.Errorf("defaults: %+v", c.SSO)
	}
	if c.Console.SessionMaxAge.Std() != 8*time.Hour || c.Console.SessionIdleTimeout.Std() != time.Hour || !c.Console.PATSignIn {
		t.Errorf("console defaults: %+v", c.Console)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TOKENWRIGHT_SSO_CLIENT_SECRET is a secret read by the server, not a
// setting: Load neither refuses it nor stores it in the configuration.
func TestSSOClientSecretIsNotASetting(t *testing.T) {
	t.Parallel()
	c, err := config.Load("", []string{"TOKENWRIGHT_SSO_CLIENT_SECRET=s3cret", "TOKENWRIGHT_SSO_ISSUER=https://login.example.com/", "TOKENWRIGHT_SSO_CLIENT_ID=tw"})
	if err != nil {
		t.Fatal(err)
	}
	if c.SSO.Issuer != "https://login.example.com/" || c.SSO.ClientID != "tw" {
		t.Errorf("sso from the environment: %+v", c.SSO)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a provider issuer with a trailing slash must validate: %v", err)
	}
}

func TestSSOValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml, want string
	}{
		{"sso:\n  clientId: tw\n", "sso.issuer: must be set"},
		{"sso:\n  issuer: http://login.example.com/\n  clientId: tw\n", "sso.issuer: must use https"},
		{"sso:\n  issuer: https://login.example.com/?x=1\n  clientId: tw\n", "sso.issuer: must not contain"},
		{"sso:\n  issuer: https://login.example.com\n", "sso.clientId: must be set"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  scopes: [email]\n", "sso.scopes: must include openid"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  usernameClaim: \"\"\n", "sso.usernameClaim: must not be empty"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  usernameDomain: \"@example.com\"\n", "sso.usernameDomain: \"@example.com\" is not a domain"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  usernameDomain: localhost\n", "sso.usernameDomain: \"localhost\" is not a domain"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  roles: {ops: \"\"}\n", "sso.roles"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  roles: {ops: \"two words\"}\n", "sso.roles"},
		{"sso:\n  issuer: https://login.example.com\n  clientId: tw\n  allowedEmailDomains: [\"@example.com\"]\n", "sso.allowedEmailDomains"},
		{"console:\n  sessionMaxAge: 10s\n", "console.sessionMaxAge"},
		{"console:\n  sessionIdleTimeout: 9h\n", "console.sessionIdleTimeout"},
		{"console:\n  patSignIn: false\n", "console.patSignIn: false needs sso.issuer"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// console.patSignIn follows the environment convention
// (TOKENWRIGHT_CONSOLE_PAT_SIGN_IN), and false validates only with
// single sign-on configured (otherwise nobody could sign in).
func TestConsolePATSignIn(t *testing.T) {
	t.Parallel()
	c, err := config.Load("", []string{"TOKENWRIGHT_CONSOLE_PAT_SIGN_IN=false", "TOKENWRIGHT_SSO_ISSUER=https://login.example.com/", "TOKENWRIGHT_SSO_CLIENT_ID=tw"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.PATSignIn {
		t.Error("TOKENWRIGHT_CONSOLE_PAT_SIGN_IN=false left patSignIn on")
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("patSignIn false with sso: %v", err)
	}
	c, err = config.Load("", []string{"TOKENWRIGHT_CONSOLE_PAT_SIGN_IN=false"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "console.patSignIn") {
		t.Errorf("patSignIn false without sso: %v, want a lockout refusal", err)
	}
}
