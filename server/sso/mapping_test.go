package sso_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

// A provider governs only what the configuration maps: without
// sso.roles (Google has no groups claim) the roles an administrator gave
// survive every sign-in, and so do the user's tokens; without
// sso.adminGroups the admin flag is tokenwright's own.
func TestUnmappedRolesAndAdminStayAsAdministratorsSetThem(t *testing.T) {
	frank := ssotest.User{ID: "id-frank", Username: "frank", Password: "pw-frank", Email: "frank@example.com", EmailVerified: true, Groups: []string{"tw-admins"}}
	e := start(t, func(c *config.Config) { c.SSO.AdminGroups, c.SSO.Roles = nil, nil }, frank)

	// An administrator creates frank with a role and promotes him.
	if s := e.tw.Do(t, e.tw.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "frank", Email: "frank@example.com", Roles: []string{"analyst"}, Admin: true}, nil); s != http.StatusCreated {
		t.Fatalf("creating frank: %d", s)
	}
	browser := e.signIn(t, frank)
	var pat api.KeyWithSecret
	status, data := e.call(t, browser, http.MethodPost, "/api/v1/users/me/tokens", api.CreateKey{Name: "laptop"}, nil)
	if status != http.StatusCreated {
		t.Fatalf("creating a PAT with the session: %d %s", status, data)
	}
	mustJSON(t, data, &pat)

	browser = e.signIn(t, frank)
	if status, me := e.me(t, browser); status != http.StatusOK || !me.Admin || !slices.Equal(me.Roles, []string{"analyst"}) {
		t.Fatalf("after two sign-ins without a mapping: %d %+v, want admin with roles [analyst]", status, me)
	}
	if e.patRevoked(t, "frank", pat.ID) {
		t.Fatal("a sign-in that maps no roles revoked the PAT")
	}
	e.tw.WantToken(t, pat.ClientID, pat.ClientSecret)

	// With only adminGroups mapped, the provider governs the flag (frank
	// is in tw-admins) and the roles stay.
	g := start(t, func(c *config.Config) { c.SSO.Roles = nil }, frank)
	if s := g.tw.Do(t, g.tw.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "frank", Email: "frank@example.com", Roles: []string{"analyst"}}, nil); s != http.StatusCreated {
		t.Fatalf("creating frank: %d", s)
	}
	if status, me := g.me(t, g.signIn(t, frank)); status != http.StatusOK || !me.Admin || !slices.Equal(me.Roles, []string{"analyst"}) {
		t.Fatalf("with adminGroups only: %d %+v, want admin (from tw-admins) with roles [analyst]", status, me)
	}
}
