package server_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// newUserWithPAT creates a user through the API and returns a PAT of theirs.
func newUserWithPAT(t *testing.T, s *servertest.Server, in api.CreateUser) string {
	t.Helper()
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", in, nil), 201, "create user "+in.UserName)
	var pat api.KeyWithSecret
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/"+in.UserName+"/tokens", api.CreateKey{Name: "cli"}, &pat), 201, "PAT for "+in.UserName)
	return pat.ClientSecret
}

// Finding 9: a deleted user leaves every owner list at once, so a
// different person later created with the same name owns nothing.
func TestDeletedUserNameOwnsNothingWhenReused(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	newUserWithPAT(t, s, api.CreateUser{UserName: "alice", Email: "alice@example.com"})
	newUserWithPAT(t, s, api.CreateUser{UserName: "bob", Email: "bob@example.com"})
	for _, name := range []string{"svc-a", "svc-b"} {
		s.CreateAccount(t, api.CreateServiceAccount{UserName: name, Email: name + "@example.com", Owners: []string{"alice", "bob"}})
	}
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/users/alice", nil, nil), 204, "delete alice")
	for _, name := range []string{"svc-a", "svc-b"} {
		var sa api.ServiceAccount
		must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/"+name, nil, &sa), 200, "get "+name)
		if !slices.Equal(sa.Owners, []string{"bob"}) {
			t.Fatalf("%s owners after deleting alice: %v, want [bob]", name, sa.Owners)
		}
	}
	// Another person gets the name.
	newAlice := newUserWithPAT(t, s, api.CreateUser{UserName: "alice", Email: "alice.newcomer@example.com"})
	var list api.List[api.ServiceAccount]
	must(t, s.Do(t, newAlice, "GET", "/api/v1/service-accounts", nil, &list), 200, "new alice lists accounts")
	if len(list.Items) != 0 {
		t.Fatalf("the new alice sees %d accounts of the old one", len(list.Items))
	}
	must(t, s.Do(t, newAlice, "GET", "/api/v1/service-accounts/svc-a", nil, nil), 404, "new alice reads svc-a")
	must(t, s.Do(t, newAlice, "POST", "/api/v1/service-accounts/svc-a/keys", api.CreateKey{Name: "mine"}, nil), 404, "new alice mints a key for svc-a")
	// The audit trail says how many tokens went with the user.
	var audit api.List[map[string]any]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?action=user.delete", nil, &audit), 200, "audit")
	if len(audit.Items) != 1 || audit.Items[0]["details"].(map[string]any)["tokensDeleted"] != "1" {
		t.Fatalf("user.delete audit: %+v", audit.Items)
	}
}

// Finding 10: demotion and deactivation revoke the user's PATs, so that
// re-promotion or re-activation does not bring old tokens back; the last
// administrator still cannot be demoted (and keeps their tokens).
func TestDemotionAndDeactivationRevokePATs(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	yes, no := true, false
	active, inactive := "active", "inactive"

	// The bootstrap admin is the only one: demoting or deactivating them
	// is refused before anything is revoked.
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/admin", api.UpdateUser{Admin: &no}, nil), 409, "demote the last admin")
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/admin", api.UpdateUser{Status: &inactive}, nil), 409, "deactivate the last admin")
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/users/me", nil, nil), 200, "last admin's PAT after the refusals")

	old := newUserWithPAT(t, s, api.CreateUser{UserName: "ops", Email: "ops@example.com", Admin: true})
	must(t, s.Do(t, old, "GET", "/api/v1/users", nil, nil), 200, "admin PAT before demotion")
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/ops", api.UpdateUser{Admin: &no}, nil), 200, "demote ops")
	must(t, s.Do(t, old, "GET", "/api/v1/users/me", nil, nil), 401, "PAT after demotion")
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/ops", api.UpdateUser{Admin: &yes}, nil), 200, "re-promote ops")
	must(t, s.Do(t, old, "GET", "/api/v1/users", nil, nil), 401, "old PAT after re-promotion")

	carol := newUserWithPAT(t, s, api.CreateUser{UserName: "carol", Email: "carol@example.com"})
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/carol", api.UpdateUser{Status: &inactive}, nil), 200, "deactivate carol")
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/carol", api.UpdateUser{Status: &active}, nil), 200, "activate carol")
	must(t, s.Do(t, carol, "GET", "/api/v1/users/me", nil, nil), 401, "old PAT after deactivate and activate")

	// A change that takes nothing away keeps the tokens.
	dave := newUserWithPAT(t, s, api.CreateUser{UserName: "dave", Email: "dave@example.com"})
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/dave", api.UpdateUser{Admin: &no, Status: &active}, nil), 200, "no-op update")
	must(t, s.Do(t, dave, "GET", "/api/v1/users/me", nil, nil), 200, "PAT after an update that removes nothing")

	var audit api.List[map[string]any]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?action=pat.revoke_all", nil, &audit), 200, "audit")
	var reasons []string
	for _, e := range audit.Items {
		d, _ := e["details"].(map[string]any)
		reasons = append(reasons, fmt.Sprint(e["target"], ":", d["reason"], ":", d["revoked"]))
	}
	slices.Sort(reasons)
	if want := []string{"carol:deactivated:1", "ops:demoted:1"}; !slices.Equal(reasons, want) {
		t.Fatalf("pat.revoke_all events %v, want %v", reasons, want)
	}
}

// Finding 11: keys.maxPATsPerUser bounds a user's stored PATs, also
// against concurrent creates; revoked tokens count until deleted.
func TestPATQuota(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Keys.MaxPATsPerUser = 3 }})
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "eve", Email: "eve@example.com"}, nil), 201, "create eve")
	var first api.KeyWithSecret
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/eve/tokens", api.CreateKey{Name: "t0"}, &first), 201, "t0")
	eve := first.ClientSecret
	var ids []string
	for i := 1; i < 3; i++ {
		var k api.KeyWithSecret
		must(t, s.Do(t, eve, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: fmt.Sprintf("t%d", i)}, &k), 201, "PAT")
		ids = append(ids, k.ID)
	}
	var e api.Error
	must(t, s.Do(t, eve, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: "t3"}, &e), 409, "PAT over the quota")
	if e.Code != api.CodeConflict || !strings.Contains(e.Message, "keys.maxPATsPerUser") || !strings.Contains(e.Message, "3") {
		t.Fatalf("quota error %+v", e)
	}
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/eve/tokens", api.CreateKey{Name: "t3"}, nil), 409, "admin creating over the quota")
	must(t, s.Do(t, eve, "POST", "/api/v1/users/me/tokens/"+ids[0]+":revoke", nil, nil), 200, "revoke")
	must(t, s.Do(t, eve, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: "t3"}, nil), 409, "revoked tokens still count")
	must(t, s.Do(t, eve, "DELETE", "/api/v1/users/me/tokens/"+ids[0], nil, nil), 204, "delete")
	must(t, s.Do(t, eve, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: "t3"}, nil), 201, "room after delete")

	// Concurrent creates stop exactly at the quota.
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "zed", Email: "zed@example.com"}, nil), 201, "create zed")
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = s.Do(t, s.AdminToken, "POST", "/api/v1/users/zed/tokens", api.CreateKey{Name: fmt.Sprintf("c%d", i)}, nil)
		}()
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == 201 {
			created++
		} else if c != 409 {
			t.Fatalf("concurrent create answered %d", c)
		}
	}
	var list api.List[api.Key]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/users/zed/tokens", nil, &list), 200, "list")
	if created != 3 || len(list.Items) != 3 {
		t.Fatalf("%d concurrent creates succeeded, %d stored; want 3", created, len(list.Items))
	}
}

// Finding 11: a token's scopes, audiences and CIDRs are bounded in size
// (a plain user stored ~127 KB per token).
func TestPATSizeBounded(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	var auds []string
	for i := range 100 {
		auds = append(auds, fmt.Sprintf("https://api.example.com/%03d/%s", i, strings.Repeat("a", 450)))
	}
	// The administrator may reach everything under the pattern, so only
	// the size rule can refuse the list.
	wide := []string{"https://api.example.com/*"}
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/me", api.UpdateUser{AllowedAudiences: &wide}, nil), 200, "widen admin")
	var e api.Error
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/me/tokens", api.CreateKey{Name: "huge", Audiences: auds}, &e), 400, "huge PAT")
	if !strings.Contains(e.Message, "8192 bytes") {
		t.Fatalf("size error %+v", e)
	}
}

// Finding 11: GET /api/v1/tokens (and a user's token list) is paged like
// the audit trail: ?limit (default 100, at most 1000) and ?before=<last id>.
func TestTokenListsArePaged(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.Keys.MaxPATsPerUser = 200
		c.Limits.Enabled = false // the test makes ~150 admin calls in a burst
	}})
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "pam", Email: "pam@example.com"}, nil), 201, "create pam")
	const n = 120
	want := map[string]bool{}
	for i := range n {
		var k api.KeyWithSecret
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users/pam/tokens", api.CreateKey{Name: fmt.Sprintf("p%03d", i)}, &k), 201, "PAT")
		want[k.ID] = true
	}
	var page api.List[api.Key]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/tokens", nil, &page), 200, "first page")
	if len(page.Items) != 100 {
		t.Fatalf("default page holds %d tokens, want 100", len(page.Items))
	}
	// Walk everything (the admin's bootstrap token too) in pages of 7.
	seen := map[string]bool{}
	before := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		path := "/api/v1/tokens?limit=7"
		if before != "" {
			path += "&before=" + before
		}
		var p api.List[api.Key]
		must(t, s.Do(t, s.AdminToken, "GET", path, nil, &p), 200, path)
		for i, k := range p.Items {
			if seen[k.ID] {
				t.Fatalf("token %s listed twice", k.ID)
			}
			seen[k.ID] = true
			if i > 0 && p.Items[i-1].CreatedAt.Before(k.CreatedAt) {
				t.Fatalf("page not newest first")
			}
		}
		if len(p.Items) < 7 {
			break
		}
		before = p.Items[len(p.Items)-1].ID
	}
	if len(seen) != n+1 {
		t.Fatalf("paging saw %d tokens, want %d", len(seen), n+1)
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("token %s never listed", id)
		}
	}
	var mine api.List[api.Key]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/users/pam/tokens?limit=50", nil, &mine), 200, "user's tokens")
	if len(mine.Items) != 50 {
		t.Fatalf("user list page holds %d, want 50", len(mine.Items))
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "before=nosuchkey"} {
		var e api.Error
		must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/tokens?"+bad, nil, &e), 400, bad)
		if e.Code != api.CodeInvalidRequest {
			t.Fatalf("%s: %+v", bad, e)
		}
	}
}

// Finding 13: emails and Notes names are NFC-normalised and refused with
// invisible, bidirectional or control characters; custom claim names are
// compared to the reserved set without regard to case.
func TestConfusableAdminInputRefused(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	badEmails := map[string]string{
		"zero-width space":  "ad\u200bmin2@example.com",
		"zero-width joiner": "ops\u200d@example.com",
		"word joiner":       "ops\u2060@example.com",
		"BOM":               "\ufeffops@example.com",
		"bidi override":     "ops\u202e@example.com",
		"bidi isolate":      "ops\u2066@example.com",
		"soft hyphen":       "op\u00ads@example.com",
		"no-break space":    "ops\u00a0x@example.com",
		"control":           "ops\u0007@example.com",
	}
	for what, email := range badEmails {
		var e api.Error
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "u1", Email: email}, &e), 400, "user email with "+what)
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "s1", Email: email}, &e), 400, "account email with "+what)
		if !strings.HasPrefix(e.Message, "email") {
			t.Fatalf("%s: %+v", what, e)
		}
	}
	// Decomposed é (e + U+0301) is stored as the composed form, so the
	// two spellings are one address (and collide).
	var u api.User
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/users", api.CreateUser{UserName: "rene", Email: "rene\u0301@example.com"}, &u), 201, "decomposed email")
	if u.Email != "ren\u00e9@example.com" {
		t.Fatalf("email stored as %q, want NFC", u.Email)
	}
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "rene-bot", Email: "ren\u00e9@example.com"}, nil), 409, "the composed spelling of a taken email")

	for what, notes := range map[string]string{
		"zero-width space": "CN=Build\u200b Bot/O=Acme", "bidi override": "CN=\u202eBot/O=Acme",
		"no-break space": "CN=Build\u00a0Bot/O=Acme", "control": "CN=Bot\n/O=Acme", "variation selector": "CN=Bot\ufe0f/O=Acme",
	} {
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "s2", Email: "s2@example.com", NotesName: notes}, nil), 400, "Notes name with "+what)
	}
	var sa api.ServiceAccount
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "s3", Email: "s3@example.com", NotesName: "CN=Rene\u0301 Bot/O=Acme"}, &sa), 201, "decomposed Notes name")
	if sa.NotesName != "CN=Ren\u00e9 Bot/O=Acme" {
		t.Fatalf("Notes name stored as %q, want NFC", sa.NotesName)
	}
	bad := "CN=\u202eBot/O=Acme"
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/service-accounts/s3", api.UpdateServiceAccount{NotesName: &bad}, nil), 400, "Notes name update")

	for _, name := range []string{"Email", "cn", "ROLES", "scp", "groups", "Groups", "permissions", "act", "cnf", "Iss", "Client_ID", "SCOPE"} {
		var e api.Error
		must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "s4", Email: "s4@example.com",
			Claims: map[string]any{name: "x"}}, &e), 400, "custom claim "+name)
		if !strings.Contains(e.Message, "reserved") {
			t.Fatalf("claim %s: %+v", name, e)
		}
	}
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "s4", Email: "s4@example.com",
		Claims: map[string]any{"team\u200b": "x"}}, nil), 400, "custom claim name with a zero-width space")
	must(t, s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "s4", Email: "s4@example.com",
		Claims: map[string]any{"team": "ops"}}, nil), 201, "ordinary custom claim")
}

// Users' allowed lists: administrators set them with PATCH (validated like
// a service account's), users see but cannot change their own.
func TestUserAllowedListsAdminOnly(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	frank := newUserWithPAT(t, s, api.CreateUser{UserName: "frank", Email: "frank@example.com"})
	scopes := []string{"Domino.user.all", "$DATA"}
	auds := []string{"https://domino.example.com/api/*"}
	cidrs := []string{"10.0.0.0/8", "127.0.0.0/8"} // a user's CIDRs bind their PATs on the admin API too
	var u api.User
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/frank",
		api.UpdateUser{AllowedScopes: &scopes, AllowedAudiences: &auds, AllowedCIDRs: &cidrs}, &u), 200, "admin sets lists")
	if !slices.Equal(u.AllowedScopes, scopes) || !slices.Equal(u.AllowedAudiences, auds) || !slices.Equal(u.AllowedCIDRs, cidrs) {
		t.Fatalf("lists not set: %+v", u)
	}
	must(t, s.Do(t, frank, "GET", "/api/v1/users/me", nil, &u), 200, "frank reads himself")
	if !slices.Equal(u.AllowedScopes, scopes) {
		t.Fatalf("frank sees %+v", u)
	}
	wider := []string{"*"}
	var e api.Error
	for what, up := range map[string]api.UpdateUser{
		"scopes": {AllowedScopes: &wider}, "audiences": {AllowedAudiences: &wider}, "cidrs": {AllowedCIDRs: &[]string{"0.0.0.0/0"}},
	} {
		must(t, s.Do(t, frank, "PATCH", "/api/v1/users/me", up, &e), 403, "frank widens his "+what)
		must(t, s.Do(t, frank, "PATCH", "/api/v1/users/frank", up, &e), 403, "frank widens his "+what+" by name")
	}
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/users/frank", nil, &u), 200, "get frank")
	if !slices.Equal(u.AllowedScopes, scopes) || !slices.Equal(u.AllowedCIDRs, cidrs) {
		t.Fatalf("lists changed by the user: %+v", u)
	}
	for what, up := range map[string]api.UpdateUser{
		"scope with a space": {AllowedScopes: &[]string{"a b"}},
		"audience":           {AllowedAudiences: &[]string{"has space"}},
		"cidr":               {AllowedCIDRs: &[]string{"10.0.0.0/33"}},
	} {
		must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/frank", up, &e), 400, "invalid "+what)
	}
	empty := []string{}
	must(t, s.Do(t, s.AdminToken, "PATCH", "/api/v1/users/frank", api.UpdateUser{AllowedScopes: &empty}, &u), 200, "clear scopes")
	if len(u.AllowedScopes) != 0 || !slices.Equal(u.AllowedAudiences, auds) {
		t.Fatalf("clearing scopes: %+v", u)
	}
	// Changing the lists alone revokes nothing: the policy narrows at
	// every request.
	must(t, s.Do(t, frank, "GET", "/api/v1/users/me", nil, nil), 200, "frank's PAT after list changes")
}

// Finding 9, existing data: a database written before DeleteUser cleaned
// owner lists may still name deleted users. The server removes them at
// start, so a new user given such a name owns nothing there either.
func TestStartDropsDeletedUsersFromOwnerLists(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	newUserWithPAT(t, s, api.CreateUser{UserName: "bob", Email: "bob@example.com"})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Owners: []string{"bob"}})
	dir := s.DataDir
	s.Stop()

	// What an earlier version left behind: "ghost" was deleted as a user
	// but is still listed as an owner.
	db, err := bbolt.Open(filepath.Join(dir, bolt.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("service_accounts"))
		var sa map[string]any
		if err := json.Unmarshal(b.Get([]byte("svc")), &sa); err != nil {
			return err
		}
		sa["owners"] = []string{"ghost", "bob"}
		data, err := json.Marshal(sa)
		if err != nil {
			return err
		}
		return b.Put([]byte("svc"), data)
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}

	s = servertest.Start(t, servertest.Options{DataDir: dir})
	var sa api.ServiceAccount
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/svc", nil, &sa), 200, "get svc")
	if !slices.Equal(sa.Owners, []string{"bob"}) {
		t.Fatalf("owners after restart %v, want [bob]", sa.Owners)
	}
	ghost := newUserWithPAT(t, s, api.CreateUser{UserName: "ghost", Email: "ghost@example.com"})
	must(t, s.Do(t, ghost, "GET", "/api/v1/service-accounts/svc", nil, nil), 404, "the new ghost reads svc")
	var audit api.List[map[string]any]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?actor=system&target=svc", nil, &audit), 200, "audit")
	if len(audit.Items) != 1 || audit.Items[0]["details"].(map[string]any)["removed"] != "ghost" {
		t.Fatalf("repair not audited: %+v", audit.Items)
	}
}
