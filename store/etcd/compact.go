package etcd

import "bytes"

// The mirror keeps every record's stored bytes, and at a million keys the
// JSON field names repeated in each record would be about a third of them.
// compact replaces each fragment of fragments found in a value with one
// byte below 0x20, which encoding/json never writes unescaped (a value that
// holds such a byte anyway is kept as it is); expand restores the exact
// bytes. The fragments are the key record's fields (store.Key, in the order
// json.Marshal writes them) and a few of the other records'; a fragment
// that does not occur costs nothing, so records of any shape and version
// round-trip unchanged.
//
// A compacted value starts with markCompact; one kept as it is, with
// markRaw.
const (
	markCompact = 0x00
	markRaw     = 0x01
)

// fragments are coded as 0x01 + their index (so at most 31). Order does
// not matter for correctness; a fragment that is a prefix of another must
// come after it (the longer one is tried first).
var fragments = [...]string{
	`{"id":`,
	`,"kind":"service_account"`,
	`,"kind":"personal"`,
	`,"owner":`,
	`,"name":`,
	`,"description":`,
	`,"secretHash":`,
	`,"publicJwk":`,
	`,"previousSecretHash":`,
	`,"previousExpiresAt":`,
	`,"roles":`,
	`,"scopes":`,
	`,"audiences":`,
	`,"cidrs":`,
	`,"createdAt":`,
	`,"createdBy":`,
	`,"expiresAt":`,
	`,"rotatedAt":`,
	`,"revokedAt":`,
	`,"revokedBy":`,
	`,"lastUsedAt":`,
	`,"lastUsedIp":`,
	`,"expiryNoticeAt":`,
	`,"email":`,
	`,"status":"active"`,
	`,"updatedAt":`,
	`,"allowedScopes":`,
	`,"allowedAudiences":`,
	`,"allowedCidrs":`,
}

// byFirst lists, per first byte, the indexes of the fragments starting
// with it, longest first.
var byFirst = func() (m [256][]int) {
	for i, f := range fragments {
		l := m[f[0]]
		at := len(l)
		for j, k := range l {
			if len(fragments[k]) < len(f) {
				at = j
				break
			}
		}
		m[f[0]] = append(l[:at], append([]int{i}, l[at:]...)...)
	}
	return m
}()

// compact returns v in the mirror's form (see above); v is not retained.
func compact(v []byte) []byte {
	for _, c := range v {
		if c < 0x20 {
			return append([]byte{markRaw}, v...)
		}
	}
	out := make([]byte, 1, len(v)+1)
	out[0] = markCompact
	for i := 0; i < len(v); {
		coded := false
		for _, k := range byFirst[v[i]] {
			if f := fragments[k]; len(v)-i >= len(f) && string(v[i:i+len(f)]) == f {
				out = append(out, byte(0x01+k))
				i += len(fragments[k])
				coded = true
				break
			}
		}
		if !coded {
			out = append(out, v[i])
			i++
		}
	}
	// Exactly sized: the mirror holds a million of these.
	return bytes.Clone(out)
}

// expand returns the stored bytes of a compacted value (nil for nil).
func expand(c []byte) []byte {
	if len(c) == 0 {
		return nil
	}
	if c[0] == markRaw {
		return c[1:]
	}
	n := 0
	for _, b := range c[1:] {
		if b < 0x20 {
			n += len(fragments[b-0x01])
		} else {
			n++
		}
	}
	out := make([]byte, 0, n)
	for _, b := range c[1:] {
		if b < 0x20 {
			out = append(out, fragments[b-0x01]...)
		} else {
			out = append(out, b)
		}
	}
	return out
}
