package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// changeEvent is a valid event of a change named action.
func changeEvent(action, target string) store.AuditEvent {
	return store.AuditEvent{Time: t0, Actor: "admin", Action: action, Target: target, SourceIP: "127.0.0.1",
		Result: store.ResultSuccess, Details: map[string]string{"k": "v"}}
}

// auditCount returns how many events are stored, all actions together.
func auditCount(t *testing.T, s store.Store) int {
	t.Helper()
	all, err := s.ListAudit(context.Background(), store.AuditQuery{Limit: 1000})
	must(t, err)
	return len(all)
}

// testChangeAudit: every write method records the event its context
// carries, once, together with the change; a write that fails records
// nothing, and a write without an event records nothing.
func testChangeAudit(t *testing.T, s store.Store) {
	bg := context.Background()
	with := func(action string) context.Context {
		return store.WithAudit(bg, changeEvent(action, "target-"+action), nil)
	}
	n := 0 // keys changed by the current attempt of the revoke-all below
	revokeAll := store.WithAudit(bg, changeEvent("keys.revoke_all", "svc"), func(e *store.AuditEvent) {
		e.Details["revoked"] = fmt.Sprint(n)
		n = 0 // the next attempt, if the backend makes one, counts afresh
	})
	revoke := func(k store.Key) (store.Key, error) {
		if k.Revoked() {
			return k, store.ErrSkip
		}
		n++
		k.RevokedAt = t0.Add(time.Minute)
		return k, nil
	}
	writes := []struct {
		action string
		write  func() error
	}{
		{"user.create", func() error { return s.CreateUser(with("user.create"), user("alice", "alice@example.com")) }},
		{"service_account.create", func() error {
			sa := account("svc", "svc@example.com")
			sa.Owners = []string{"alice"}
			return s.CreateServiceAccount(with("service_account.create"), sa)
		}},
		{"service_account.update", func() error {
			_, err := s.UpdateServiceAccount(with("service_account.update"), "svc", func(a store.ServiceAccount) (store.ServiceAccount, error) {
				a.Description = "changed"
				return a, nil
			})
			return err
		}},
		{"key.create", func() error { return s.CreateKey(with("key.create"), key("k1", store.KindServiceKey, "svc")) }},
		{"key.create2", func() error {
			return s.CreateKey(with("key.create2"), key("k2", store.KindServiceKey, "svc"), store.MaxKeysPerOwner(5))
		}},
		{"pat.create", func() error { return s.CreateKey(with("pat.create"), key("p1", store.KindPersonalToken, "alice")) }},
		{"key.rotate", func() error {
			_, err := s.UpdateKey(with("key.rotate"), "k1", func(k store.Key) (store.Key, error) {
				k.SecretHash = []byte("new")
				return k, nil
			})
			return err
		}},
		{"keys.revoke_all", func() error {
			_, err := s.UpdateKeys(revokeAll, store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"}, revoke)
			return err
		}},
		// Nothing left to revoke: the action still happened, and is recorded.
		{"keys.revoke_all_again", func() error {
			_, err := s.UpdateKeys(with("keys.revoke_all_again"), store.KeyQuery{Kind: store.KindServiceKey, Owner: "svc"}, revoke)
			return err
		}},
		{"key.delete", func() error { return s.DeleteKey(with("key.delete"), "k1") }},
		{"user.update", func() error {
			_, err := s.UpdateUser(with("user.update"), "alice", func(u store.User) (store.User, error) {
				u.Roles = []string{"ops"}
				return u, nil
			})
			return err
		}},
		{"signing.create", func() error {
			return s.CreateSigningKey(with("signing.create"), store.SigningKey{ID: "s1", Algorithm: "ES256", State: store.SigningPending})
		}},
		{"signing.update", func() error {
			_, err := s.UpdateSigningKey(with("signing.update"), "s1", func(k store.SigningKey) (store.SigningKey, error) {
				k.State = store.SigningActive
				return k, nil
			})
			return err
		}},
		{"signing.replace", func() error {
			return s.ReplaceSigningKeys(with("signing.replace"), []store.SigningKey{{ID: "s1"}, {ID: "s2"}})
		}},
		{"signing.delete", func() error { return s.DeleteSigningKey(with("signing.delete"), "s2") }},
		{"token.revoke", func() error {
			return s.RevokeToken(with("token.revoke"), store.RevokedToken{JTI: "j1", ExpiresAt: t0.Add(time.Hour), RevokedAt: t0})
		}},
		{"service_account.delete", func() error { return s.DeleteServiceAccount(with("service_account.delete"), "svc") }},
		{"user.delete", func() error { return s.DeleteUser(with("user.delete"), "alice") }},
	}
	for i, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.action, err)
		}
		got, err := s.ListAudit(bg, store.AuditQuery{Action: w.action})
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("%s recorded %d events, want 1", w.action, len(got))
		}
		e := got[0]
		if e.ID == "" || e.Actor != "admin" || e.Result != store.ResultSuccess || !e.Time.Equal(t0) ||
			e.SourceIP != "127.0.0.1" || e.Details["k"] != "v" {
			t.Fatalf("%s recorded %+v", w.action, e)
		}
		if c := auditCount(t, s); c != i+1 {
			t.Fatalf("after %s: %d events, want %d", w.action, c, i+1)
		}
	}
	if got, _ := s.ListAudit(bg, store.AuditQuery{Action: "keys.revoke_all"}); len(got) != 1 || got[0].Details["revoked"] != "2" {
		t.Fatalf("revoke-all event completed inside the transaction = %+v, want revoked=2", got)
	}
	if got, _ := s.ListAudit(bg, store.AuditQuery{Action: "keys.revoke_all_again"}); len(got) != 1 {
		t.Fatalf("a write that changed nothing recorded %d events, want 1", len(got))
	}

	// Failed writes and writes without an event record nothing.
	before := auditCount(t, s)
	wantErr(t, s.DeleteUser(with("user.delete"), "alice"), store.ErrNotFound)
	wantErr(t, s.CreateKey(with("key.create"), key("k9", store.KindServiceKey, "ghost")), store.ErrNotFound)
	_, err := s.UpdateKey(with("key.rotate"), "k2", func(k store.Key) (store.Key, error) { return k, store.ErrConflict })
	wantErr(t, err, store.ErrNotFound) // k2 went with svc
	must(t, s.CreateUser(with("user.create"), user("bob", "bob@example.com")))
	wantErr(t, s.CreateUser(with("user.create"), user("bob", "bob2@example.com")), store.ErrAlreadyExists)
	_, err = s.UpdateUser(with("user.update"), "bob", func(u store.User) (store.User, error) { return u, store.ErrConflict })
	wantErr(t, err, store.ErrConflict)
	must(t, s.CreateUser(bg, user("carol", "carol@example.com")))
	// Housekeeping ignores an event it is given.
	must(t, s.RecordKeyUsage(with("usage"), []store.KeyUsage{{KeyID: "p1", At: t0}}))
	_, err = s.PruneRevokedTokens(with("prune"), t0.Add(2*time.Hour))
	must(t, err)
	if c := auditCount(t, s); c != before+1 {
		t.Fatalf("failed writes, writes without an event or housekeeping recorded events: %d, want %d", c, before+1)
	}
}

// testInvalidChangeAuditChangesNothing: when the event of a change cannot
// be written (here: it fails Validate), the write fails with
// ErrInvalidAudit and nothing it would have changed has changed.
func testInvalidChangeAuditChangesNothing(t *testing.T, s store.Store) {
	bg := context.Background()
	must(t, s.CreateUser(bg, user("alice", "alice@example.com")))
	sa := account("svc", "svc@example.com")
	sa.Owners = []string{"alice"}
	must(t, s.CreateServiceAccount(bg, sa))
	must(t, s.CreateKey(bg, key("k1", store.KindServiceKey, "svc")))
	must(t, s.CreateKey(bg, key("p1", store.KindPersonalToken, "alice")))
	must(t, s.CreateSigningKey(bg, store.SigningKey{ID: "s1", Algorithm: "ES256", State: store.SigningActive}))

	// No time: the event cannot be stored.
	bad := store.WithAudit(bg, store.AuditEvent{Actor: "admin", Action: "x", Result: store.ResultSuccess}, nil)
	// Valid until completed inside the transaction, then invalid.
	badLate := store.WithAudit(bg, changeEvent("x", ""), func(e *store.AuditEvent) { e.Result = "" })
	revoke := func(k store.Key) (store.Key, error) { k.RevokedAt = t0; return k, nil }

	wantErr(t, s.CreateUser(bad, user("bob", "bob@example.com")), store.ErrInvalidAudit)
	wantErr(t, s.CreateServiceAccount(bad, account("svc2", "svc2@example.com")), store.ErrInvalidAudit)
	wantErr(t, s.CreateKey(bad, key("k2", store.KindServiceKey, "svc")), store.ErrInvalidAudit)
	wantErr(t, s.CreateKey(badLate, key("p2", store.KindPersonalToken, "alice"), store.MaxKeysPerOwner(5)), store.ErrInvalidAudit)
	_, err := s.UpdateKey(bad, "k1", revoke)
	wantErr(t, err, store.ErrInvalidAudit)
	_, err = s.UpdateKeys(badLate, store.KeyQuery{}, revoke)
	wantErr(t, err, store.ErrInvalidAudit)
	_, err = s.UpdateServiceAccount(bad, "svc", func(a store.ServiceAccount) (store.ServiceAccount, error) {
		a.Status, a.Email = store.StatusInactive, "new@example.com"
		return a, nil
	})
	wantErr(t, err, store.ErrInvalidAudit)
	_, err = s.UpdateUser(bad, "alice", func(u store.User) (store.User, error) { u.Admin = true; return u, nil })
	wantErr(t, err, store.ErrInvalidAudit)
	wantErr(t, s.DeleteKey(bad, "k1"), store.ErrInvalidAudit)
	wantErr(t, s.DeleteServiceAccount(bad, "svc"), store.ErrInvalidAudit)
	wantErr(t, s.DeleteUser(badLate, "alice"), store.ErrInvalidAudit)
	wantErr(t, s.CreateSigningKey(bad, store.SigningKey{ID: "s2"}), store.ErrInvalidAudit)
	_, err = s.UpdateSigningKey(bad, "s1", func(k store.SigningKey) (store.SigningKey, error) {
		k.State = store.SigningRetired
		return k, nil
	})
	wantErr(t, err, store.ErrInvalidAudit)
	wantErr(t, s.ReplaceSigningKeys(bad, nil), store.ErrInvalidAudit)
	wantErr(t, s.DeleteSigningKey(bad, "s1"), store.ErrInvalidAudit)
	wantErr(t, s.RevokeToken(bad, store.RevokedToken{JTI: "j1", ExpiresAt: t0.Add(time.Hour)}), store.ErrInvalidAudit)
	_, err = s.AppendAudit(bg, store.AuditEvent{Time: t0, Action: "x", Result: "maybe"})
	wantErr(t, err, store.ErrInvalidAudit)

	// Nothing changed.
	for _, name := range []string{"bob", "svc2"} {
		_, err := s.GetUser(bg, name)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.GetServiceAccount(bg, name)
		wantErr(t, err, store.ErrNotFound)
	}
	for _, id := range []string{"k2", "p2"} {
		_, err := s.GetKey(bg, id)
		wantErr(t, err, store.ErrNotFound)
	}
	for _, id := range []string{"k1", "p1"} {
		k, err := s.GetKey(bg, id)
		must(t, err)
		if k.Revoked() {
			t.Fatalf("key %s revoked by a write whose event was refused", id)
		}
	}
	got, err := s.GetServiceAccount(bg, "svc")
	must(t, err)
	if got.Status != store.StatusActive || got.Email != "svc@example.com" {
		t.Fatalf("account changed by a write whose event was refused: %+v", got)
	}
	u, err := s.GetUser(bg, "alice")
	must(t, err)
	if u.Admin {
		t.Fatal("user changed by a write whose event was refused")
	}
	sks, err := s.ListSigningKeys(bg)
	must(t, err)
	if len(sks) != 1 || sks[0].ID != "s1" || sks[0].State != store.SigningActive {
		t.Fatalf("signing keys changed by a write whose event was refused: %+v", sks)
	}
	if revoked, err := s.IsTokenRevoked(bg, "j1"); err != nil || revoked {
		t.Fatalf("token revoked by a write whose event was refused (%v)", err)
	}
	if c := auditCount(t, s); c != 0 {
		t.Fatalf("%d events stored, want 0", c)
	}
	// Names, emails and token names claimed by the refused writes are free.
	must(t, s.CreateUser(bg, user("bob", "bob@example.com")))
	must(t, s.CreateServiceAccount(bg, account("svc2", "svc2@example.com")))
	must(t, s.CreateKey(bg, key("p2", store.KindPersonalToken, "alice")))
	_, err = s.UpdateServiceAccount(bg, "svc2", func(a store.ServiceAccount) (store.ServiceAccount, error) {
		a.Email = "svc@example.com" // still svc's
		return a, nil
	})
	wantErr(t, err, store.ErrConflict)
}
