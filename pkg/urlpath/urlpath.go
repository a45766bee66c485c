// Package urlpath holds the rule for URL paths whose meaning no server's
// normalisation can change. The API-key gateway applies it to every
// request it forwards, and tokenwright to every URL audience, since both
// authorise a path by comparing its text with a pattern.
package urlpath

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The gateway authorises a request by asking tokenwright for a token whose
// audience is the upstream URL being requested, and tokenwright matches
// that URL against the key's patterns as a string. That is only sound if
// the upstream serves the very path that was matched. Upstreams normalise
// paths in many ways — Tomcat, Jetty and Spring drop ";parameters" before
// resolving dot segments, some decode twice, some map fullwidth or
// "best-fit" look-alikes to '.', '/' and '\', some apply Unicode NFKC, some
// replace invalid UTF-8 — so Check refuses every path that any such
// normalisation could change, instead of guessing what this upstream does.
// (The same holds for any resource server that checks a token's aud.)

// Error says why a path was refused; the message is for the caller (it
// holds nothing secret).
type Error struct{ Reason string }

func (e *Error) Error() string { return "the path " + e.Reason }

func pathError(format string, args ...any) *Error {
	return &Error{fmt.Sprintf(format, args...)}
}

// Check is the rule: a percent-encoded absolute path (or a prefix of one)
// passes only if no normalisation could make it mean a different path.
// The error is an *Error.
func Check(raw string) error {
	decoded := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return pathError("has a malformed percent-escape")
			}
			b := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			if err := encodedByte(b); err != nil {
				return err
			}
			decoded = append(decoded, b)
			i += 2
		case c == ';':
			return pathError("must not contain ';' (path parameters: some servers drop them before resolving dot segments)")
		case c == '\\':
			return pathError("must not contain a backslash")
		case c == '*':
			// tokenwright's audience patterns end in '*'; a path holding
			// one could not be told apart from a pattern.
			return pathError("must not contain '*'")
		case isPathChar(c):
			decoded = append(decoded, c)
		default:
			return pathError("must not contain %q unencoded", c)
		}
	}
	if !utf8.Valid(decoded) {
		// Invalid, overlong (%C0%AE) and surrogate encodings: servers
		// replace or "repair" them differently.
		return pathError("is not valid UTF-8 once decoded")
	}
	for _, r := range string(decoded) {
		if r < utf8.RuneSelf {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return pathError("must not contain invisible or control characters (U+%04X)", r)
		}
		if lookAlikes[r] {
			return pathError("must not contain U+%04X, a look-alike of '.', '/' or '\\'", r)
		}
	}
	if !norm.NFKC.IsNormal(decoded) {
		// Fullwidth "．．／", U+2024 "․", ligatures, decomposed accents: an
		// upstream that normalises would see different characters.
		return pathError("must be in Unicode normalisation form NFKC (no fullwidth, compatibility or decomposed characters)")
	}
	// No '.' or '/' is encoded (encodedByte), so the segments of the raw
	// path are the segments of the decoded one.
	segs := strings.Split(raw, "/")[1:]
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 {
			return pathError("must not contain empty segments (//)")
		}
		if seg != "" && strings.Trim(seg, ".") == "" {
			return pathError("must not contain dot segments")
		}
	}
	return nil
}

// encodedByte refuses percent-encoded bytes that an upstream decoding
// before (or after) splitting the path would read as structure: '.', '/',
// '\', ';', '?', '#', a second level of encoding ('%'), and controls.
func encodedByte(b byte) error {
	switch {
	case b == '.' || b == '/' || b == '\\':
		return pathError("must not contain an encoded '.', '/' or '\\'")
	case b == '%':
		return pathError("must not contain %%25 (double encoding)")
	case b == ';' || b == '?' || b == '#':
		return pathError("must not contain an encoded ';', '?' or '#'")
	case b < 0x20 || b == 0x7f:
		return pathError("must not contain control characters")
	}
	return nil
}

// isPathChar reports RFC 3986 pchar characters that may appear unencoded,
// and '/', without ';' and '*' (handled above).
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()+,=:@/", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// lookAlikes are characters that NFKC leaves alone but that Windows
// "best-fit" mappings, IDNA or confusable-folding turn into '.', '/' or
// '\' (the NFKC ones, such as U+FF0E and U+2024, are refused by the
// normal-form check).
var lookAlikes = map[rune]bool{
	0x3002: true, // IDEOGRAPHIC FULL STOP (IDNA maps it to '.')
	0x2215: true, // DIVISION SLASH
	0x2044: true, // FRACTION SLASH
	0x2571: true, // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
	0x27CB: true, // MATHEMATICAL RISING DIAGONAL
	0x29F8: true, // BIG SOLIDUS
	0x2216: true, // SET MINUS
	0x2572: true, // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
	0x27CD: true, // MATHEMATICAL FALLING DIAGONAL
	0x29F5: true, // REVERSE SOLIDUS OPERATOR
	0x29F9: true, // BIG REVERSE SOLIDUS
}
