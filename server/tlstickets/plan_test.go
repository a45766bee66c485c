package tlstickets

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// TestPlan pins the rules of the package comment, one step each: when a
// key is made and with which id, when it starts encrypting, when it is
// dropped, and what happens to a key under another KEK.
func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	key := func(seq uint64, age time.Duration) store.TLSTicketKey {
		return store.TLSTicketKey{ID: store.TLSTicketKeyID(seq), CreatedAt: t0.Add(-age), KEKID: "kek"}
	}
	id := store.TLSTicketKeyID
	foreign := key(7, time.Minute)
	foreign.KEKID = "old-kek"
	tests := []struct {
		name    string
		keys    []store.TLSTicketKey
		damaged map[string]bool
		create  string
		remove  []string
		served  []string
	}{
		{"empty store: the first key", nil, nil, id(1), nil, nil},
		{"first key encrypts at once", []store.TLSTicketKey{key(1, 0)}, nil, "", nil, []string{id(1)}},
		{"newest younger than R: nothing to do", []store.TLSTicketKey{key(1, Rotation-time.Second)}, nil, "", nil, []string{id(1)}},
		{"newest R old: the next sequence number", []store.TLSTicketKey{key(4, Rotation)}, nil, id(5), nil, []string{id(4)}},
		{"a new key decrypts but does not encrypt before P", []store.TLSTicketKey{key(1, Rotation), key(2, PrePublish-time.Second)}, nil,
			"", nil, []string{id(1), id(2)}},
		{"after P the new key encrypts, the old still decrypts", []store.TLSTicketKey{key(1, Rotation+PrePublish), key(2, PrePublish)}, nil,
			"", nil, []string{id(2), id(1)}},
		{"A old: removed", []store.TLSTicketKey{key(1, Acceptance), key(2, Acceptance-Rotation+time.Minute), key(3, time.Minute)}, nil,
			"", []string{id(1)}, []string{id(2), id(3)}},
		{"all A old: a new key, numbered after the removed ones", []store.TLSTicketKey{key(8, Acceptance+time.Hour)}, nil,
			id(9), []string{id(8)}, nil},
		{"a damaged key: removed", []store.TLSTicketKey{key(1, Rotation-time.Minute), key(2, time.Minute)}, map[string]bool{id(2): true},
			"", []string{id(2)}, []string{id(1)}},
		{"sealed under another KEK: removed, and its number is not reused", []store.TLSTicketKey{key(6, 2*time.Minute), foreign}, nil,
			"", []string{id(7)}, []string{id(6)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planKeys(tc.keys, "kek", tc.damaged, t0)
			if err != nil {
				t.Fatal(err)
			}
			if p.create != tc.create || !slices.Equal(p.remove, tc.remove) || !slices.Equal(p.served, tc.served) {
				t.Fatalf("plan = create %q remove %v served %v; want create %q remove %v served %v",
					p.create, p.remove, p.served, tc.create, tc.remove, tc.served)
			}
		})
	}
	if _, err := planKeys([]store.TLSTicketKey{{ID: "x", KEKID: "kek"}}, "kek", nil, t0); err == nil {
		t.Fatal("a malformed id was planned with")
	}
}

// The windows the docs promise: A > R + P, so that a key encrypts for R
// and every ticket it issued stays resumable for at least A - R - P.
func TestWindows(t *testing.T) {
	if Acceptance <= Rotation+PrePublish || PrePublish < 2*Refresh {
		t.Fatalf("R %s, A %s, P %s, refresh %s: want A > R + P and P >= 2 refreshes", Rotation, Acceptance, PrePublish, Refresh)
	}
}
