package apikey

import (
	"bytes"
	"io"
	"regexp"
	"strings"
)

// Redacted replaces every credential-like substring that Redact finds. It
// carries no tokenwright prefix, so that a search of the logs for "twk_" or
// "twp_" finds leaks, not redactions.
const Redacted = "[REDACTED]"

// SessionPrefix starts a CLI session credential (server/sso: what
// `tokenwright login` stores). It is not of this package's format (no key
// id, no checksum: the server looks it up by its hash), but a leak of one
// is redacted like a key's.
const SessionPrefix = "tws_"

// secretPattern matches what a leaked secret looks like, whatever field it
// was sent in: a tokenwright credential prefix followed by anything of the
// credential alphabet (checksum valid or not, truncated or overlong, the
// separator included), and a JWT (compact JWS or JWE: a base64url JSON
// header, "eyJ", and at least two more dot-separated parts; one dot is not
// enough, so that a jti "<key id>.<hex>" whose key id happens to hold
// "eyJ" stays readable).
var secretPattern = regexp.MustCompile(`tw[kps]_[0-9A-Za-z_-]*|eyJ[0-9A-Za-z_-]*\.[0-9A-Za-z_-]*\.[0-9A-Za-z_.-]*`)

// mayHoldSecret is the cheap pre-check: almost every string has none of
// the markers, and then costs four substring searches and no regexp.
func mayHoldSecret(s string) bool {
	return strings.Contains(s, "twk_") || strings.Contains(s, "twp_") || strings.Contains(s, SessionPrefix) || strings.Contains(s, "eyJ")
}

// Redact returns s with every credential and JWT replaced by Redacted. It is
// the one matcher behind every sink that may see client input: log lines,
// audit records, error messages and metric labels.
func Redact(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	return secretPattern.ReplaceAllLiteralString(s, Redacted)
}

// RedactWriter returns a writer that redacts each Write before passing it to
// w. Loggers write one record per call (zerolog, log/slog), so a secret
// never straddles two calls.
func RedactWriter(w io.Writer) io.Writer { return redactWriter{w} }

type redactWriter struct{ w io.Writer }

func (r redactWriter) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("twk_")) && !bytes.Contains(p, []byte("twp_")) && !bytes.Contains(p, []byte(SessionPrefix)) && !bytes.Contains(p, []byte("eyJ")) {
		return r.w.Write(p)
	}
	if _, err := r.w.Write(secretPattern.ReplaceAllLiteral(p, []byte(Redacted))); err != nil {
		return 0, err
	}
	return len(p), nil
}
