package accounts

import (
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/tokenwright/tokenwright/pkg/urlpath"
	"github.com/tokenwright/tokenwright/server/claimnames"
)

var (
	// Names of accounts, users and PATs: lowercase letters, digits, '-' and
	// '.', starting with a letter or digit. They become client_ids, so they
	// must survive URLs, Basic auth and log lines unchanged.
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)
	// Scopes as in RFC 6749 §3.3 (printable ASCII except space, " and \),
	// which admits Domino's $DATA and Domino.user.all.
	scopeRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)
)

func validateName(field, name string) error {
	if name == "me" {
		return invalid(field, `"me" is reserved: it stands for the caller in the API`)
	}
	if !nameRE.MatchString(name) {
		return invalid(field, "must be 1-63 characters of lowercase letters, digits, '-' and '.', starting with a letter or digit")
	}
	return nil
}

// normalizeEmail validates an address and lowercases it. Plus addressing is
// kept, so automation+ci@ and automation+etl@ are different accounts.
// Like every identifier a person compares by eye, it is NFC-normalised
// and refused if it holds invisible or direction-changing characters.
func normalizeEmail(field, email string) (string, error) {
	if email == "" {
		return "", invalid(field, "is required")
	}
	email, err := normalizeIdentifier(field, email, 254)
	if err != nil {
		return "", err
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" || len(email) > 254 || !strings.Contains(email, "@") {
		return "", invalid(field, "must be a plain email address like name@example.com")
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return "", invalid(field, "domain must be fully qualified")
	}
	return norm.NFC.String(strings.ToLower(email)), nil
}

// normalizeIdentifier is the rule for text that identifies a principal to
// people and to Domino (emails, Notes names): valid UTF-8 of at most max
// bytes, in Unicode normal form C (so that "é" typed as one code point or
// as e + U+0301 is the same name), with no character that displays as
// nothing or changes the display order: controls, format characters
// (zero-width space/joiners U+200B-U+200D, word joiner U+2060, BOM U+FEFF,
// soft hyphen, bidi embeddings and isolates), other default-ignorable
// characters (variation selectors, Hangul fillers), private-use and
// unassigned code points, and spaces other than U+0020 (no-break and
// ideographic spaces look like a plain space).
func normalizeIdentifier(field, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", invalid(field, "must be valid UTF-8")
	}
	s = norm.NFC.String(s)
	if len(s) > max {
		return "", invalid(field, "must be at most %d bytes", max)
	}
	for _, r := range s {
		if invisibleOrConfusable(r) {
			return "", invalid(field, "must not contain invisible, control or bidirectional characters (found U+%04X)", r)
		}
	}
	return s, nil
}

func invisibleOrConfusable(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0x7f:
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zs, unicode.Zl, unicode.Zp,
		unicode.Bidi_Control, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// normalizeNotesName applies normalizeIdentifier to a Domino Notes name
// (e.g. CN=Build Bot/O=Acme); empty means none.
func normalizeNotesName(field, s string) (string, error) {
	return normalizeIdentifier(field, s, 256)
}

func validateText(field, s string, max int) error {
	if !utf8.ValidString(s) || len(s) > max {
		return invalid(field, "must be valid UTF-8 of at most %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return invalid(field, "must not contain control characters")
		}
		// Bidirectional controls (U+202E and friends) make text display
		// in another order than it is stored: a spoofing tool in the
		// console, the audit log and Domino names.
		if unicode.Is(unicode.Bidi_Control, r) {
			return invalid(field, "must not contain bidirectional control characters")
		}
	}
	return nil
}

func validateList(field string, items []string, check func(string) bool, what string) ([]string, error) {
	if len(items) > 100 {
		return nil, invalid(field, "at most 100 entries")
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if !check(it) {
			return nil, invalid(field, "%q is not %s", it, what)
		}
		if !slices.Contains(out, it) {
			out = append(out, it)
		}
	}
	return out, nil
}

func validScope(s string) bool { return scopeRE.MatchString(s) }

func validRole(s string) bool { return scopeRE.MatchString(s) && len(s) <= 64 }

// validAudienceName accepts the non-URL audience names an owner may list,
// such as the Domino REST API's "Domino": a letter or digit, then up to
// 127 letters, digits, '.', '_' or '-'. A name is only ever matched
// exactly. This and validHostName are loops rather than regular
// expressions because they run for every audience of every token request
// (2 % of the server's CPU per ES256 token as regexps);
// TestAudienceNameAndHostMatchTheirGrammar holds them to the grammar.
func validAudienceName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validHostName accepts a lowercase DNS name or IPv4 address (IPv6 goes in
// brackets): dot-separated labels of lowercase letters, digits and
// hyphens, no label empty or starting or ending with a hyphen.
func validHostName(s string) bool {
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validAudience accepts what an owner or a credential may list: an
// audience value (validAudienceValue) or a pattern, which is the prefix of
// such a URL followed by '*'. The prefix must reach into the path
// ("https://host/..."), so no pattern can match another host, and it obeys
// the value rules, so no pattern holds a dot segment.
func validAudience(s string) bool {
	if prefix, ok := strings.CutSuffix(s, "*"); ok {
		return validAudienceURL(prefix, true)
	}
	return validAudienceValue(s)
}

// validAudienceValue accepts one audience a token may carry: a name
// (validAudienceName) or an absolute https URL (http only for loopback hosts)
// in a form whose meaning no server's normalisation can change: lowercase
// scheme and host, no userinfo, query or fragment, no '*', and a path that
// passes urlpath.Check (no dot or empty segments, no ';' or backslash, no
// encoded '.', '/', '\' or '%', only valid NFKC UTF-8 once decoded, no
// look-alikes of separators). Prefix matching of patterns is then safe by
// construction: a value that starts with a pattern's prefix is inside it.
func validAudienceValue(s string) bool {
	return validAudienceName(s) || validAudienceURL(s, false)
}

// validAudienceURL checks an audience URL, or with prefix the part of a
// pattern before its '*' (whose last path segment may be partial).
func validAudienceURL(s string, prefix bool) bool {
	if len(s) > 512 {
		return false
	}
	rest, loopbackOnly := "", false
	switch {
	case strings.HasPrefix(s, "https://"):
		rest = s[len("https://"):]
	case strings.HasPrefix(s, "http://"):
		rest, loopbackOnly = s[len("http://"):], true
	default:
		return false
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	if prefix && !hasPath {
		return false // "https://api.example.com*" would match api.example.com.evil.org
	}
	if !validAuthority(authority, loopbackOnly) {
		return false
	}
	if !hasPath {
		return true
	}
	// The one rule for unambiguous paths, shared with the gateway (it
	// also refuses '*', which marks a pattern).
	return urlpath.Check("/"+path) == nil
}

// validAuthority checks host[:port]: no userinfo; a lowercase DNS name,
// IPv4 address or bracketed IPv6 address; a port of 1-65535. With
// loopbackOnly (http) the host must be localhost or a loopback address.
func validAuthority(authority string, loopbackOnly bool) bool {
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return false
		}
		host, port = authority[:end+1], authority[end+1:]
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" || loopbackOnly && !a.IsLoopback() {
			return false
		}
	} else {
		if i := strings.IndexByte(authority, ':'); i >= 0 {
			host, port = authority[:i], authority[i:]
		}
		if len(host) > 253 || !validHostName(host) {
			return false
		}
		if loopbackOnly {
			a, err := netip.ParseAddr(host)
			if host != "localhost" && (err != nil || !a.IsLoopback()) {
				return false
			}
		}
	}
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port[1:])
	return port[0] == ':' && err == nil && n >= 1 && n <= 65535 && port[1] != '0' && port[1] != '+'
}

func validCIDR(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// audienceAllowed reports whether aud matches one of the patterns: an
// exact string, or a prefix when the pattern ends in '*'.
func audienceAllowed(aud string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(aud, prefix) {
				return true
			}
		} else if aud == p {
			return true
		}
	}
	return false
}

// ipAllowed reports whether ip is inside one of cidrs (no cidrs: allowed).
func ipAllowed(ip netip.Addr, cidrs []string) bool {
	if len(cidrs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

func validateClaims(claims map[string]any) error {
	if len(claims) > 50 {
		return invalid("claims", "at most 50 custom claims")
	}
	for k, v := range claims {
		if claimnames.Reserved(k) {
			return invalid("claims", "%q is reserved (it matches, ignoring case, a claim tokenwright writes or verifiers interpret)", k)
		}
		if k == "" || len(k) > 64 || !utf8.ValidString(k) || strings.IndexFunc(k, invisibleOrConfusable) >= 0 || k != norm.NFC.String(k) {
			return invalid("claims", "%q cannot be used as a custom claim name", k)
		}
		switch v := v.(type) {
		case string, bool, float64:
		case []any:
			for _, e := range v {
				if _, ok := e.(string); !ok {
					return invalid("claims", "%q: arrays may hold strings only", k)
				}
			}
		default:
			return invalid("claims", "%q: values must be strings, numbers, booleans or string arrays", k)
		}
	}
	return nil
}
