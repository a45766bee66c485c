package tlstickets

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tokenwright/tokenwright/internal/testclock"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// TestKeyMadeAgainUnderItsID: two managers on one real bbolt store (two
// replicas' view). When the only key is deleted behind their backs and
// one of them makes the next key, which takes the same id, the other
// serves the new key's bytes, not the ones it opened earlier under that
// id.
func TestKeyMadeAgainUnderItsID(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, err := signing.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New()
	a := New(st, kek, &tls.Config{}, Options{Now: clock.Now})
	b := New(st, kek, &tls.Config{}, Options{Now: clock.Now})
	for _, m := range []*Manager{a, b} {
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first := slices.Clone(b.keys)
	if !slices.Equal(a.keys, first) || len(first) != 1 {
		t.Fatalf("A serves %d keys, B %d; want the same one", len(a.keys), len(b.keys))
	}
	if err := st.DeleteTLSTicketKey(ctx, store.TLSTicketKeyID(1)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Manager{a, b} {
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.KeyIDs(); !slices.Equal(got, []string{store.TLSTicketKeyID(1)}) {
		t.Fatalf("B serves %v", got)
	}
	if slices.Equal(b.keys, first) || !slices.Equal(a.keys, b.keys) {
		t.Fatal("B still serves the key it opened before under the same id")
	}
}
