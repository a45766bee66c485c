package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// Who may change the signing keys, and what the audit trail says about it,
// is one rule: administrators only; a success is stored with the change
// and named after the new key; a refusal or failure is recorded after.
func TestSigningKeyChangesAreAdministrativeAndAudited(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kek, err := signing.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	m := signing.NewManager(db, kek, signing.Options{RotationPeriod: 0})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(db, accounts.Options{Policy: accounts.DefaultPolicy(), Logger: zerolog.Nop()})
	rotate := func(actor accounts.Actor) (signing.KeyInfo, error) {
		var k signing.KeyInfo
		err := svc.ChangeSigningKeys(ctx, actor, accounts.SigningKeyRotate, "", map[string]string{"immediate": "false"},
			func(ctx context.Context) (string, error) {
				var err error
				k, err = m.RotateTo(ctx, false, "")
				return k.ID, err
			})
		return k, err
	}
	user := accounts.Actor{User: store.User{Name: "bob", Status: store.StatusActive}}
	inactiveAdmin := accounts.Actor{User: store.User{Name: "old", Admin: true, Status: store.StatusInactive}}
	for _, actor := range []accounts.Actor{user, inactiveAdmin} {
		if _, err := rotate(actor); !errors.Is(err, accounts.ErrForbidden) {
			t.Fatalf("%s rotated: %v", actor.Name(), err)
		}
		if err := accounts.MayManageSigningKeys(actor); !errors.Is(err, accounts.ErrForbidden) {
			t.Errorf("%s may manage signing keys", actor.Name())
		}
	}
	k, err := rotate(admin)
	if err != nil {
		t.Fatal(err)
	}
	// A second scheduled rotation is refused while one is pending: a failure.
	if _, err := rotate(admin); !errors.Is(err, signing.ErrRotationPending) {
		t.Fatalf("second rotation: %v", err)
	}
	events, err := db.ListAudit(ctx, store.AuditQuery{Action: string(accounts.SigningKeyRotate)})
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		actor  string
		result string
		target string
	}
	want := []ev{ // newest first
		{"admin", store.ResultFailure, ""},
		{"admin", store.ResultSuccess, k.ID},
		{"old", store.ResultDenied, ""},
		{"bob", store.ResultDenied, ""},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(events), len(want), events)
	}
	for i, w := range want {
		if got := (ev{events[i].Actor, events[i].Result, events[i].Target}); got != w {
			t.Errorf("event %d: %+v, want %+v", i, got, w)
		}
	}
}
