package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// ErrNoMatch is what every *NoMatch is (errors.Is).
var ErrNoMatch = errors.New("the token does not match the federation rule")

// NoMatch is a verified foreign token that a rule does not accept.
// Reason is for the log and the audit trail: the client is always told
// the same invalid_grant, whatever failed, so that it cannot probe a
// rule's conditions one at a time.
type NoMatch struct {
	Reason string
}

func (e *NoMatch) Error() string { return ErrNoMatch.Error() + ": " + e.Reason }

// Is makes a *NoMatch match ErrNoMatch.
func (e *NoMatch) Is(target error) bool { return target == ErrNoMatch }

func noMatch(format string, args ...any) error {
	return &NoMatch{Reason: fmt.Sprintf(format, args...)}
}

// Match reports whether verified claims satisfy r: iss is r's issuer (the
// verifier checked it; Match does not rely on its caller for that),
// subject, claims (each pinned claim equal to one of its values),
// maxTokenAge against iat, jti present unless AllowMissingJTI, then the
// CEL condition (an evaluation error is no match). Signature, audience
// and exp/nbf are the verifier's (Issuers.Verify). A mismatch is a
// *NoMatch; the checks run in that order and the first failure is the
// reason.
func Match(r store.FederationRule, claims map[string]any, now time.Time) error {
	if iss, _ := claims["iss"].(string); iss != r.Issuer {
		return noMatch("iss %q is not the rule's issuer", iss)
	}
	if r.Subject != "" {
		if sub, _ := claims["sub"].(string); sub != r.Subject {
			return noMatch("sub %q is not the rule's subject", sub)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Claims)) {
		v, present := claims[k]
		if !present {
			return noMatch("claim %s is missing", k)
		}
		s, ok := claimText(v)
		if !ok {
			return noMatch("claim %s is not a string, number or boolean", k)
		}
		if !slices.Contains(r.Claims[k], s) {
			return noMatch("claim %s is %q, not one of the rule's values", k, s)
		}
	}
	if r.MaxTokenAge > 0 {
		iat, ok := numericDate(claims["iat"])
		if !ok {
			return noMatch("the token has no iat, and the rule bounds its age")
		}
		if age := now.Sub(iat); age > r.MaxTokenAge {
			return noMatch("the token was issued %s ago, more than the rule's maxTokenAge %s", age.Round(time.Second), r.MaxTokenAge)
		}
	}
	if !r.AllowMissingJTI {
		if jti, _ := claims["jti"].(string); jti == "" {
			return noMatch("the token has no jti, and the rule does not allow that")
		}
	}
	if r.Condition != "" {
		if err := evalCondition(r.Condition, claims); err != nil {
			return noMatch("the condition %v", err)
		}
	}
	return nil
}

// claimText is the text a pinned claim value is compared with: a string
// as it is, a number in its decimal form (so that "123" pins the
// repository_id 123 whichever way the issuer encodes it), a boolean as
// true or false. Lists and objects are never equal to a pinned value.
func claimText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", false
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

// numericDate reads a JWT NumericDate (seconds since the epoch).
func numericDate(v any) (time.Time, bool) {
	var secs float64
	switch v := v.(type) {
	case float64:
		secs = v
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return time.Time{}, false
		}
		secs = f
	case int64:
		secs = float64(v)
	case int:
		secs = float64(v)
	default:
		return time.Time{}, false
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 || secs > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(0, 0).Add(time.Duration(secs * float64(time.Second))), true
}
