package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/testclock"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// tokenFor returns the HTTP status and error code of a token request.
func wantInvalidClient(t *testing.T, s *servertest.Server, clientID, secret string) {
	t.Helper()
	if status, code := s.ClientCredentials(t, clientID, secret); status != 401 || code != "invalid_client" {
		t.Fatalf("token for %s: HTTP %d %s, want 401 invalid_client", clientID, status, code)
	}
}

func must(t *testing.T, code, want int, what string) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: HTTP %d, want %d", what, code, want)
	}
}

func TestCredentialsRefusedImmediatelyAfterAPICall(t *testing.T) {
	t.Parallel()
	clk := testclock.New()
	s := servertest.Start(t, servertest.Options{Now: clk.Now})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc2", Email: "svc2@example.com"})
	short := int64(60)
	revoked := s.CreateKey(t, "svc", api.CreateKey{Name: "revoked"})
	expiring := s.CreateKey(t, "svc", api.CreateKey{Name: "expiring", ExpiresIn: &short})
	deleted := s.CreateKey(t, "svc", api.CreateKey{Name: "deleted"})
	fenced := s.CreateKey(t, "svc", api.CreateKey{Name: "fenced", CIDRs: []string{"10.0.0.0/8"}})
	local := s.CreateKey(t, "svc", api.CreateKey{Name: "local", CIDRs: []string{"127.0.0.0/8", "::1/128"}})
	other := s.CreateKey(t, "svc2", api.CreateKey{Name: "other"})
	for _, k := range []api.KeyWithSecret{revoked, expiring, deleted, local} {
		s.WantToken(t, "svc", k.ClientSecret)
	}
	s.WantToken(t, "svc2", other.ClientSecret)

	// Outside the key's CIDR allow-list.
	wantInvalidClient(t, s, "svc", fenced.ClientSecret)

	var k api.Key
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+revoked.ID+":revoke", nil, &k), 200, "revoke")
	if k.Status != "revoked" || k.IsValid || k.RevokedAt == nil {
		t.Fatalf("revoked key %+v", k)
	}
	wantInvalidClient(t, s, "svc", revoked.ClientSecret)

	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/service-accounts/svc/keys/"+deleted.ID, nil, nil), 204, "delete")
	wantInvalidClient(t, s, "svc", deleted.ClientSecret)
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/svc/keys/"+deleted.ID, nil, nil), 404, "get deleted")

	clk.Advance(61 * time.Second)
	wantInvalidClient(t, s, "svc", expiring.ClientSecret)
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/svc/keys/"+expiring.ID, nil, &k), 200, "get expired")
	if k.Status != "expired" || k.IsValid {
		t.Fatalf("expired key %+v", k)
	}
	s.WantToken(t, "svc", local.ClientSecret)

	var sa api.ServiceAccount
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc2:deactivate", nil, &sa), 200, "deactivate")
	if sa.Status != "inactive" {
		t.Fatalf("status %s", sa.Status)
	}
	wantInvalidClient(t, s, "svc2", other.ClientSecret)
	var keys api.List[api.Key]
	s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/svc2/keys", nil, &keys)
	if len(keys.Items) != 1 {
		t.Fatal("a deactivated account's keys must stay listed")
	}
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc2:activate", nil, &sa), 200, "activate")
	s.WantToken(t, "svc2", other.ClientSecret)

	// Account CIDR allow-list applies to every key.
	cidrs := []string{"192.0.2.0/24"}
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc2", api.UpdateServiceAccount{AllowedCIDRs: &cidrs}, nil), 200, "patch cidrs")
	wantInvalidClient(t, s, "svc2", other.ClientSecret)

	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/service-accounts/svc2", nil, nil), 204, "delete account")
	wantInvalidClient(t, s, "svc2", other.ClientSecret)
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/svc2/keys", nil, nil), 404, "keys of deleted account")
	if _, err := s.Server.Store().GetKey(context.Background(), other.ID); err == nil {
		t.Fatal("deleting the account left its key in the store")
	}

	// Revoke all: every key of the account, in one call.
	var res api.RevokeAllResult
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys:revokeAll", nil, &res), 200, "revoke all")
	if res.Revoked != 3 { // expiring, fenced and local were not yet revoked
		t.Fatalf("revoked %d", res.Revoked)
	}
	wantInvalidClient(t, s, "svc", local.ClientSecret)
}

func TestRotationOverlapEndsOnItsOwn(t *testing.T) {
	t.Parallel()
	clk := testclock.New()
	s := servertest.Start(t, servertest.Options{Now: clk.Now})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	k := s.CreateKey(t, "svc", api.CreateKey{Name: "rotating"})

	grace := int64(3600)
	var rotated api.KeyWithSecret
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", api.RotateKey{GracePeriod: &grace}, &rotated), 200, "rotate")
	if rotated.ID != k.ID || rotated.ClientSecret == k.ClientSecret || rotated.PreviousSecretExpiresAt == nil || rotated.RotatedAt == nil {
		t.Fatalf("rotated %+v", rotated)
	}
	s.WantToken(t, "svc", rotated.ClientSecret)
	s.WantToken(t, "svc", k.ClientSecret) // overlap

	clk.Advance(3599 * time.Second)
	s.WantToken(t, "svc", k.ClientSecret)
	clk.Advance(2 * time.Second)
	wantInvalidClient(t, s, "svc", k.ClientSecret) // grace over, stopped on its own
	s.WantToken(t, "svc", rotated.ClientSecret)

	// Default grace is 24 h; a second rotation ends the oldest secret at once.
	var second api.KeyWithSecret
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", nil, &second), 200, "rotate again")
	if d := second.PreviousSecretExpiresAt.Sub(clk.Now()); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("default grace %v", d)
	}
	var third api.KeyWithSecret
	zero := int64(0)
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", api.RotateKey{GracePeriod: &zero}, &third), 200, "rotate without grace")
	wantInvalidClient(t, s, "svc", rotated.ClientSecret)
	wantInvalidClient(t, s, "svc", second.ClientSecret)
	s.WantToken(t, "svc", third.ClientSecret)

	bad := int64(-5)
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", api.RotateKey{GracePeriod: &bad}, nil), 400, "negative grace")
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":revoke", nil, nil), 200, "revoke")
	var e api.Error
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", nil, &e), 409, "rotate revoked")
	if e.Code != "conflict" || !strings.Contains(e.Message, "revoked") {
		t.Fatalf("rotate revoked: %+v", e)
	}
}

func claimsOfToken(t *testing.T, jwt string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoleChangeRevokesPATsButKeysKeepTheirSnapshot(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	var bob api.User
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "bob", Email: "bob@example.com", Roles: []string{"viewer"}}, &bob), 201, "create user")
	var pat api.KeyWithSecret
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/bob/tokens", api.CreateKey{Name: "Laptop"}, &pat), 201, "create PAT")
	if pat.Name != "laptop" || pat.Kind != "personal" || !strings.HasPrefix(pat.ClientSecret, "twp_") {
		t.Fatalf("PAT %+v", pat)
	}
	var me api.User
	must(t, s.Do(t, pat.ClientSecret, "GET", "/api/v1/users/me", nil, &me), 200, "PAT on the admin API")
	if me.UserName != "bob" {
		t.Fatalf("me = %+v", me)
	}
	// A PAT can be exchanged for a JWT too; client_id is the user name.
	status, body, _ := postToken(t, s, url.Values{"grant_type": {"client_credentials"}}, "bob", pat.ClientSecret)
	if status != 200 {
		t.Fatalf("PAT exchange: HTTP %d %v", status, body)
	}
	if c := claimsOfToken(t, body["access_token"].(string)); c["sub"] != "bob" || c["email"] != "bob@example.com" {
		t.Fatalf("PAT token claims %v", c)
	}

	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Roles: []string{"reader"}})
	key := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{AddRoles: []string{"writer"}, RemoveRoles: []string{"reader"}}, nil), 200, "change account roles")
	_, body, _ = postToken(t, s, url.Values{"grant_type": {"client_credentials"}}, "svc", key.ClientSecret)
	if roles, _ := json.Marshal(claimsOfToken(t, body["access_token"].(string))["roles"]); string(roles) != `["reader"]` {
		t.Fatalf("service key lost its role snapshot: %s", roles)
	}

	var updated api.User
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/bob", api.UpdateUser{AddRoles: []string{"editor"}}, &updated), 200, "change user roles")
	if strings.Join(updated.Roles, ",") != "viewer,editor" {
		t.Fatalf("roles %v", updated.Roles)
	}
	must(t, s.Do(t, pat.ClientSecret, "GET", "/api/v1/users/me", nil, nil), 401, "PAT after role change")
	wantInvalidClient(t, s, "bob", pat.ClientSecret)
	var list api.List[api.Key]
	s.Do(t, s.AdminToken, "GET", "/api/v1/users/bob/tokens", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Status != "revoked" {
		t.Fatalf("PATs after role change: %+v", list.Items)
	}
	// Changing only the email does not revoke.
	var pat2 api.KeyWithSecret
	s.Do(t, s.AdminToken, "POST", "/api/v1/users/bob/tokens", api.CreateKey{Name: "laptop2"}, &pat2)
	email := "robert@example.com"
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/bob", api.UpdateUser{Email: &email}, nil), 200, "change email")
	must(t, s.Do(t, pat2.ClientSecret, "GET", "/api/v1/users/me", nil, nil), 200, "PAT after email change")
}

func TestOwnersManageKeysOnly(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	pats := map[string]string{}
	for _, u := range []string{"alice", "mallory"} {
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: u, Email: u + "@example.com"}, nil), 201, "user "+u)
		var p api.KeyWithSecret
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/"+u+"/tokens", api.CreateKey{Name: "cli"}, &p), 201, "PAT "+u)
		pats[u] = p.ClientSecret
	}
	var e api.Error
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Owners: []string{"ghost"}}, &e), 400, "unknown owner")
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", AllowedScopes: []string{"a"}})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "hidden", Email: "hidden@example.com"})
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/owners", api.Owner{UserName: "alice"}, nil), 200, "add owner")

	alice, mallory := pats["alice"], pats["mallory"]
	// The owner sees only their accounts and manages the keys.
	var list api.List[api.ServiceAccount]
	s.Do(t, alice, "GET", "/api/v1/service-accounts", nil, &list)
	if len(list.Items) != 1 || list.Items[0].UserName != "svc" {
		t.Fatalf("owner sees %+v", list.Items)
	}
	var k api.KeyWithSecret
	must(t, s.Do(t, alice, "POST", "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "by-owner"}, &k), 201, "owner creates key")
	s.WantToken(t, "svc", k.ClientSecret)
	must(t, s.Do(t, alice, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", nil, &k), 200, "owner rotates")
	must(t, s.Do(t, alice, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":revoke", nil, nil), 200, "owner revokes")
	must(t, s.Do(t, alice, "POST", "/api/v1/service-accounts/svc/keys:revokeAll", nil, nil), 200, "owner revokes all")
	// ...but cannot widen the account's powers or administer it.
	roles := []string{"admin"}
	must(t, s.Do(t, alice, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{Roles: &roles}, &e), 403, "owner changes roles")
	scopes := []string{"a", "b"}
	must(t, s.Do(t, alice, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{AllowedScopes: &scopes}, nil), 403, "owner changes scopes")
	must(t, s.Do(t, alice, "DELETE", "/api/v1/service-accounts/svc", nil, nil), 403, "owner deletes")
	must(t, s.Do(t, alice, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "x", Email: "x@example.com"}, nil), 403, "owner creates account")
	must(t, s.Do(t, alice, "GET", "/api/v1/service-accounts/hidden", nil, nil), 404, "owner reads other account")

	// A non-owner learns nothing: 404, the same as for an account that does not exist.
	for _, path := range []string{"/api/v1/service-accounts/svc", "/api/v1/service-accounts/svc/keys", "/api/v1/service-accounts/nonexistent"} {
		must(t, s.Do(t, mallory, "GET", path, nil, &e), 404, "non-owner GET "+path)
	}
	must(t, s.Do(t, mallory, "POST", "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "x"}, nil), 404, "non-owner creates key")
	must(t, s.Do(t, mallory, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":revoke", nil, nil), 404, "non-owner revokes")
	must(t, s.Do(t, mallory, "GET", "/api/v1/users", nil, nil), 403, "non-admin lists users")
	must(t, s.Do(t, mallory, "GET", "/api/v1/audit", nil, nil), 403, "non-admin reads audit")

	// Removing the owner ends the delegation.
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/service-accounts/svc/owners/alice", nil, nil), 200, "remove owner")
	must(t, s.Do(t, alice, "GET", "/api/v1/service-accounts/svc/keys", nil, nil), 404, "former owner")
}

func TestPersonalAccessTokens(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	for _, u := range []string{"alice", "bob"} {
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: u, Email: u + "@example.com"}, nil), 201, "user")
	}
	var alice api.KeyWithSecret
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/alice/tokens", api.CreateKey{Name: "bootstrap"}, &alice), 201, "admin creates PAT for alice")

	var mine api.KeyWithSecret
	must(t, s.Do(t, alice.ClientSecret, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: "My-Laptop.2", Description: "work"}, &mine), 201, "own PAT")
	if mine.Name != "my-laptop.2" {
		t.Fatalf("name not lowercased: %q", mine.Name)
	}
	var e api.Error
	must(t, s.Do(t, alice.ClientSecret, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: "my-laptop.2"}, &e), 409, "duplicate PAT name")
	for _, bad := range []string{"my laptop", "ünïcode", "", "a/b", "x_y"} {
		must(t, s.Do(t, alice.ClientSecret, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: bad}, &e), 400, "PAT name "+bad)
	}
	must(t, s.Do(t, alice.ClientSecret, "POST", "/api/v1/users/bob/tokens", api.CreateKey{Name: "x"}, nil), 404, "PAT for someone else")
	must(t, s.Do(t, alice.ClientSecret, "GET", "/api/v1/users/bob/tokens", nil, nil), 404, "someone else's PATs")
	must(t, s.Do(t, alice.ClientSecret, "GET", "/api/v1/tokens", nil, nil), 403, "all PATs as non-admin")

	var bobPAT api.KeyWithSecret
	s.Do(t, s.AdminToken, "POST", "/api/v1/users/bob/tokens", api.CreateKey{Name: "laptop"}, &bobPAT)
	must(t, s.Do(t, alice.ClientSecret, "POST", "/api/v1/users/me/tokens/"+bobPAT.ID+":revoke", nil, nil), 404, "revoke another user's PAT by id")

	var all api.List[api.Key]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/tokens", nil, &all), 200, "all PATs")
	if len(all.Items) != 4 { // admin bootstrap, alice ×2, bob
		t.Fatalf("%d PATs in all", len(all.Items))
	}
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/bob/tokens/"+bobPAT.ID+":revoke", nil, nil), 200, "admin revokes bob's PAT")
	s.Do(t, s.AdminToken, "GET", "/api/v1/tokens?status=revoked", nil, &all)
	if len(all.Items) != 1 || all.Items[0].ID != bobPAT.ID {
		t.Fatalf("revoked filter %+v", all.Items)
	}

	var res api.RevokeAllResult
	must(t, s.Do(t, alice.ClientSecret, "POST", "/api/v1/users/me/tokens:revokeAll", nil, &res), 200, "revoke all mine")
	if res.Revoked != 2 {
		t.Fatalf("revoked %d", res.Revoked)
	}
	must(t, s.Do(t, alice.ClientSecret, "GET", "/api/v1/users/me", nil, nil), 401, "after revoke-all")
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/users/alice/tokens/"+mine.ID, nil, nil), 204, "delete PAT")
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/users/alice/tokens/"+mine.ID, nil, nil), 404, "delete again")
}

func TestUsersAndTheLastAdministrator(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	var e api.Error
	no := false
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/admin", api.UpdateUser{Admin: &no}, &e), 409, "demote the last admin")
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/users/admin", nil, &e), 409, "delete the last admin")
	for _, bad := range []api.CreateUser{{UserName: "me", Email: "me@example.com"}, {UserName: "Bad", Email: "b@example.com"},
		{UserName: "ok", Email: "nope"}, {UserName: "ok", Email: "admin@localhost"}} {
		code := s.Do(t, s.AdminToken, "POST", "/api/v1/users", bad, &e)
		if code != 400 && code != 409 {
			t.Fatalf("user %+v: HTTP %d", bad, code)
		}
	}
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "root2", Email: "root2@example.com", Admin: true}, nil), 201, "second admin")
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/admin", api.UpdateUser{Admin: &no}, nil), 200, "demote with another admin present")
	// Demotion revoked the former admin's tokens (issue 13, finding 10).
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/users", nil, nil), 401, "demoted admin lists users")
}

func TestLastUsedIsBufferedAndFlushedOnShutdown(t *testing.T) {
	t.Parallel()
	configure := func(c *config.Config) { c.Keys.UsageFlushInterval = config.Duration(time.Minute) }
	s := servertest.Start(t, servertest.Options{Configure: configure})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	k := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	s.WantToken(t, "svc", k.ClientSecret)
	var got api.Key
	s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/svc/keys/"+k.ID, nil, &got)
	if got.LastUsedAt != nil {
		t.Fatal("lastUsedAt was written per request; it should be batched")
	}
	dir, addr, admin := s.DataDir, s.Addr, s.AdminToken
	s.Stop() // Close flushes the buffer

	s2 := servertest.Start(t, servertest.Options{DataDir: dir, Addr: addr, Configure: configure})
	s2.Do(t, admin, "GET", "/api/v1/service-accounts/svc/keys/"+k.ID, nil, &got)
	if got.LastUsedAt == nil || got.LastUsedIP != "127.0.0.1" {
		t.Fatalf("after flush: lastUsedAt %v from %q", got.LastUsedAt, got.LastUsedIP)
	}
	if time.Since(*got.LastUsedAt) > time.Minute {
		t.Fatalf("lastUsedAt %v is not the time of use", got.LastUsedAt)
	}
}

func TestAuditRecordsEveryAction(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	k := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":rotate", nil, nil)
	s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+k.ID+":revoke", nil, nil)
	s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "svc", Email: "dup@example.com"}, nil)
	s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "u", Email: "u@example.com"}, nil)

	var events api.List[map[string]any]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?limit=50", nil, &events), 200, "audit")
	var actions []string
	for _, e := range events.Items {
		actions = append(actions, e["action"].(string)+"/"+e["result"].(string))
		if e["actor"] == "admin" && e["sourceIp"] != "127.0.0.1" {
			t.Fatalf("event without source address: %v", e)
		}
	}
	want := "user.create/success service_account.create/failure key.revoke/success key.rotate/success key.create/success service_account.create/success user.bootstrap/success"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("audit trail\n got %s\nwant %s", got, want)
	}
	var filtered api.List[map[string]any]
	s.Do(t, s.AdminToken, "GET", "/api/v1/audit?action=key.*", nil, &filtered)
	if len(filtered.Items) != 3 {
		t.Fatalf("action filter: %d events", len(filtered.Items))
	}
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?since=yesterday", nil, nil), 400, "bad since")
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?before=zzz", nil, nil), 400, "bad cursor")
	raw := s.DoRaw(t, s.AdminToken, "GET", "/api/v1/audit?limit=100")
	if strings.Contains(raw, k.ClientSecret) {
		t.Fatal("the audit trail contains a secret")
	}
}

func TestAccountUpdateAndCustomClaims(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "other", Email: "other@example.com"})
	taken := "other@example.com"
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{Email: &taken}, nil), 409, "email taken")
	claims := map[string]any{"team": "ops", "tier": 2, "ci": true, "envs": []string{"dev", "prod"}}
	lifetime := int64(120)
	notes := "CN=svc/O=Acme"
	var sa api.ServiceAccount
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{Claims: &claims, TokenLifetime: &lifetime, NotesName: &notes}, &sa), 200, "patch")
	if sa.TokenLifetime != 120 || sa.NotesName != notes {
		t.Fatalf("patched %+v", sa)
	}
	k := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	_, body, _ := postToken(t, s, url.Values{"grant_type": {"client_credentials"}}, "svc", k.ClientSecret)
	c := claimsOfToken(t, body["access_token"].(string))
	envs, _ := json.Marshal(c["envs"])
	if c["team"] != "ops" || c["tier"] != float64(2) || c["ci"] != true || string(envs) != `["dev","prod"]` || c["CN"] != notes {
		t.Fatalf("claims %v", c)
	}
	if c["exp"].(float64)-c["iat"].(float64) != 120 {
		t.Fatalf("lifetime %v", c["exp"].(float64)-c["iat"].(float64))
	}
	bad := map[string]any{"sub": "someone-else"}
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{Claims: &bad}, nil), 400, "registered claim")
	if got := http.StatusBadRequest; s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/svc", map[string]any{"userName": "renamed"}, nil) != got {
		t.Fatal("renaming must be refused (names are immutable)")
	}
}
