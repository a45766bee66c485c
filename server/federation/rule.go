package federation

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tokenwright/tokenwright/store"
)

// RuleError is a rule refused by ValidateRule; Field is the rule's JSON
// field name (claims.KEY for one claim), Message what is wrong with it.
type RuleError struct {
	Field   string
	Message string
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Message }

func ruleError(field, format string, args ...any) error {
	return &RuleError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ruleNameRE is the name of a rule: like the names of keys and accounts
// (lowercase letters, digits, '-' and '.'), so that it reads the same in
// the CLI, the audit trail and the log.
var ruleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// claimNameRE is a claim a rule may pin: a JSON member name of printable
// ASCII (every issuer we meet uses snake_case names), no wider.
var claimNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,128}$`)

// verifiedClaims are checked when the foreign token is verified (iss, aud,
// exp, nbf, iat, against the rule's Issuer, Audience and MaxTokenAge) or
// by a field of their own (sub: Subject; jti: the replay record): a rule
// pins them there, never again in Claims, so that each has one meaning.
var verifiedClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// Bounds of a rule's parts: a rule is configuration written by a person,
// and a matching exchange reads every part of it.
const (
	maxClaims       = 32
	maxClaimValues  = 64
	maxValueLength  = 1024
	maxSubjectBytes = 1024
	maxURLBytes     = 2048
)

// ValidateRule checks r and fills defaults (Audience = ownIssuer when
// empty). Errors are *RuleError, naming the field. It checks what a rule
// is by itself; whether AllowedScopes and AllowedAudiences lie within the
// account's lists is the caller's (server/accounts), which holds the
// account.
func ValidateRule(r *store.FederationRule, ownIssuer string) error {
	if !ruleNameRE.MatchString(r.Name) {
		return ruleError("name", "must be 1-63 characters of lowercase letters, digits, '-' and '.', starting with a letter or digit")
	}
	if r.Issuer == "" {
		return ruleError("issuer", "is required")
	}
	if err := checkFetchURL(r.Issuer, true); err != nil {
		return ruleError("issuer", "%v", err)
	}
	if r.Audience == "" {
		r.Audience = ownIssuer
	}
	if err := checkText(r.Audience, maxURLBytes); err != nil || r.Audience == "" {
		return ruleError("audience", "must be non-empty printable text of at most %d bytes", maxURLBytes)
	}
	if err := checkText(r.Subject, maxSubjectBytes); err != nil {
		return ruleError("subject", "%v", err)
	}
	if len(r.Claims) > maxClaims {
		return ruleError("claims", "at most %d claims", maxClaims)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Claims)) {
		field := "claims." + k
		if !claimNameRE.MatchString(k) {
			return ruleError("claims", "%q is not a claim name (1-128 of letters, digits, '_', '.', ':', '/', '-')", k)
		}
		if slices.Contains(verifiedClaims, k) {
			return ruleError(field, "is checked by the rule's own fields (issuer, audience, subject, maxTokenAge) and the replay record; pin it there")
		}
		values := r.Claims[k]
		if len(values) == 0 || len(values) > maxClaimValues {
			return ruleError(field, "needs 1-%d values", maxClaimValues)
		}
		for _, v := range values {
			if v == "" {
				return ruleError(field, "a value must not be empty")
			}
			if err := checkText(v, maxValueLength); err != nil {
				return ruleError(field, "%v", err)
			}
		}
	}
	if r.Condition != "" {
		if _, err := compileCondition(r.Condition); err != nil {
			return ruleError("condition", "%v", err)
		}
	}
	if r.JWKSURI != "" {
		if err := checkFetchURL(r.JWKSURI, false); err != nil {
			return ruleError("jwksUri", "%v", err)
		}
	}
	if r.MaxTokenAge < 0 {
		return ruleError("maxTokenAge", "must not be negative")
	}
	if r.AllowMissingJTI && r.MaxTokenAge == 0 {
		// A token without jti cannot be recorded against replay: only its
		// age bounds how long a copy of it can be exchanged.
		return ruleError("maxTokenAge", "is required when allowMissingJti is set: it bounds how long a token without jti can be replayed")
	}
	if r.Subject == "" && len(r.Claims) == 0 && r.Condition == "" {
		// Every token of the issuer (all of github.com's repositories)
		// would act as the account.
		return ruleError("subject", "a rule must pin the subject, a claim or a condition: otherwise every token of the issuer matches")
	}
	return nil
}

// checkFetchURL is the rule for the URLs tokenwright fetches keys from:
// absolute https (http only for a loopback host, for tests and sidecars),
// no userinfo or fragment; an issuer (asIssuer) has no query either, as
// OpenID discovery appends its path to it.
func checkFetchURL(s string, asIssuer bool) error {
	if len(s) > maxURLBytes {
		return fmt.Errorf("must be at most %d bytes", maxURLBytes)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be an absolute https URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return fmt.Errorf("must use https (http only for a loopback host)")
		}
	default:
		return fmt.Errorf("must be an absolute https URL")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("must not hold a user name or fragment")
	}
	if asIssuer && (u.RawQuery != "" || strings.Contains(s, "?")) {
		return fmt.Errorf("must not hold a query")
	}
	return nil
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkText refuses what a person cannot read back: invalid UTF-8,
// control characters, and more than max bytes.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("must be at most %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("must be valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return fmt.Errorf("must not hold control characters")
		}
	}
	return nil
}
