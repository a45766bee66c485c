package accounts

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenwright/tokenwright/server/federation"
	"github.com/tokenwright/tokenwright/store"
)

// assertionAlgorithms are the JWS algorithms accepted in client
// assertions: the same asymmetric-only list as for foreign tokens (no HS*,
// no none), kept in one place.
var assertionAlgorithms = federation.Algorithms

// AssertionAlgorithms returns the names of the JWS algorithms accepted in
// client assertions (private_key_jwt) at every endpoint that
// authenticates clients: the metadata's *_endpoint_auth_signing_alg_values_supported.
func AssertionAlgorithms() []string {
	out := make([]string, len(assertionAlgorithms))
	for i, a := range assertionAlgorithms {
		out[i] = string(a)
	}
	return out
}

const (
	// maxAssertionLifetime bounds exp - now, so the replay cache stays small
	// and a stolen assertion is useless soon.
	maxAssertionLifetime = time.Hour
	assertionLeeway      = 30 * time.Second
	maxAssertionSize     = 8 << 10
)

// parseClientPublicKey accepts a public key as a JWK (JSON) or PEM
// ("PUBLIC KEY" or "CERTIFICATE") and returns its JWK form. Private keys
// are refused: they must never be sent to the server.
func parseClientPublicKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if len(text) > 16<<10 {
		return nil, invalid("publicKey", "is too large")
	}
	var jwk jose.JSONWebKey
	switch {
	case strings.HasPrefix(text, "{"):
		if err := jwk.UnmarshalJSON([]byte(text)); err != nil {
			return nil, invalid("publicKey", "is not a valid JWK: %v", err)
		}
		if !jwk.IsPublic() {
			return nil, invalid("publicKey", "holds private key material; send only the public key")
		}
	case strings.HasPrefix(text, "-----BEGIN"):
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return nil, invalid("publicKey", "is not valid PEM")
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, invalid("publicKey", "PEM must be a PUBLIC KEY or CERTIFICATE block, not %q", block.Type)
		}
		if err != nil {
			return nil, invalid("publicKey", "cannot be parsed: %v", err)
		}
		jwk = jose.JSONWebKey{Key: pub, Use: "sig"}
	default:
		return nil, invalid("publicKey", "must be a JWK (JSON) or a PEM public key or certificate")
	}
	switch k := jwk.Key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, invalid("publicKey", "RSA keys must have at least 2048 bits")
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, invalid("publicKey", "must be an RSA, EC or Ed25519 key")
	}
	if jwk.KeyID == "" {
		thumb, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, invalid("publicKey", "%v", err)
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	}
	jwk.Certificates = nil
	return jwk.MarshalJSON()
}

// AuthenticateAssertion verifies a private_key_jwt client assertion
// (RFC 7523 §2.2): signed by a registered public key of the client,
// iss = sub = client id, aud naming this server (one of audiences), not
// expired, bounded lifetime, and a jti never seen before. clientID, if the
// request carried one, must match. Every failure is ErrInvalidClient.
func (s *Service) AuthenticateAssertion(ctx context.Context, assertion, clientID string, audiences []string, ip netip.Addr) (*Principal, error) {
	if len(assertion) > maxAssertionSize {
		return nil, fail(ReasonAssertionTooLarge)
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgorithms)
	if err != nil {
		return nil, fail(ReasonAssertionMalformed)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fail(ReasonAssertionMalformed)
	}
	client := unverified.Issuer
	if client == "" || clientID != "" && clientID != client {
		return nil, fail(ReasonAssertionIssuer)
	}
	sa, err := s.store.GetServiceAccount(ctx, client)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(ReasonUnknownClient)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up client: %w", err)
	}
	keys, err := s.store.ListKeys(ctx, store.KeyQuery{Kind: store.KindServiceKey, Owner: client})
	if err != nil {
		return nil, fmt.Errorf("listing client keys: %w", err)
	}
	header := tok.Headers[0]
	now := s.now()
	var p *Principal
	var claims jwt.Claims
	for _, k := range keys {
		if len(k.PublicJWK) == 0 {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
			continue
		}
		if header.KeyID != "" && header.KeyID != jwk.KeyID && header.KeyID != k.ID {
			continue
		}
		if jwk.Algorithm != "" && jwk.Algorithm != header.Algorithm {
			continue
		}
		var c jwt.Claims
		if err := tok.Claims(jwk.Key, &c); err != nil {
			continue
		}
		// The signing key is found; a usable one wins over a revoked or
		// expired one holding the same public key, which admit refuses
		// below with its own reason if no usable one verifies.
		if p == nil || !keyStatus(p.Key, now, 0).Usable() {
			p, claims = &Principal{Key: k, Account: &sa}, c
		}
		if keyStatus(k, now, 0).Usable() {
			break
		}
	}
	if p == nil {
		return nil, fail(ReasonAssertionSignature)
	}
	if claims.Subject != client {
		return nil, fail(ReasonAssertionIssuer)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: client, Subject: client, AnyAudience: audiences, Time: now}, assertionLeeway); err != nil {
		return nil, &AuthError{Reason: ReasonAssertionClaims, Debug: err.Error()}
	}
	if claims.Expiry == nil || claims.ID == "" {
		return nil, fail(ReasonAssertionClaims)
	}
	exp := claims.Expiry.Time()
	if exp.Sub(now) > maxAssertionLifetime {
		return nil, fail(ReasonAssertionLifetime)
	}
	if err := s.admit(ctx, p, now); err != nil {
		return nil, err
	}
	if err := s.admitAddress(p, ip); err != nil {
		return nil, err
	}
	if fresh, err := s.replay.first(ctx, s.store, client+"\x00"+claims.ID, exp.Add(assertionLeeway), now); err != nil {
		return nil, fmt.Errorf("recording assertion jti: %w", err)
	} else if !fresh {
		return nil, fail(ReasonAssertionReplayed)
	}
	s.usage.record(p.Key.ID, now, ip)
	return p, nil
}

// replayGuard remembers assertion jti values until they expire. It checks
// and records under one lock, so two concurrent requests with the same
// assertion cannot both pass; records are also persisted (in the token
// deny-list, under a prefix no access token uses) so a restart does not
// reopen the window.
type replayGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const assertionPrefix = "assertion:"

func (g *replayGuard) first(ctx context.Context, st store.Store, id string, until, now time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	if exp, ok := g.seen[id]; ok && now.Before(exp) {
		return false, nil
	}
	key := assertionPrefix + base64.RawURLEncoding.EncodeToString([]byte(id))
	if seen, err := st.IsTokenRevoked(ctx, key); err != nil || seen {
		return false, err
	}
	if err := st.RevokeToken(ctx, store.RevokedToken{JTI: key, ExpiresAt: until, RevokedAt: now}); err != nil {
		return false, err
	}
	if len(g.seen) > 4096 {
		for k, exp := range g.seen {
			if !now.Before(exp) {
				delete(g.seen, k)
			}
		}
	}
	g.seen[id] = until
	return true, nil
}

// HasPermission reports whether p's account holds permission.
func (p *Principal) HasPermission(permission string) bool {
	return p.Account != nil && slices.Contains(p.Account.Permissions, permission)
}

// PublicKeyOf returns a key-based credential's registered public JWK, or
// nil for a secret-based key (for API output).
func PublicKeyOf(k store.Key) json.RawMessage {
	if len(k.PublicJWK) == 0 {
		return nil
	}
	return json.RawMessage(k.PublicJWK)
}

// CredentialActive reports whether the key that a token was issued to
// could still obtain it: the key exists and is neither revoked nor
// expired, its account or user is active, and its current reach (reach.go)
// still covers the token's scopes and audiences. Introspection uses it so
// that revoking a key, or narrowing its owner, also deactivates the tokens
// already issued.
func (s *Service) CredentialActive(ctx context.Context, keyID string, scopes, audiences []string) (bool, error) {
	k, err := s.store.GetKey(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	p := &Principal{Key: k}
	if err := s.admit(ctx, p, s.now()); ReasonOf(err) != "" {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return s.reach(p).Covers(scopes, audiences, p.ClientID()), nil
}
