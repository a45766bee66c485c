package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
)

// SSO is the `sso:` section: OpenID Connect sign-in of people to the
// console through one provider (server/sso). It is off unless issuer is
// set. The client secret is a secret, not a setting: clientSecretFile, or
// the TOKENWRIGHT_SSO_CLIENT_SECRET variable (read by the server, never
// written into the configuration).
type SSO struct {
	// Issuer is the provider's issuer exactly as it publishes it (a
	// trailing slash included): ID tokens are compared with it as
	// written. It is not held to tokenwright's own issuer rules (which
	// forbid the trailing slash).
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"clientId"`
	ClientSecretFile string   `yaml:"clientSecretFile"`
	Scopes           []string `yaml:"scopes"`
	UsernameClaim    string   `yaml:"usernameClaim"`
	// UsernameDomain, when set, lets a username claim that is an email
	// address (Entra ID's and Okta's preferred_username, Google's email)
	// become a user name: "alice@example.com" is "alice". Only this one
	// domain is cut, so two people never map to one name; a value in any
	// other domain, or without one, is refused.
	UsernameDomain string `yaml:"usernameDomain"`
	EmailClaim     string `yaml:"emailClaim"`
	GroupsClaim    string `yaml:"groupsClaim"`
	// AdminGroups: membership of any makes the user an administrator.
	AdminGroups []string `yaml:"adminGroups"`
	// Roles maps a provider group to a tokenwright role.
	Roles map[string]string `yaml:"roles"`
	// AllowedEmailDomains, when set, refuses a sign-in whose email is in
	// none of them (compared case-insensitively, exact domain).
	AllowedEmailDomains []string `yaml:"allowedEmailDomains"`
	AutoCreateUsers     bool     `yaml:"autoCreateUsers"`
	// ClientKeyFile, instead of a client secret, authenticates tokenwright
	// to the provider with private_key_jwt: a PEM private key (RSA, or EC
	// P-256/P-384/P-521) whose public key is registered at the provider,
	// signed under the key id ClientKeyID (the JWT's kid; some providers
	// need it to pick the key).
	ClientKeyFile string `yaml:"clientKeyFile"`
	ClientKeyID   string `yaml:"clientKeyId"`
}

// Enabled reports whether single sign-on is configured.
func (s SSO) Enabled() bool { return s.Issuer != "" }

// Console is the `console:` section: the web console's sign-in sessions.
type Console struct {
	// SessionMaxAge ends a session this long after sign-in, however
	// active (absolute timeout).
	SessionMaxAge Duration `yaml:"sessionMaxAge"`
	// SessionIdleTimeout ends a session not used for this long.
	SessionIdleTimeout Duration `yaml:"sessionIdleTimeout"`
	// PATSignIn: the console offers sign-in with a personal access token
	// (the break-glass path). False hides the form and makes the admin API
	// refuse bearer tokens sent from the console's pages (admin.API
	// WithoutConsoleBearer); PATs keep working for scripts and the CLI.
	PATSignIn bool `yaml:"patSignIn"`
}

// SSOClientSecretEnv is the variable that carries the client secret when
// sso.clientSecretFile is not set.
const SSOClientSecretEnv = "TOKENWRIGHT_SSO_CLIENT_SECRET"

func defaultSSO() SSO {
	return SSO{
		Scopes:        []string{"openid", "email", "profile"},
		UsernameClaim: "preferred_username",
		EmailClaim:    "email",
		GroupsClaim:   "groups",
		// AutoCreateUsers defaults to true: the provider, and
		// allowedEmailDomains, decide who may sign in.
		AutoCreateUsers: true,
	}
}

func defaultConsole() Console {
	return Console{SessionMaxAge: Duration(8 * time.Hour), SessionIdleTimeout: Duration(time.Hour), PATSignIn: true}
}

// validateSSO checks sso and console.
func (c *Config) validateSSO() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, fmt.Errorf(key+": "+format, args...)) }
	m, idle := c.Console.SessionMaxAge.Std(), c.Console.SessionIdleTimeout.Std()
	if m < time.Minute || m > 30*24*time.Hour {
		bad("console.sessionMaxAge", "must be between 1m and 30d, got %s", m)
	}
	if idle < time.Minute || idle > m {
		bad("console.sessionIdleTimeout", "must be between 1m and console.sessionMaxAge, got %s", idle)
	}
	if !c.Console.PATSignIn && !c.SSO.Enabled() {
		bad("console.patSignIn", "false needs sso.issuer: with neither, nobody could sign in to the console")
	}
	s := c.SSO
	if !s.Enabled() {
		if s.ClientID != "" || s.ClientSecretFile != "" || s.ClientKeyFile != "" || s.ClientKeyID != "" || len(s.AdminGroups) > 0 || len(s.Roles) > 0 || len(s.AllowedEmailDomains) > 0 || s.UsernameDomain != "" {
			bad("sso.issuer", "must be set when other sso settings are")
		}
		return errs
	}
	u, err := url.Parse(s.Issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		bad("sso.issuer", "must be an absolute http(s) URL, got %q", s.Issuer)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		bad("sso.issuer", "must not contain a query, fragment or user info")
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		bad("sso.issuer", "must use https (plain http is allowed only for loopback addresses), got %q", s.Issuer)
	}
	if s.ClientID == "" {
		bad("sso.clientId", "must be set")
	}
	if s.ClientKeyFile != "" && s.ClientSecretFile != "" {
		bad("sso.clientKeyFile", "set either sso.clientSecretFile (client secret) or sso.clientKeyFile (private_key_jwt), not both")
	}
	if s.ClientKeyID != "" && s.ClientKeyFile == "" {
		bad("sso.clientKeyId", "is the key id of sso.clientKeyFile, which is not set")
	}
	if !slices.Contains(s.Scopes, "openid") {
		bad("sso.scopes", "must include openid, got %v", s.Scopes)
	}
	for key, v := range map[string]string{"sso.usernameClaim": s.UsernameClaim, "sso.emailClaim": s.EmailClaim, "sso.groupsClaim": s.GroupsClaim} {
		if v == "" {
			bad(key, "must not be empty")
		}
	}
	for g, r := range s.Roles {
		if g == "" || !accounts.ValidRole(r) {
			bad("sso.roles", "group %q maps to %q: the group must not be empty and the role must be a valid role name", g, r)
		}
	}
	if d := s.UsernameDomain; d != "" && (strings.ContainsAny(d, "@ /") || !strings.Contains(d, ".")) {
		bad("sso.usernameDomain", "%q is not a domain (write example.com, not @example.com)", d)
	}
	for _, d := range s.AllowedEmailDomains {
		if d == "" || strings.ContainsAny(d, "@ /") {
			bad("sso.allowedEmailDomains", "%q is not a domain (write example.com, not @example.com)", d)
		}
	}
	return errs
}
