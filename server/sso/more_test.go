package sso_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

// With allowedEmailDomains, an email the provider marks unverified is
// refused even in an allowed domain.
func TestUnverifiedEmailRefused(t *testing.T) {
	dave := ssotest.User{ID: "id-dave", Username: "dave", Password: "pw-dave", Email: "dave@example.com",
		Claims: map[string]any{"email_verified": false}}
	e := start(t, func(c *config.Config) { c.SSO.AllowedEmailDomains = []string{"example.com"} }, dave)
	e.refused(t, dave, http.StatusForbidden, "not verified")
}

// The first sign-in links the user to the provider's subject: another
// identity whose username claim maps to the same name is refused.
func TestUserLinkedToOneIdentity(t *testing.T) {
	frank := ssotest.User{ID: "id-frank", Username: "frank1", GivenName: "frank", Password: "pw-1", Email: "frank@example.com", EmailVerified: true}
	impostor := ssotest.User{ID: "id-impostor", Username: "frank2", GivenName: "frank", Password: "pw-2", Email: "impostor@example.com", EmailVerified: true}
	e := start(t, func(c *config.Config) { c.SSO.UsernameClaim = "given_name" }, frank, impostor)
	e.signIn(t, frank)
	e.refused(t, impostor, http.StatusForbidden, "linked to another identity")
	e.signIn(t, frank) // the linked identity still signs in
}

// An email another account holds refuses the sign-in (no user created).
func TestEmailOfAnotherAccountRefused(t *testing.T) {
	grace := ssotest.User{ID: "id-grace", Username: "grace", Password: "pw-grace", Email: "grace@example.com", EmailVerified: true}
	e := start(t, nil, grace)
	e.tw.CreateAccount(t, api.CreateServiceAccount{UserName: "grace-bot", Email: "grace@example.com"})
	e.refused(t, grace, http.StatusForbidden, "belongs to another tokenwright account")
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodGet, "/api/v1/users/grace", nil, nil); s != http.StatusNotFound {
		t.Fatalf("user after the refusal: %d", s)
	}
}

// A session ends after console.sessionIdleTimeout unused, and after
// console.sessionMaxAge however active (the server's clock is moved; the
// provider's is real).
func TestSessionTimeouts(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	op := ssotest.Start(t, alice)
	tw := servertest.Start(t, servertest.Options{Now: now,
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
			c.Console.SessionMaxAge, c.Console.SessionIdleTimeout = config.Duration(3*time.Hour), config.Duration(time.Hour)
		},
		Environ: op.Environ})
	op.Register(t, tw.URL+sso.CallbackPath)
	e := env{op: op, tw: tw}
	advance := func(d time.Duration) { offset.Add(int64(d)) }

	idle := e.signIn(t, alice)
	advance(59 * time.Minute)
	if s, _ := e.me(t, idle); s != http.StatusOK {
		t.Fatalf("used after 59m: %d", s)
	}
	advance(59 * time.Minute) // 59m after its last use
	if s, _ := e.me(t, idle); s != http.StatusOK {
		t.Fatalf("used again 59m later: %d", s)
	}
	advance(61 * time.Minute)
	if s, _ := e.me(t, idle); s != http.StatusUnauthorized {
		t.Fatalf("unused for 61m: %d", s)
	}

	active := e.signIn(t, alice)
	for range 3 { // used every 55m: never idle
		advance(55 * time.Minute)
		if s, _ := e.me(t, active); s != http.StatusOK {
			t.Fatalf("active session refused at %s: %d", time.Duration(offset.Load()), s)
		}
	}
	advance(20 * time.Minute) // 3h05m after sign-in
	if s, _ := e.me(t, active); s != http.StatusUnauthorized {
		t.Fatalf("past sessionMaxAge: %d", s)
	}
	if ev := e.audit(t, "session.expire"); len(ev) != 2 {
		t.Fatalf("%d session.expire events, want 2", len(ev))
	}
}

// A user's allowed networks bind their session as they bind their
// tokens: with allowedCidrs excluding 127.0.0.1, the session is refused.
func TestSessionBoundByUsersAllowedNetworks(t *testing.T) {
	e := start(t, nil, alice)
	browser := e.signIn(t, alice)
	cidrs := []string{"10.0.0.0/8"}
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodPatch, "/api/v1/users/alice", api.UpdateUser{AllowedCIDRs: &cidrs}, nil); s != http.StatusOK {
		t.Fatalf("restricting alice: %d", s)
	}
	if status, body := e.call(t, browser, http.MethodGet, "/api/v1/users/me", nil, nil); status != http.StatusUnauthorized || !strings.Contains(string(body), "address") {
		t.Fatalf("session from outside the allowed networks: %d %s", status, body)
	}
	cidrs = []string{"127.0.0.0/8"}
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodPatch, "/api/v1/users/alice", api.UpdateUser{AllowedCIDRs: &cidrs}, nil); s != http.StatusOK {
		t.Fatalf("widening alice: %d", s)
	}
	if status, _ := e.me(t, browser); status != http.StatusOK {
		t.Fatalf("session from inside the allowed networks: %d", status)
	}
}

// A provider that gives no email address: refused (tokenwright users
// have one), not created.
func TestNoEmailRefused(t *testing.T) {
	ivy := ssotest.User{ID: "id-ivy", Username: "ivy", Password: "pw-ivy"}
	e := start(t, nil, ivy)
	e.refused(t, ivy, http.StatusForbidden, "no valid email address")
}
