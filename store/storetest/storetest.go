// Package storetest is the conformance suite for store.Store backends.
// Every backend's tests call RunTests with a constructor for a fresh, empty
// store; a backend is correct when the whole suite passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// RunTests runs the suite. newStore must return an empty store; the suite
// closes it when the subtest ends.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"ServiceAccountCRUD", testServiceAccountCRUD},
		{"SharedNamespace", testSharedNamespace},
		{"EmailUniquenessOnUpdate", testEmailUniquenessOnUpdate},
		{"UserCRUD", testUserCRUD},
		{"KeyCRUD", testKeyCRUD},
		{"KeyNeedsOwner", testKeyNeedsOwner},
		{"PersonalTokenNamesUniquePerUser", testPATNamesUnique},
		{"PersonalTokenRenameKeepsNamesUnique", testPATRename},
		{"CreateKeyConflictBeforeLimit", testCreateKeyConflictBeforeLimit},
		{"DeleteOwnerDeletesKeys", testDeleteOwnerDeletesKeys},
		{"UpdateKeys", testUpdateKeys},
		{"KeyUsageMergesByMax", testKeyUsage},
		{"SigningKeys", testSigningKeys},
		{"Audit", testAudit},
		{"RevokedTokens", testRevokedTokens},
		{"ConcurrentDuplicateCreates", testConcurrentDuplicateCreates},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"UpdateErrorLeavesValue", testUpdateErrorLeavesValue},
		{"KeysByExpiry", testKeysByExpiry},
		{"DeleteUserLeavesNoOwnership", testDeleteUserLeavesNoOwnership},
		{"OwnersMustBeUsers", testOwnersMustBeUsers},
		{"ConcurrentOwnerAddAndUserDelete", testConcurrentOwnerAddAndUserDelete},
		{"KeyLimitPerOwner", testKeyLimitPerOwner},
		{"ConcurrentCreatesRespectKeyLimit", testConcurrentKeyLimit},
		{"ChangeAudit", testChangeAudit},
		{"InvalidChangeAuditChangesNothing", testInvalidChangeAuditChangesNothing},
		{"KeyFeed", testKeyFeed},
		{"Sessions", testSessions},
		{"SessionsEndWithUser", testSessionsEndWithUser},
		{"SessionConsumedOnce", testSessionConsumedOnce},
		{"FederationRules", testFederationRules},
		{"FederationRulesEndWithAccount", testFederationRulesEndWithAccount},
		{"ConcurrentFederationRuleNames", testConcurrentFederationRuleNames},
		{"FederationForeignTokensConsumedOnce", testForeignTokensConsumedOnce},
		{"FederationPruneForeignTokensInChunks", testPruneForeignTokensInChunks},
		{"TLSTicketKeys", testTLSTicketKeys},
		{"TLSTicketKeyCreatedOnce", testTLSTicketKeyCreatedOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.run(t, s)
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func account(name, email string) store.ServiceAccount {
	return store.ServiceAccount{
		ID: "id-" + name, Name: name, Email: email, Roles: []string{"reader"},
		AllowedScopes: []string{"Domino.user.all"}, Status: store.StatusActive,
		Claims:    map[string]any{"team": "ops", "level": float64(3), "ok": true, "tags": []any{"a", "b"}},
		CreatedAt: t0, UpdatedAt: t0, TokenLifetime: 5 * time.Minute,
	}
}

func user(name, email string) store.User {
	return store.User{ID: "uid-" + name, Name: name, Email: email, Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}
}

func key(id string, kind store.KeyKind, owner string) store.Key {
	return store.Key{ID: id, Kind: kind, Owner: owner, Name: "k-" + id, SecretHash: []byte("hash-" + id),
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Roles: []string{"reader"}}
}

// pat is owner's personal access token id, called name.
func pat(id, owner, name string) store.Key {
	k := key(id, store.KindPersonalToken, owner)
	k.Name = name
	return k
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func testServiceAccountCRUD(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.GetServiceAccount(ctx, "ci-bot")
	wantErr(t, err, store.ErrNotFound)

	sa := account("ci-bot", "ci@example.com")
	must(t, s.CreateServiceAccount(ctx, sa))
	wantErr(t, s.CreateServiceAccount(ctx, account("ci-bot", "other@example.com")), store.ErrAlreadyExists)
	wantErr(t, s.CreateServiceAccount(ctx, account("etl", "ci@example.com")), store.ErrConflict)
	// Plus addressing gives distinct accounts.
	must(t, s.CreateServiceAccount(ctx, account("etl", "ci+etl@example.com")))

	got, err := s.GetServiceAccount(ctx, "ci-bot")
	must(t, err)
	if got.Email != sa.Email || got.TokenLifetime != sa.TokenLifetime || !slices.Equal(got.Roles, sa.Roles) ||
		got.Claims["team"] != "ops" || got.Claims["level"] != float64(3) || got.Claims["ok"] != true || !got.CreatedAt.Equal(t0) {
		t.Fatalf("round trip changed the account: %+v", got)
	}

	updated, err := s.UpdateServiceAccount(ctx, "ci-bot", func(a store.ServiceAccount) (store.ServiceAccount, error) {
		a.Roles = append(a.Roles, "writer")
		a.Name = "renamed" // must be ignored: names are immutable
		a.Status = store.StatusInactive
		return a, nil
	})
	must(t, err)
	if updated.Name != "ci-bot" || !slices.Contains(updated.Roles, "writer") {
		t.Fatalf("update result wrong: %+v", updated)
	}
	got, _ = s.GetServiceAccount(ctx, "ci-bot")
	if got.Status != store.StatusInactive || !slices.Contains(got.Roles, "writer") {
		t.Fatalf("update not persisted: %+v", got)
	}
	_, err = s.UpdateServiceAccount(ctx, "ghost", func(a store.ServiceAccount) (store.ServiceAccount, error) { return a, nil })
	wantErr(t, err, store.ErrNotFound)

	all, err := s.ListServiceAccounts(ctx)
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("listed %d accounts, want 2", len(all))
	}

	must(t, s.DeleteServiceAccount(ctx, "ci-bot"))
	wantErr(t, s.DeleteServiceAccount(ctx, "ci-bot"), store.ErrNotFound)
	// Name and email are free again.
	must(t, s.CreateServiceAccount(ctx, account("ci-bot", "ci@example.com")))
}

func testSharedNamespace(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	wantErr(t, s.CreateServiceAccount(ctx, account("alice", "svc@example.com")), store.ErrAlreadyExists)
	wantErr(t, s.CreateServiceAccount(ctx, account("svc", "alice@example.com")), store.ErrEmailTaken)
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	wantErr(t, s.CreateUser(ctx, user("svc", "x@example.com")), store.ErrAlreadyExists)
}

func testEmailUniquenessOnUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("a", "a@example.com")))
	must(t, s.CreateServiceAccount(ctx, account("b", "b@example.com")))
	_, err := s.UpdateServiceAccount(ctx, "b", func(sa store.ServiceAccount) (store.ServiceAccount, error) {
		sa.Email = "a@example.com"
		return sa, nil
	})
	wantErr(t, err, store.ErrEmailTaken)
	_, err = s.UpdateServiceAccount(ctx, "b", func(sa store.ServiceAccount) (store.ServiceAccount, error) {
		sa.Email = "new@example.com"
		return sa, nil
	})
	must(t, err)
	// The old address is released, the new one is taken.
	must(t, s.CreateServiceAccount(ctx, account("c", "b@example.com")))
	wantErr(t, s.CreateServiceAccount(ctx, account("d", "new@example.com")), store.ErrConflict)
}

func testUserCRUD(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := user("alice", "alice@example.com")
	u.Admin = true
	must(t, s.CreateUser(ctx, u))
	wantErr(t, s.CreateUser(ctx, user("alice", "x@example.com")), store.ErrAlreadyExists)
	got, err := s.GetUser(ctx, "alice")
	must(t, err)
	if !got.Admin || got.Email != u.Email {
		t.Fatalf("round trip changed the user: %+v", got)
	}
	_, err = s.UpdateUser(ctx, "alice", func(u store.User) (store.User, error) {
		u.Roles = []string{"ops"}
		return u, nil
	})
	must(t, err)
	got, _ = s.GetUser(ctx, "alice")
	if !slices.Equal(got.Roles, []string{"ops"}) {
		t.Fatalf("roles not updated: %+v", got)
	}
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 1 {
		t.Fatalf("listed %d users, want 1", len(users))
	}
	must(t, s.DeleteUser(ctx, "alice"))
	_, err = s.GetUser(ctx, "alice")
	wantErr(t, err, store.ErrNotFound)
}

func testKeyCRUD(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateServiceAccount(ctx, account("svc2", "svc2@example.com")))
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	k := key("key1", store.KindServiceKey, "svc")
	must(t, s.CreateKey(ctx, k))
	wantErr(t, s.CreateKey(ctx, k), store.ErrAlreadyExists)
	must(t, s.CreateKey(ctx, key("key2", store.KindServiceKey, "svc")))
	must(t, s.CreateKey(ctx, key("key3", store.KindServiceKey, "svc2")))
	must(t, s.CreateKey(ctx, key("pat1", store.KindPersonalToken, "alice")))

	got, err := s.GetKey(ctx, "key1")
	must(t, err)
	if string(got.SecretHash) != "hash-key1" || !got.ExpiresAt.Equal(k.ExpiresAt) || got.Owner != "svc" {
		t.Fatalf("round trip changed the key: %+v", got)
	}

	ids := func(keys []store.Key) []string {
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		slices.Sort(out)
		return out
	}
	cases := []struct {
		q    store.KeyQuery
		want []string
	}{
		{store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"}, []string{"key1", "key2"}},
		{store.KeyQuery{Kind: store.KindServiceKey, Owner: "sv"}, nil}, // no prefix matching
		{store.KeyQuery{Kind: store.KindServiceKey}, []string{"key1", "key2", "key3"}},
		{store.KeyQuery{Kind: store.KindPersonalToken}, []string{"pat1"}},
		{store.KeyQuery{}, []string{"key1", "key2", "key3", "pat1"}},
	}
	for _, c := range cases {
		keys, err := s.ListKeys(ctx, c.q)
		must(t, err)
		if got := ids(keys); !slices.Equal(got, c.want) {
			t.Errorf("ListKeys(%+v) = %v, want %v", c.q, got, c.want)
		}
	}

	revoked := t0.Add(time.Hour)
	_, err = s.UpdateKey(ctx, "key1", func(k store.Key) (store.Key, error) {
		k.RevokedAt = revoked
		k.Owner, k.Kind, k.ID = "svc2", store.KindPersonalToken, "key9" // immutable
		return k, nil
	})
	must(t, err)
	got, _ = s.GetKey(ctx, "key1")
	if !got.Revoked() || !got.RevokedAt.Equal(revoked) || got.Owner != "svc" || got.Kind != store.KindServiceKey {
		t.Fatalf("update wrong: %+v", got)
	}
	_, err = s.GetKey(ctx, "key9")
	wantErr(t, err, store.ErrNotFound)

	must(t, s.DeleteKey(ctx, "key1"))
	wantErr(t, s.DeleteKey(ctx, "key1"), store.ErrNotFound)
	_, err = s.GetKey(ctx, "key1")
	wantErr(t, err, store.ErrNotFound)
	keys, _ := s.ListKeys(ctx, store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"})
	if got := ids(keys); !slices.Equal(got, []string{"key2"}) {
		t.Fatalf("after delete listed %v", got)
	}
}

func testKeyNeedsOwner(t *testing.T, s store.Store) {
	ctx := context.Background()
	wantErr(t, s.CreateKey(ctx, key("k", store.KindServiceKey, "ghost")), store.ErrNotFound)
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	// A user is not a service account, and vice versa.
	wantErr(t, s.CreateKey(ctx, key("k", store.KindServiceKey, "alice")), store.ErrNotFound)
	must(t, s.CreateKey(ctx, key("k", store.KindPersonalToken, "alice")))
}

func testDeleteOwnerDeletesKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateServiceAccount(ctx, account("svc-2", "svc2@example.com")))
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	for i := range 5 {
		must(t, s.CreateKey(ctx, key(fmt.Sprintf("a%d", i), store.KindServiceKey, "svc")))
	}
	must(t, s.CreateKey(ctx, key("other", store.KindServiceKey, "svc-2")))
	must(t, s.CreateKey(ctx, key("pat", store.KindPersonalToken, "alice")))
	must(t, s.DeleteServiceAccount(ctx, "svc"))
	for i := range 5 {
		_, err := s.GetKey(ctx, fmt.Sprintf("a%d", i))
		wantErr(t, err, store.ErrNotFound)
	}
	_, err := s.GetKey(ctx, "other")
	must(t, err)
	must(t, s.DeleteUser(ctx, "alice"))
	_, err = s.GetKey(ctx, "pat")
	wantErr(t, err, store.ErrNotFound)
	all, _ := s.ListKeys(ctx, store.KeyQuery{})
	if len(all) != 1 {
		t.Fatalf("%d keys left, want 1", len(all))
	}
}

func testUpdateKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateServiceAccount(ctx, account("other", "other@example.com")))
	for i := range 4 {
		must(t, s.CreateKey(ctx, key(fmt.Sprintf("k%d", i), store.KindServiceKey, "svc")))
	}
	must(t, s.CreateKey(ctx, key("x", store.KindServiceKey, "other")))
	changed, err := s.UpdateKeys(ctx, store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"}, func(k store.Key) (store.Key, error) {
		if k.ID == "k0" {
			return k, store.ErrSkip
		}
		k.RevokedAt = t0
		return k, nil
	})
	must(t, err)
	if len(changed) != 3 {
		t.Fatalf("changed %d keys, want 3", len(changed))
	}
	for _, id := range []string{"k0", "x"} {
		k, _ := s.GetKey(ctx, id)
		if k.Revoked() {
			t.Fatalf("key %s was changed", id)
		}
	}
	k, _ := s.GetKey(ctx, "k3")
	if !k.Revoked() {
		t.Fatal("k3 not revoked")
	}
	// An error aborts the whole update.
	_, err = s.UpdateKeys(ctx, store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"}, func(k store.Key) (store.Key, error) {
		if k.ID == "k2" {
			return k, errors.New("boom")
		}
		k.Description = "changed"
		return k, nil
	})
	if err == nil {
		t.Fatal("error from the closure was not returned")
	}
	for i := range 4 {
		k, _ := s.GetKey(ctx, fmt.Sprintf("k%d", i))
		if k.Description == "changed" {
			t.Fatalf("partial write: key k%d changed although the update failed", i)
		}
	}
}

func testKeyUsage(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateKey(ctx, key("k", store.KindServiceKey, "svc")))
	later, earlier := t0.Add(2*time.Hour), t0.Add(time.Hour)
	must(t, s.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "k", At: later, IP: "10.0.0.2"}, {KeyID: "ghost", At: later}}))
	must(t, s.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "k", At: earlier, IP: "10.0.0.1"}}))
	k, err := s.GetKey(ctx, "k")
	must(t, err)
	if !k.LastUsedAt.Equal(later) || k.LastUsedIP != "10.0.0.2" {
		t.Fatalf("usage not merged by max: %v %s", k.LastUsedAt, k.LastUsedIP)
	}
	must(t, s.RecordKeyUsage(ctx, nil))
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	k := store.SigningKey{ID: "kid1", Algorithm: "RS256", State: store.SigningActive, PublicJWK: []byte(`{"kty":"RSA"}`),
		EncryptedPrivateKey: []byte{1, 2, 3}, KEKID: "kek1", CreatedAt: t0}
	must(t, s.CreateSigningKey(ctx, k))
	wantErr(t, s.CreateSigningKey(ctx, k), store.ErrAlreadyExists)
	_, err := s.UpdateSigningKey(ctx, "kid1", func(k store.SigningKey) (store.SigningKey, error) {
		k.State = store.SigningRetired
		k.RetiredAt = t0.Add(time.Hour)
		return k, nil
	})
	must(t, err)
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != 1 || keys[0].State != store.SigningRetired || string(keys[0].EncryptedPrivateKey) != "\x01\x02\x03" {
		t.Fatalf("signing keys wrong: %+v", keys)
	}
	must(t, s.ReplaceSigningKeys(ctx, []store.SigningKey{{ID: "a", Algorithm: "ES256"}, {ID: "b", Algorithm: "EdDSA"}}))
	keys, _ = s.ListSigningKeys(ctx)
	if len(keys) != 2 {
		t.Fatalf("after replace: %d keys, want 2", len(keys))
	}
	must(t, s.DeleteSigningKey(ctx, "a"))
	wantErr(t, s.DeleteSigningKey(ctx, "a"), store.ErrNotFound)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ids []string
	for i := range 25 {
		action := "key.create"
		if i%5 == 0 {
			action = "account.create"
		}
		e, err := s.AppendAudit(ctx, store.AuditEvent{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "admin",
			Action: action, Target: fmt.Sprintf("t%d", i), Result: "success"})
		must(t, err)
		if e.ID == "" {
			t.Fatal("AppendAudit assigned no ID")
		}
		ids = append(ids, e.ID)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("audit IDs not in append order: %v", ids)
	}
	all, err := s.ListAudit(ctx, store.AuditQuery{})
	must(t, err)
	if len(all) != 25 || all[0].Target != "t24" || all[24].Target != "t0" {
		t.Fatalf("list not newest first / complete: %d events", len(all))
	}
	page, _ := s.ListAudit(ctx, store.AuditQuery{Limit: 10})
	next, _ := s.ListAudit(ctx, store.AuditQuery{Limit: 10, Before: page[9].ID})
	if len(page) != 10 || len(next) != 10 || next[0].Target != "t14" {
		t.Fatalf("paging wrong: %d, %d, first of page 2 %q", len(page), len(next), next[0].Target)
	}
	acc, _ := s.ListAudit(ctx, store.AuditQuery{Action: "account.*"})
	if len(acc) != 5 {
		t.Fatalf("prefix filter found %d, want 5", len(acc))
	}
	since, _ := s.ListAudit(ctx, store.AuditQuery{Since: t0.Add(20 * time.Minute)})
	if len(since) != 5 {
		t.Fatalf("since filter found %d, want 5", len(since))
	}
	one, _ := s.ListAudit(ctx, store.AuditQuery{Target: "t3"})
	if len(one) != 1 || one[0].Action != "key.create" {
		t.Fatalf("target filter wrong: %+v", one)
	}
}

func testRevokedTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.RevokeToken(ctx, store.RevokedToken{JTI: "old", ExpiresAt: t0, RevokedAt: t0}))
	must(t, s.RevokeToken(ctx, store.RevokedToken{JTI: "new", ExpiresAt: t0.Add(time.Hour), RevokedAt: t0}))
	for jti, want := range map[string]bool{"old": true, "new": true, "none": false} {
		got, err := s.IsTokenRevoked(ctx, jti)
		must(t, err)
		if got != want {
			t.Fatalf("IsTokenRevoked(%s) = %v", jti, got)
		}
	}
	n, err := s.PruneRevokedTokens(ctx, t0.Add(time.Minute))
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	all, _ := s.ListRevokedTokens(ctx)
	if len(all) != 1 || all[0].JTI != "new" {
		t.Fatalf("left %+v", all)
	}
}

func testConcurrentDuplicateCreates(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half race on the name, half on the email.
			if i%2 == 0 {
				errs[i] = s.CreateServiceAccount(ctx, account("dup", fmt.Sprintf("dup%d@example.com", i)))
			} else {
				errs[i] = s.CreateServiceAccount(ctx, account(fmt.Sprintf("dup-%d", i), "same@example.com"))
			}
		}()
	}
	wg.Wait()
	okName, okEmail := 0, 0
	for i, err := range errs {
		switch {
		case err == nil && i%2 == 0:
			okName++
		case err == nil:
			okEmail++
		case !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrConflict):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if okName != 1 || okEmail != 1 {
		t.Fatalf("successful creates: name race %d, email race %d; want exactly 1 each", okName, okEmail)
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateServiceAccount(ctx, "svc", func(a store.ServiceAccount) (store.ServiceAccount, error) {
				a.Roles = append(slices.Clone(a.Roles), fmt.Sprintf("r%d", i))
				return a, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.GetServiceAccount(ctx, "svc")
	if len(got.Roles) != n+1 {
		t.Fatalf("lost updates: %d roles, want %d", len(got.Roles), n+1)
	}
}

func testUpdateErrorLeavesValue(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	boom := errors.New("boom")
	_, err := s.UpdateServiceAccount(ctx, "svc", func(a store.ServiceAccount) (store.ServiceAccount, error) {
		a.Description = "changed"
		return a, boom
	})
	wantErr(t, err, boom)
	got, _ := s.GetServiceAccount(ctx, "svc")
	if got.Description == "changed" {
		t.Fatal("failed update was written")
	}
}

func testPATNamesUnique(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateUser(ctx, user("bob", "bob@example.com")))
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateKey(ctx, pat("p1", "alice", "laptop")))
	wantErr(t, s.CreateKey(ctx, pat("p2", "alice", "laptop")), store.ErrAlreadyExists)
	must(t, s.CreateKey(ctx, pat("p3", "bob", "laptop"))) // another user may reuse it
	// Service-account key names are labels, not identifiers.
	sk := func(id string) store.Key { k := key(id, store.KindServiceKey, "svc"); k.Name = "same"; return k }
	must(t, s.CreateKey(ctx, sk("s1")))
	must(t, s.CreateKey(ctx, sk("s2")))
	// After deletion the name is free again.
	must(t, s.DeleteKey(ctx, "p1"))
	must(t, s.CreateKey(ctx, pat("p4", "alice", "laptop")))
}

// testPATRename: a rename (UpdateKey, UpdateKeys) keeps personal-access-
// token names unique per user, and frees the old name. The backends
// diverged here: etcd refused a taken name, bbolt stored the duplicate.
func testPATRename(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateUser(ctx, user("bob", "bob@example.com")))
	rename := func(name string) func(store.Key) (store.Key, error) {
		return func(k store.Key) (store.Key, error) { k.Name = name; return k, nil }
	}
	must(t, s.CreateKey(ctx, pat("p1", "alice", "laptop")))
	must(t, s.CreateKey(ctx, pat("p2", "alice", "phone")))
	must(t, s.CreateKey(ctx, pat("b1", "bob", "tablet")))
	_, err := s.UpdateKey(ctx, "p2", rename("laptop"))
	wantErr(t, err, store.ErrAlreadyExists)
	if got, _ := s.GetKey(ctx, "p2"); got.Name != "phone" {
		t.Fatalf("refused rename was stored: %q", got.Name)
	}
	_, err = s.UpdateKey(ctx, "p2", rename("tablet")) // bob's name: free for alice
	must(t, err)
	_, err = s.UpdateKey(ctx, "p2", rename("tablet")) // its own name: no conflict
	must(t, err)
	must(t, s.CreateKey(ctx, pat("p3", "alice", "phone"))) // the old name is free
	wantErr(t, s.CreateKey(ctx, pat("p4", "alice", "tablet")), store.ErrAlreadyExists)
	// UpdateKeys renaming several tokens to one name is refused whole.
	_, err = s.UpdateKeys(ctx, store.KeyQuery{Kind: store.KindPersonalToken, Owner: "alice"}, rename("same"))
	wantErr(t, err, store.ErrAlreadyExists)
	keys, err := s.ListKeys(ctx, store.KeyQuery{Kind: store.KindPersonalToken, Owner: "alice"})
	must(t, err)
	for _, k := range keys {
		if k.Name == "same" {
			t.Fatalf("refused UpdateKeys renamed %s", k.ID)
		}
	}
}

// testCreateKeyConflictBeforeLimit: at the limit, a create that conflicts
// (a resend of a create that landed, a taken token name) says so rather
// than ErrLimitExceeded. The backends diverged here: bbolt checked the
// conflicts first, etcd the limit.
func testCreateKeyConflictBeforeLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	limit := store.MaxKeysPerOwner(2)
	must(t, s.CreateKey(ctx, key("p0", store.KindPersonalToken, "alice"), limit))
	must(t, s.CreateKey(ctx, key("p1", store.KindPersonalToken, "alice"), limit))
	wantErr(t, s.CreateKey(ctx, key("p1", store.KindPersonalToken, "alice"), limit), store.ErrAlreadyExists)
	taken := key("p2", store.KindPersonalToken, "alice")
	taken.Name = "k-p0"
	wantErr(t, s.CreateKey(ctx, taken, limit), store.ErrAlreadyExists)
	wantErr(t, s.CreateKey(ctx, key("p2", store.KindPersonalToken, "alice"), limit), store.ErrLimitExceeded)
}

// testKeysByExpiry: the expiry-range query (what the expiry-notice job
// asks) follows expiry changes, notices, deletions and owner deletion.
func testKeysByExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("svc", "svc@example.com")))
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	at := func(id string, kind store.KeyKind, owner string, expires time.Time) store.Key {
		k := key(id, kind, owner)
		k.ExpiresAt = expires
		return k
	}
	must(t, s.CreateKey(ctx, at("soon", store.KindServiceKey, "svc", t0.Add(2*time.Hour))))
	must(t, s.CreateKey(ctx, at("edge", store.KindServiceKey, "svc", t0.Add(3*time.Hour))))
	must(t, s.CreateKey(ctx, at("later", store.KindServiceKey, "svc", t0.Add(30*24*time.Hour))))
	must(t, s.CreateKey(ctx, at("gone", store.KindServiceKey, "svc", t0.Add(-time.Hour))))
	must(t, s.CreateKey(ctx, at("never", store.KindServiceKey, "svc", time.Time{})))
	must(t, s.CreateKey(ctx, at("pat", store.KindPersonalToken, "alice", t0.Add(time.Hour))))
	query := func(q store.KeyQuery) []string {
		keys, err := s.ListKeys(ctx, q)
		must(t, err)
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		slices.Sort(out)
		return out
	}
	window := store.KeyQuery{ExpiresAfter: t0, ExpiresBefore: t0.Add(3 * time.Hour), WithoutExpiryNotice: true}
	if got := query(window); !slices.Equal(got, []string{"edge", "pat", "soon"}) {
		t.Fatalf("expiring within 3h: %v", got)
	}
	// A notice sent, an expiry moved into the window, one moved out.
	_, err := s.UpdateKey(ctx, "soon", func(k store.Key) (store.Key, error) { k.ExpiryNoticeAt = t0; return k, nil })
	must(t, err)
	_, err = s.UpdateKey(ctx, "later", func(k store.Key) (store.Key, error) { k.ExpiresAt = t0.Add(time.Minute); return k, nil })
	must(t, err)
	_, err = s.UpdateKey(ctx, "edge", func(k store.Key) (store.Key, error) { k.ExpiresAt = t0.Add(4 * time.Hour); return k, nil })
	must(t, err)
	if got := query(window); !slices.Equal(got, []string{"later", "pat"}) {
		t.Fatalf("after updates: %v", got)
	}
	must(t, s.DeleteKey(ctx, "later"))
	must(t, s.DeleteUser(ctx, "alice"))
	if got := query(window); len(got) != 0 {
		t.Fatalf("after deletions: %v", got)
	}
	if got := query(store.KeyQuery{ExpiresBefore: t0.Add(5 * time.Hour)}); !slices.Equal(got, []string{"edge", "gone", "soon"}) {
		t.Fatalf("everything expiring before +5h: %v", got)
	}
	if got := query(store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc", ExpiresAfter: t0}); !slices.Equal(got, []string{"edge", "soon"}) {
		t.Fatalf("svc keys expiring after t0: %v", got)
	}
}

// testDeleteUserLeavesNoOwnership: deleting a user removes them from every
// owner list in the same transaction, so a different person later created
// with the same name owns nothing.
func testDeleteUserLeavesNoOwnership(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateUser(ctx, user("bob", "bob@example.com")))
	for _, name := range []string{"svc-a", "svc-b", "svc-c"} {
		sa := account(name, name+"@example.com")
		sa.Owners = []string{"alice", "bob"}
		if name == "svc-c" {
			sa.Owners = []string{"bob"}
		}
		must(t, s.CreateServiceAccount(ctx, sa))
	}
	must(t, s.DeleteUser(ctx, "alice"))
	must(t, s.CreateUser(ctx, user("alice", "other-alice@example.com")))
	all, err := s.ListServiceAccounts(ctx)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("%d accounts, want 3", len(all))
	}
	for _, sa := range all {
		if slices.Contains(sa.Owners, "alice") {
			t.Errorf("%s still lists the deleted user: owners %v", sa.Name, sa.Owners)
		}
		if !slices.Equal(sa.Owners, []string{"bob"}) {
			t.Errorf("%s: owners %v, want [bob]", sa.Name, sa.Owners)
		}
		if sa.Description != "" || len(sa.Roles) != 1 {
			t.Errorf("%s: other fields changed: %+v", sa.Name, sa)
		}
	}
}

// testOwnersMustBeUsers: owner lists only name existing users.
func testOwnersMustBeUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	sa := account("svc", "svc@example.com")
	sa.Owners = []string{"alice", "ghost"}
	wantErr(t, s.CreateServiceAccount(ctx, sa), store.ErrNotFound)
	sa.Owners = []string{"alice"}
	must(t, s.CreateServiceAccount(ctx, sa))
	must(t, s.CreateServiceAccount(ctx, account("other", "other@example.com")))
	// A service account is not a user.
	_, err := s.UpdateServiceAccount(ctx, "svc", func(a store.ServiceAccount) (store.ServiceAccount, error) {
		a.Owners = append(slices.Clone(a.Owners), "other")
		return a, nil
	})
	wantErr(t, err, store.ErrNotFound)
	got, _ := s.GetServiceAccount(ctx, "svc")
	if !slices.Equal(got.Owners, []string{"alice"}) {
		t.Fatalf("owners %v after a refused update", got.Owners)
	}
}

// testConcurrentOwnerAddAndUserDelete races "add alice as owner" against
// "delete alice": whatever the interleaving, no account may end up naming
// a user that does not exist.
func testConcurrentOwnerAddAndUserDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	for i := range n {
		must(t, s.CreateServiceAccount(ctx, account(fmt.Sprintf("svc-%d", i), fmt.Sprintf("svc%d@example.com", i))))
	}
	for round := range 5 {
		must(t, s.CreateUser(ctx, user("alice", fmt.Sprintf("alice%d@example.com", round))))
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UpdateServiceAccount(ctx, fmt.Sprintf("svc-%d", i), func(a store.ServiceAccount) (store.ServiceAccount, error) {
					if !slices.Contains(a.Owners, "alice") {
						a.Owners = append(slices.Clone(a.Owners), "alice")
					}
					return a, nil
				})
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.DeleteUser(ctx, "alice"); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		all, err := s.ListServiceAccounts(ctx)
		must(t, err)
		for _, sa := range all {
			if slices.Contains(sa.Owners, "alice") {
				t.Fatalf("round %d: %s names the deleted user alice", round, sa.Name)
			}
		}
	}
}

// testKeyLimitPerOwner: MaxKeysPerOwner counts the owner's stored keys of
// the key's kind, revoked ones included.
func testKeyLimitPerOwner(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateUser(ctx, user("bob", "bob@example.com")))
	limit := store.MaxKeysPerOwner(3)
	for i := range 3 {
		must(t, s.CreateKey(ctx, key(fmt.Sprintf("p%d", i), store.KindPersonalToken, "alice"), limit))
	}
	_, err := s.UpdateKey(ctx, "p0", func(k store.Key) (store.Key, error) { k.RevokedAt = t0; return k, nil })
	must(t, err)
	wantErr(t, s.CreateKey(ctx, key("p3", store.KindPersonalToken, "alice"), limit), store.ErrLimitExceeded)
	if _, err := s.GetKey(ctx, "p3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused key was stored (%v)", err)
	}
	must(t, s.CreateKey(ctx, key("b0", store.KindPersonalToken, "bob"), limit)) // per owner
	must(t, s.CreateKey(ctx, key("p4", store.KindPersonalToken, "alice")))      // no option: no limit
	must(t, s.DeleteKey(ctx, "p0"))
	must(t, s.DeleteKey(ctx, "p4"))
	must(t, s.CreateKey(ctx, key("p5", store.KindPersonalToken, "alice"), limit)) // room again
}

// testConcurrentKeyLimit: concurrent creates never overshoot the limit.
func testConcurrentKeyLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	const limit, n = 5, 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateKey(ctx, key(fmt.Sprintf("c%d", i), store.KindPersonalToken, "alice"), store.MaxKeysPerOwner(limit))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrLimitExceeded):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	keys, err := s.ListKeys(ctx, store.KeyQuery{Kind: store.KindPersonalToken, Owner: "alice"})
	must(t, err)
	if ok != limit || len(keys) != limit {
		t.Fatalf("%d creates succeeded and %d keys stored; want exactly %d", ok, len(keys), limit)
	}
}
