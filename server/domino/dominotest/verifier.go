// Package dominotest is an independent model of how HCL Domino 12.0.2+
// (core HTTP bearer authentication) and the Domino REST API validate a JWT,
// written from the rules in the Domino trust reference rather than from
// tokenwright's issuer, so that tests can hold tokenwright's output to
// what Domino does. Where the reference is uncertain it is strict (e.g.
// exp is required, scope must be a space-separated string).
package dominotest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Verifier holds what a Domino server knows: the provider's discovery
// issuer and key set, its own Internet Site URL, and its options.
type Verifier struct {
	Issuer string             // discovery "issuer" (= idpcat Base URL)
	Keys   jose.JSONWebKeySet // from jwks_uri
	Site   string             // Internet Site as a URL, e.g. https://domino.example.com
	// AllowedClientIDs, when set, is idpcat's allow-list (or 12.0.2's
	// HTTP_BEARER_ALLOWED_CLIENT_ID_n): azp must be one of them.
	AllowedClientIDs []string
	// REST enables the Domino REST API's checks as well, with its
	// configured audience (default "Domino") and scope.
	REST         bool
	RESTAudience string
	RESTScope    string
	// MaxDuration is the REST API's maxJwtDuration; tokens longer than it
	// fail (default 1h: the reference's conservative reading).
	MaxDuration time.Duration
	Now         func() time.Time
}

// coreAlgs are the algorithms Domino's bearer validation accepts [H1].
var coreAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// parseAlgs lets the parser see any JWS algorithm, so that the verifier
// can name the rule an unsupported one breaks.
var parseAlgs = append(slices.Clone(coreAlgs), jose.HS256, jose.HS384, jose.HS512, jose.PS256, jose.PS384, jose.PS512)

// Error is a rule violation; Code is Domino's error where the reference
// names one.
type Error struct {
	Rule string
	Code string
}

func (e *Error) Error() string { return e.Rule + " (" + e.Code + ")" }

func fail(code, format string, args ...any) error {
	return &Error{Rule: fmt.Sprintf(format, args...), Code: code}
}

// Domino's validator error codes [H8].
const (
	BadAttributes = "ERR_BSAFE_BAD_ATTRIBUTES"
	CertValidity  = "ERR_BSAFE_CERT_VALIDITY"
	Expired       = "ERR_SECURE_EXPIRED_CERT"
	BadSignature  = "ERR_BSAFE_BAD_SIGNATURE"
	BadOpcode     = "ERR_BSAFE_BAD_OPCODE"
	RESTRejected  = "DRAPI 401"
)

// Verify returns nil if Domino (and, with REST, the REST API) would accept
// the token, else the first rule it breaks.
func (v *Verifier) Verify(token string) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	jws, err := jose.ParseSignedCompact(token, parseAlgs)
	if err != nil {
		return fail(BadOpcode, "not a compact JWS with a supported algorithm: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return fail(BadSignature, "exactly one signature expected")
	}
	h := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if !slices.Contains(coreAlgs, alg) {
		return fail(BadOpcode, "alg %s is not accepted by Domino", alg)
	}
	if v.REST && alg != jose.RS256 {
		return fail(RESTRejected, "the REST API's jwt mode accepts RS256 only, got %s", alg)
	}
	if h.KeyID == "" {
		return fail(BadSignature, "header kid missing")
	}
	keys := v.Keys.Key(h.KeyID)
	if len(keys) == 0 {
		return fail(BadSignature, "kid %q is not in the provider's JWKS", h.KeyID)
	}
	key := keys[0]
	if key.Use != "" && key.Use != "sig" {
		return fail(BadSignature, "JWK %q is not a signing key", h.KeyID)
	}
	if v.REST && key.Algorithm == "" {
		return fail(RESTRejected, "JWK %q has no alg (the REST API needs it)", h.KeyID)
	}
	if key.Algorithm != "" && key.Algorithm != string(alg) {
		return fail(BadOpcode, "alg %s does not fit JWK %q (%s)", alg, h.KeyID, key.Algorithm)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return fail(BadSignature, "signature does not verify with JWK %q: %v", h.KeyID, err)
	}

	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return fail(BadAttributes, "payload is not a JSON object")
	}
	if iss, _ := c["iss"].(string); iss != v.Issuer {
		return fail(BadAttributes, "iss %q differs from the discovery issuer %q", c["iss"], v.Issuer)
	}
	scope, ok := c["scope"].(string)
	if !ok {
		return fail(BadAttributes, "scope must be a space-separated string")
	}
	scopes := strings.Fields(scope)
	if !slices.Contains(scopes, "Domino.user.all") {
		return fail(BadAttributes, "scope %q lacks Domino.user.all", scope)
	}
	aud, err := audiences(c["aud"])
	if err != nil {
		return err
	}
	if !slices.Contains(aud, v.Site) {
		return fail(BadAttributes, "aud %v does not contain the site %s", aud, v.Site)
	}
	if email, _ := c["email"].(string); email == "" {
		return fail(BadAttributes, "email (the claim mapped to the Person's Internet address) missing")
	}
	iat, ok := number(c["iat"])
	if !ok {
		return fail(BadAttributes, "iat missing")
	}
	if time.Unix(iat, 0).After(now) {
		return fail(CertValidity, "iat is in the future")
	}
	exp, ok := number(c["exp"])
	if !ok {
		return fail(BadAttributes, "exp missing")
	}
	if !time.Unix(exp, 0).After(now) {
		return fail(Expired, "token expired")
	}
	if nbf, ok := number(c["nbf"]); ok && time.Unix(nbf, 0).After(now) {
		return fail(CertValidity, "nbf is in the future")
	}
	if len(v.AllowedClientIDs) > 0 {
		if azp, _ := c["azp"].(string); !slices.Contains(v.AllowedClientIDs, azp) {
			return fail(BadAttributes, "azp %q is not an allowed client ID", c["azp"])
		}
	}
	if v.REST {
		return v.verifyREST(c, aud, scopes, iat, exp)
	}
	return nil
}

// verifyREST applies the Domino REST API's additional rules [D1][D5].
func (v *Verifier) verifyREST(c map[string]any, aud, scopes []string, iat, exp int64) error {
	want := v.RESTAudience
	if want == "" {
		want = "Domino"
	}
	if !slices.Contains(aud, want) {
		return fail(RESTRejected, "aud %v lacks the REST API audience %q", aud, want)
	}
	if sub, _ := c["sub"].(string); sub == "" {
		return fail(RESTRejected, "sub missing")
	}
	if v.RESTScope != "" && !slices.Contains(scopes, v.RESTScope) {
		return fail(RESTRejected, "scope lacks %q, which the REST API configuration requires", v.RESTScope)
	}
	limit := v.MaxDuration
	if limit == 0 {
		limit = time.Hour
	}
	if time.Duration(exp-iat)*time.Second > limit {
		return fail(RESTRejected, "lifetime %ds exceeds maxJwtDuration %s", exp-iat, limit)
	}
	// The user is the first present of these; by default it must be a
	// Domino distinguished name.
	for _, name := range []string{"CN", "upn", "preferred_username", "email", "sub"} {
		if s, ok := c[name].(string); ok && s != "" {
			if !strings.HasPrefix(strings.ToUpper(s), "CN=") {
				return fail(RESTRejected, "user claim %s=%q is not a Domino distinguished name (CN=.../O=...)", name, s)
			}
			return nil
		}
	}
	return fail(RESTRejected, "no user claim")
}

func audiences(v any) ([]string, error) {
	switch a := v.(type) {
	case string:
		return []string{a}, nil
	case []any:
		var out []string
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, fail(BadAttributes, "aud holds a non-string")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fail(BadAttributes, "aud missing")
}

func number(v any) (int64, bool) {
	f, ok := v.(float64)
	return int64(f), ok
}
