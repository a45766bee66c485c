package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Algorithms are the JWS algorithms a foreign token may be signed with,
// and a client assertion too (server/accounts uses this list): asymmetric
// only. "none" and HMAC are refused by the parser, before any
// key is looked at, so that a public key can never be used as an HMAC
// secret (the algorithm-confusion attack).
var Algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

const (
	// Skew is the clock difference tolerated on exp, nbf and iat: small,
	// because these tokens live minutes.
	Skew = 60 * time.Second
	// maxTokenSize bounds what is parsed at all; real ID tokens are 1–2 KiB.
	maxTokenSize = 16 << 10
)

// Verified is a foreign token whose signature, issuer, audience and times
// checked out.
type Verified struct {
	Claims   map[string]any // every claim, numbers as float64 (encoding/json)
	Issuer   string
	Subject  string
	JTI      string    // "" when the token has none
	IssuedAt time.Time // zero when absent
	Expiry   time.Time
}

// Reason says why a foreign token was refused. It is for logs and metric
// labels; a client is told only that its grant is invalid.
type Reason string

// The reasons, one per rule of Verify.
const (
	ReasonMalformed      Reason = "malformed"        // not a compact JWS with a JSON claim set, or too large
	ReasonAlgorithm      Reason = "algorithm"        // alg not in Algorithms (none, HS*, …)
	ReasonIssuer         Reason = "issuer"           // iss is not the issuer exactly
	ReasonKeys           Reason = "keys_unavailable" // discovery or JWKS could not be fetched or were refused
	ReasonUnknownKey     Reason = "unknown_key"      // no published key has the token's kid
	ReasonKeyMismatch    Reason = "key_mismatch"     // the key's own alg, use or type does not allow the token's alg
	ReasonSignature      Reason = "signature"        // the signature does not verify
	ReasonNoExpiry       Reason = "no_expiry"        // exp absent
	ReasonExpired        Reason = "expired"          // exp more than Skew ago
	ReasonNotYetValid    Reason = "not_yet_valid"    // nbf more than Skew ahead
	ReasonIssuedInFuture Reason = "issued_in_future" // iat more than Skew ahead
	ReasonAudience       Reason = "audience"         // aud does not contain the audience
)

// ErrInvalidToken matches every *Invalid.
var ErrInvalidToken = errors.New("federation: invalid foreign token")

// Invalid is a refused foreign token: Reason says which rule refused it,
// Err (possibly nil) what went wrong underneath, for the log.
type Invalid struct {
	Reason Reason
	Err    error
}

func (e *Invalid) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("federation: invalid foreign token: %s", e.Reason)
	}
	return fmt.Sprintf("federation: invalid foreign token: %s: %v", e.Reason, e.Err)
}

// Is makes errors.Is(err, ErrInvalidToken) hold.
func (e *Invalid) Is(target error) bool { return target == ErrInvalidToken }

// Unwrap exposes the underlying error (a fetch failure, a deadline).
func (e *Invalid) Unwrap() error { return e.Err }

func invalid(r Reason, err error) error { return &Invalid{Reason: r, Err: err} }

// PeekIssuer returns raw's iss without verifying anything, to choose the
// rules (and so the issuer) to verify it against. Never trust it further.
func PeekIssuer(raw string) (string, error) {
	jws, err := parse(raw)
	if err != nil {
		return "", err
	}
	c, _, err := claimsOf(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return "", err
	}
	if c.Issuer == "" {
		return "", invalid(ReasonMalformed, errors.New("no iss"))
	}
	return c.Issuer, nil
}

// parse is the one place a foreign token is parsed: size cap, compact
// serialisation, and the algorithm allow-list.
func parse(raw string) (*jose.JSONWebSignature, error) {
	if len(raw) > maxTokenSize {
		return nil, invalid(ReasonMalformed, fmt.Errorf("token of %d bytes exceeds %d", len(raw), maxTokenSize))
	}
	jws, err := jose.ParseSignedCompact(raw, Algorithms)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, invalid(ReasonAlgorithm, err)
		}
		return nil, invalid(ReasonMalformed, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid(ReasonMalformed, errors.New("not exactly one signature"))
	}
	return jws, nil
}

// Verify verifies raw: its signature with the issuer's keys (from jwksURI
// when set, else from the issuer's discovery document), an algorithm in
// Algorithms that the key itself allows, iss == issuer exactly, aud (a
// string or an array) containing audience, exp present and not past, nbf
// and iat not ahead, all with Skew. issuer and jwksURI must come from
// configuration (a rule), never from the token. A failure is an *Invalid.
func (i *Issuers) Verify(ctx context.Context, raw, issuer, audience, jwksURI string) (Verified, error) {
	jws, err := parse(raw)
	if err != nil {
		return Verified{}, err
	}
	header := jws.Signatures[0].Header
	// The issuer is checked here, on the claims as sent, before any fetch,
	// so that a token naming another issuer costs no request. It is the
	// only issuer check: the payload the signature covers below is these
	// same bytes.
	unverified, _, err := claimsOf(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return Verified{}, err
	}
	if unverified.Issuer != issuer || issuer == "" {
		return Verified{}, invalid(ReasonIssuer, fmt.Errorf("iss %q, want %q", unverified.Issuer, issuer))
	}
	keys, err := i.keys(ctx, issuer, jwksURI, header.KeyID)
	if err != nil {
		return Verified{}, invalid(ReasonKeys, err)
	}
	payload, err := verifySignature(jws, header, keys)
	if err != nil {
		return Verified{}, err
	}
	c, all, err := claimsOf(payload)
	if err != nil {
		return Verified{}, err
	}
	if err := checkClaims(c, audience, i.now()); err != nil {
		return Verified{}, err
	}
	v := Verified{Claims: all, Issuer: c.Issuer, Subject: c.Subject, JTI: c.ID, Expiry: c.Expiry.Time()}
	if c.IssuedAt != nil {
		v.IssuedAt = c.IssuedAt.Time()
	}
	return v, nil
}

// registeredClaims are the claims Verify reads itself, by their exact names.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// claimsOf decodes a claim set: every claim (numbers as float64), and the
// registered ones typed. The typed ones are taken from the map by exact
// name, because encoding/json matches struct fields without regard to
// case: decoded straight into jwt.Claims, a later "AUD" or "SUB" would
// override "aud" or "sub", and the audience checked or the subject
// reported would not be the one the rules read from the map.
func claimsOf(payload []byte) (jwt.Claims, map[string]any, error) {
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil || all == nil {
		return jwt.Claims{}, nil, invalid(ReasonMalformed, fmt.Errorf("claim set is not a JSON object: %v", err))
	}
	exact := make(map[string]any, len(registeredClaims))
	for _, name := range registeredClaims {
		if v, ok := all[name]; ok {
			exact[name] = v
		}
	}
	b, err := json.Marshal(exact)
	if err != nil {
		return jwt.Claims{}, nil, invalid(ReasonMalformed, err)
	}
	var c jwt.Claims
	if err := json.Unmarshal(b, &c); err != nil {
		return jwt.Claims{}, nil, invalid(ReasonMalformed, err)
	}
	return c, all, nil
}

// verifySignature verifies jws with the published key its kid names (every
// key when it names none) that allows its algorithm.
func verifySignature(jws *jose.JSONWebSignature, header jose.Header, keys []jose.JSONWebKey) ([]byte, error) {
	alg := jose.SignatureAlgorithm(header.Algorithm)
	named, fitting := 0, 0
	var lastErr error
	for _, k := range keys {
		if header.KeyID != "" && k.KeyID != header.KeyID {
			continue
		}
		named++
		if err := keyAllows(k, alg); err != nil {
			lastErr = err
			continue
		}
		fitting++
		payload, err := jws.Verify(k.Key)
		if err == nil {
			return payload, nil
		}
		lastErr = err
	}
	switch {
	case named == 0:
		return nil, invalid(ReasonUnknownKey, fmt.Errorf("kid %q", header.KeyID))
	case fitting == 0:
		return nil, invalid(ReasonKeyMismatch, lastErr)
	default:
		return nil, invalid(ReasonSignature, lastErr)
	}
}

// keyAllows reports whether the published key k may verify a signature
// made with alg: its use is "sig" or unset, its alg is alg or unset, and
// its type is the one alg needs (an RSA key for RS*/PS*, an EC key on
// alg's curve for ES*, an Ed25519 key for EdDSA).
func keyAllows(k jose.JSONWebKey, alg jose.SignatureAlgorithm) error {
	if k.Use != "" && k.Use != "sig" {
		return fmt.Errorf("key %q has use %q", k.KeyID, k.Use)
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return fmt.Errorf("key %q is for %s, token uses %s", k.KeyID, k.Algorithm, alg)
	}
	ok := false
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			ok = true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			ok = pub.Curve == elliptic.P256()
		case jose.ES384:
			ok = pub.Curve == elliptic.P384()
		case jose.ES512:
			ok = pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		ok = alg == jose.EdDSA
	}
	if !ok {
		return fmt.Errorf("key %q (%T) cannot verify %s", k.KeyID, k.Key, alg)
	}
	return nil
}

// checkClaims applies the time and audience rules to a verified claim set
// at now (the issuer was checked before the keys were fetched).
func checkClaims(c jwt.Claims, audience string, now time.Time) error {
	if c.Expiry == nil {
		return invalid(ReasonNoExpiry, nil)
	}
	if exp := c.Expiry.Time(); now.After(exp.Add(Skew)) {
		return invalid(ReasonExpired, fmt.Errorf("exp %s, now %s", exp.UTC(), now.UTC()))
	}
	if c.NotBefore != nil {
		if nbf := c.NotBefore.Time(); now.Add(Skew).Before(nbf) {
			return invalid(ReasonNotYetValid, fmt.Errorf("nbf %s, now %s", nbf.UTC(), now.UTC()))
		}
	}
	if c.IssuedAt != nil {
		if iat := c.IssuedAt.Time(); now.Add(Skew).Before(iat) {
			return invalid(ReasonIssuedInFuture, fmt.Errorf("iat %s, now %s", iat.UTC(), now.UTC()))
		}
	}
	if audience == "" || !c.Audience.Contains(audience) {
		return invalid(ReasonAudience, fmt.Errorf("aud %q does not contain %q", []string(c.Audience), audience))
	}
	return nil
}
