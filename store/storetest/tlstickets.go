package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

func ticketKey(seq uint64, created time.Time) store.TLSTicketKey {
	return store.TLSTicketKey{ID: store.TLSTicketKeyID(seq), CreatedAt: created, EncryptedKey: []byte{byte(seq), 1, 2, 3}, KEKID: "kek-1"}
}

// TLSTicketKeys: keys are read back as written, oldest (lowest sequence)
// first, whatever order they were created in; a malformed id is refused;
// a taken id is refused with ErrAlreadyExists; a deleted key is gone and
// deleting it again is ErrNotFound.
func testTLSTicketKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	keys, err := s.ListTLSTicketKeys(ctx)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("a new store lists %d ticket keys", len(keys))
	}
	wantErr(t, s.CreateTLSTicketKey(ctx, store.TLSTicketKey{ID: "1", CreatedAt: t0}), store.ErrInvalidArgument)
	k2, k10 := ticketKey(2, t0.Add(time.Hour)), ticketKey(10, t0.Add(2*time.Hour))
	must(t, s.CreateTLSTicketKey(ctx, k10))
	must(t, s.CreateTLSTicketKey(ctx, k2))
	wantErr(t, s.CreateTLSTicketKey(ctx, ticketKey(2, t0)), store.ErrAlreadyExists)
	keys, err = s.ListTLSTicketKeys(ctx)
	must(t, err)
	if want := []store.TLSTicketKey{k2, k10}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("ListTLSTicketKeys = %+v, want %+v (oldest first)", keys, want)
	}
	must(t, s.DeleteTLSTicketKey(ctx, k2.ID))
	wantErr(t, s.DeleteTLSTicketKey(ctx, k2.ID), store.ErrNotFound)
	keys, err = s.ListTLSTicketKeys(ctx)
	must(t, err)
	if want := []store.TLSTicketKey{k10}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("after the delete ListTLSTicketKeys = %+v, want %+v", keys, want)
	}
}

// TLSTicketKeyCreatedOnce: replicas that find the newest key too old all
// create the same next one; exactly one of them succeeds, so a rotation
// adds one key however many replicas attempt it.
func testTLSTicketKeyCreatedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateTLSTicketKey(ctx, ticketKey(1, t0)))
	exactlyOne(t, "creations of ticket key 2", store.ErrAlreadyExists, func(i int) error {
		return s.CreateTLSTicketKey(ctx, ticketKey(2, t0.Add(time.Duration(i)*time.Second)))
	})
	keys, err := s.ListTLSTicketKeys(ctx)
	must(t, err)
	if len(keys) != 2 {
		t.Fatalf("%d ticket keys after the race, want 2", len(keys))
	}
}
