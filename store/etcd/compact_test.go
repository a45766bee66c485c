package etcd

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// The mirror's compacted values expand to exactly the stored bytes, for
// records of every shape, including bytes no JSON encoder writes and
// fragments inside string values.
func TestCompactRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 5, 0, 0, 123, time.UTC)
	key, err := json.Marshal(store.Key{ID: "abc", Kind: store.KindServiceKey, Owner: "svc", Name: `,"name":`,
		Description: "{\"id\":\u00e9", SecretHash: []byte{1, 2, 3}, Roles: []string{"r"}, CreatedAt: now, ExpiresAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{
		key, {}, []byte("sa"), []byte(`{"id":`), []byte(`{"id":{"id":,"kind":"personal"`),
		{0}, {1}, {0, 1, 2}, []byte(`"0001-01-01T00:00:00Z"`), []byte(`"2026-12-03T05:00:00+01:00"`),
		[]byte(`"2026-12-03T05:00:00.100Z"`), []byte(`"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="`),
		[]byte(`"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="x"`), []byte(`"2026-12-03T05:00:00Z`), []byte(`"`), []byte("{\"id\":\x01\x1f"), []byte("a\x00b"), {0xff, 0xfe},
	} {
		c := compact(v)
		if got := expand(c); !bytes.Equal(got, v) || got == nil {
			t.Errorf("expand(compact(%q)) = %q", v, got)
		}
	}
	if c := compact(key); len(c) >= len(key)/2 {
		t.Errorf("a key record of %d bytes compacts to %d", len(key), len(c))
	}
	if expand("") != nil {
		t.Error("expand(\"\") is not nil")
	}
}

// keyOwner, the reload's shortcut, agrees with decoding the JSON whenever
// it answers, and answers for the records the store writes.
func TestKeyOwnerAgreesWithJSON(t *testing.T) {
	var recs [][]byte
	for _, k := range []store.Key{
		{ID: "a", Kind: store.KindServiceKey, Owner: "svc-1", SecretHash: make([]byte, 32), CreatedAt: time.Now().UTC()},
		{ID: "b", Kind: store.KindPersonalToken, Owner: "alice", Name: `,"owner":"mallory"`},
		{ID: "c", Kind: store.KindServiceKey, Owner: `we"ird\`},
		{ID: "d", Kind: store.KindServiceKey, Owner: `x,"name":y`},
		{ID: "e", Kind: "other", Owner: "o"},
	} {
		data, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, data)
	}
	recs = append(recs, []byte(`{"id":"f","kind":"personal","owner":"a","owner":"b"}`), []byte(`{"owner":"a"}`), []byte(`not json`))
	for i, v := range recs {
		var want struct {
			Kind  store.KeyKind `json:"kind"`
			Owner string        `json:"owner"`
		}
		_ = json.Unmarshal(v, &want)
		kind, owner, ok := keyOwner(compact(v))
		if ok && (kind != want.Kind || owner != want.Owner) {
			t.Errorf("%s: keyOwner says %q/%q, JSON %q/%q", v, kind, owner, want.Kind, want.Owner)
		}
		if !ok && i < 2 {
			t.Errorf("%s: keyOwner does not answer for a record the store writes", v)
		}
	}
}

// reload reads exactly the families the mirror holds: one left out of
// mirroredFams would be missing after every start.
func TestMirroredFamsAreRead(t *testing.T) {
	for _, f := range []string{famAccount, famUser, famName, famEmail, famKey, famPATName, famSigning, famRevoked, famTicket, famAudit, famLock, famMeta} {
		if mirrored(f) != slices.Contains(mirroredFams, f) {
			t.Errorf("family %s: mirrored %v, read by reload %v", f, mirrored(f), slices.Contains(mirroredFams, f))
		}
	}
}
