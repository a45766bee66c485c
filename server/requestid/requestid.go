// Package requestid decides each request's id: the X-Request-Id a trusted
// proxy sent, when it is a sane token, or a new random one. Only a trusted
// proxy's id is believed: any other client could otherwise choose the id
// under which its requests are logged (colliding with, or impersonating,
// another request's lines) and put arbitrary text in every log line.
package requestid

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// Header is the request and response header that carries the id.
const Header = "X-Request-Id"

// MaxLen bounds an accepted id: a UUID (36), a ULID (26), Envoy's and
// nginx's ids (32-36) all fit, and a log line cannot be inflated.
const MaxLen = 128

// New returns a new id: 16 random bytes in hex.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+: it crashes instead)
	return hex.EncodeToString(b[:])
}

// Valid reports whether id is a token we log as it is: 1 to MaxLen
// characters of letters, digits and - _ . : (UUIDs, ULIDs, the ids of the
// common proxies), so no quote, space, control character or escape.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// For returns r's id: the one in its X-Request-Id header when fromProxy
// (the peer is a trusted proxy) and it is Valid, a new one otherwise.
func For(r *http.Request, fromProxy bool) string {
	if fromProxy {
		if vs := r.Header.Values(Header); len(vs) == 1 && Valid(vs[0]) {
			return vs[0]
		}
	}
	return New()
}
