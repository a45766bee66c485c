// Package ticketstest checks stored TLS session-ticket keys from the
// outside, for the tests of every backend: the raw value a test reads
// from a bbolt file or from etcd.
package ticketstest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/tlstickets"
	"github.com/tokenwright/tokenwright/store"
)

// WantSealed fails unless value, a stored ticket key as the backend holds
// it, is sealed under kek, and the key it opens to appears neither in
// value nor in logs in any encoding (raw, hex, base64). It returns the
// key, so that a test can show it is the one the tickets are under.
func WantSealed(t testing.TB, kek *signing.KEK, value []byte, logs string) [32]byte {
	t.Helper()
	var rec store.TLSTicketKey
	if err := json.Unmarshal(value, &rec); err != nil {
		t.Fatalf("stored ticket key %q: %v", value, err)
	}
	if rec.KEKID != kek.ID() {
		t.Fatalf("the record names KEK %s, the KEK is %s", rec.KEKID, kek.ID())
	}
	key, err := tlstickets.Open(kek, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range [][]byte{key[:], []byte(hex.EncodeToString(key[:])),
		[]byte(base64.StdEncoding.EncodeToString(key[:])), []byte(base64.RawURLEncoding.EncodeToString(key[:]))} {
		if bytes.Contains(value, enc) || bytes.Contains([]byte(logs), enc) {
			t.Fatalf("the ticket key is stored or logged in the clear (%q)", enc)
		}
	}
	return key
}
