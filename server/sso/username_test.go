package sso_test

import (
	"net/http"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

// Entra ID and Okta put the sign-in address in preferred_username, and
// Google has only email: sso.usernameDomain cuts exactly one domain, so
// dana@example.com signs in as "dana" and an address in another domain
// (which could otherwise map to the same name) is refused.
func TestUsernameDomain(t *testing.T) {
	dana := ssotest.User{ID: "id-dana", Username: "Dana@Example.com", Password: "pw-dana", Email: "dana@example.com", EmailVerified: true}
	other := ssotest.User{ID: "id-dana-2", Username: "dana@example.org", Password: "pw-dana-2", Email: "dana@example.org", EmailVerified: true}
	plain := ssotest.User{ID: "id-erin", Username: "erin", Password: "pw-erin", Email: "erin@example.com", EmailVerified: true}
	e := start(t, func(c *config.Config) { c.SSO.UsernameDomain = "example.com" }, dana, other, plain)

	browser := e.signIn(t, dana)
	if status, me := e.me(t, browser); status != http.StatusOK || me.UserName != "dana" {
		t.Fatalf("dana@example.com signed in as %d %+v, want user dana", status, me)
	}
	e.refused(t, other, http.StatusForbidden, `&#34;dana@example.org&#34; is not an address in example.com (sso.usernameDomain)`)
	e.refused(t, plain, http.StatusForbidden, "is not an address in example.com")

	// Without the setting, an address is not a user name.
	strict := start(t, nil, dana)
	strict.refused(t, dana, http.StatusForbidden, "not a valid tokenwright user name")
}

func TestCutUsernameDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, domain, want string
		ok                 bool
	}{
		{"alice@example.com", "example.com", "alice", true},
		{"alice@example.com", "Example.COM", "alice", true},
		{"alice@sub.example.com", "example.com", "", false},
		{"alice@badexample.com", "example.com", "", false},
		{"a@b@example.com", "example.com", "", false},
		{"@example.com", "example.com", "", false},
		{"alice", "example.com", "", false},
	} {
		got, ok := sso.CutUsernameDomain(tc.name, tc.domain)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CutUsernameDomain(%q, %q) = %q, %v; want %q, %v", tc.name, tc.domain, got, ok, tc.want, tc.ok)
		}
	}
}
