package etcd

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

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

// fragments are coded as 0x01 + their index (so at most 29). Order does
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

// Fragment codes must stay below codeHash.
var _ [codeHash - 1 - len(fragments)]struct{}

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

// Two codes stand for a quoted value followed by raw bytes: a base64
// string of 32 bytes (a secret hash) and a UTC RFC 3339 time (8 bytes of
// Unix nanoseconds). Fragments use the codes below them.
const (
	codeHash = 0x1e
	codeTime = 0x1f
)

// compact returns v in the mirror's form (see above); v is not retained.
// Whatever the coding does, a value that would not expand to exactly v is
// kept as it is.
func compact(v []byte) string {
	for _, c := range v {
		if c < 0x20 {
			return string(append([]byte{markRaw}, v...))
		}
	}
	out := make([]byte, 1, len(v)+1)
	out[0] = markCompact
	for i := 0; i < len(v); {
		if n, ok := codeQuoted(&out, v[i:]); ok {
			i += n
			continue
		}
		coded := false
		for _, k := range byFirst[v[i]] {
			if f := fragments[k]; len(v)-i >= len(f) && string(v[i:i+len(f)]) == f {
				out = append(out, byte(0x01+k))
				i += len(f)
				coded = true
				break
			}
		}
		if !coded {
			out = append(out, v[i])
			i++
		}
	}
	c := string(out) // exactly sized: the mirror holds a million of these
	if !bytes.Equal(expand(c), v) {
		return string(append([]byte{markRaw}, v...))
	}
	return c
}

// codeQuoted codes a quoted hash or time at the start of v onto out,
// returning how many bytes of v it stands for.
func codeQuoted(out *[]byte, v []byte) (int, bool) {
	if len(v) < 3 || v[0] != '"' {
		return 0, false
	}
	end := bytes.IndexByte(v[1:min(len(v), 48)], '"')
	if end < 0 {
		return 0, false
	}
	inner := v[1 : 1+end]
	if len(inner) == 44 {
		var raw [33]byte
		if n, err := base64.StdEncoding.Decode(raw[:], inner); err == nil && n == 32 {
			*out = append(append(*out, codeHash), raw[:32]...)
			return end + 2, true
		}
	}
	if len(inner) >= 20 && len(inner) <= 30 && inner[len(inner)-1] == 'Z' {
		if t, err := time.Parse(time.RFC3339Nano, string(inner)); err == nil && t.UTC().Format(time.RFC3339Nano) == string(inner) &&
			t.Year() > 1678 && t.Year() < 2262 {
			*out = binary.BigEndian.AppendUint64(append(*out, codeTime), uint64(t.UnixNano()))
			return end + 2, true
		}
	}
	return 0, false
}

// expand returns the stored bytes of a compacted value (nil for "").
func expand(c string) []byte {
	if len(c) == 0 {
		return nil
	}
	if c[0] == markRaw {
		return []byte(c[1:])
	}
	out := make([]byte, 0, 2*len(c))
	for i := 1; i < len(c); i++ {
		switch b := c[i]; {
		case b == codeHash:
			out = append(out, '"')
			out = base64.StdEncoding.AppendEncode(out, []byte(c[i+1:i+33]))
			out = append(out, '"')
			i += 32
		case b == codeTime:
			ns := binary.BigEndian.Uint64([]byte(c[i+1 : i+9]))
			out = append(out, '"')
			out = time.Unix(0, int64(ns)).UTC().AppendFormat(out, time.RFC3339Nano)
			out = append(out, '"')
			i += 8
		case b < 0x20:
			out = append(out, fragments[b-0x01]...)
		default:
			out = append(out, b)
		}
	}
	return out
}

// Codes keyOwner looks for.
var (
	codeKindSA  = fragmentCode(`,"kind":"service_account"`)
	codeKindPAT = fragmentCode(`,"kind":"personal"`)
	codeOwner   = fragmentCode(`,"owner":`)
)

func fragmentCode(f string) byte {
	for i, g := range fragments {
		if g == f {
			return byte(0x01 + i)
		}
	}
	panic("etcd: no fragment " + f)
}

// keyOwner reads kind and owner from a compacted key record written by
// json.Marshal(store.Key) (kind before owner, each once, owner without
// escapes), without decoding the JSON: a reload indexes a million of them.
// ok is false for any other shape; the caller then decodes the JSON.
func keyOwner(c string) (kind store.KeyKind, owner string, ok bool) {
	if len(c) == 0 || c[0] != markCompact {
		return "", "", false
	}
	for i := 1; i < len(c); i++ {
		switch c[i] {
		case codeHash:
			i += 32
		case codeTime:
			i += 8
		case codeKindSA:
			kind = store.KindServiceKey
		case codeKindPAT:
			kind = store.KindPersonalToken
		case codeOwner:
			rest := c[i+1:]
			if kind == "" || len(rest) < 2 || rest[0] != '"' {
				return "", "", false
			}
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", "", false
			}
			owner = rest[1 : 1+end]
			for j := 0; j < len(owner); j++ {
				if owner[j] < 0x20 || owner[j] == '\\' {
					return "", "", false // coded or escaped: decode the JSON
				}
			}
			// The rest must not name an owner again (JSON's last one wins).
			for j := i + 2 + end; j < len(c); j++ {
				switch c[j] {
				case codeHash:
					j += 32
				case codeTime:
					j += 8
				case codeOwner, codeKindSA, codeKindPAT:
					return "", "", false
				}
			}
			return kind, owner, true
		}
	}
	return "", "", false
}
