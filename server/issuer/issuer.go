// Package issuer turns a policy-checked grant into a signed JWT access
// token. It touches no storage: the signer comes from the signing manager's
// in-memory state.
package issuer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/claimnames"
	"github.com/tokenwright/tokenwright/server/signing"
)

// Issuer mints access tokens.
type Issuer struct {
	issuer  string
	signing *signing.Manager
	now     func() time.Time
}

// New returns an Issuer for the issuer URL (the exact "iss" value).
func New(issuerURL string, m *signing.Manager, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{issuer: issuerURL, signing: m, now: now}
}

// Now is the issuer's clock.
func (i *Issuer) Now() time.Time { return i.now() }

// URL is the issuer identifier.
func (i *Issuer) URL() string { return i.issuer }

// Token is a minted access token.
type Token struct {
	JWT       string
	ID        string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
	KeyID     string // kid of the signing key
}

// claims are the registered and tokenwright claims, in the order that
// Domino's documentation lists them. Custom claims are appended after.
// Its JSON names are exactly claimnames.Issued() (a test holds them).
type claims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	// Audience points at audiences ([]string) or, when the grant asks for
	// AudienceString (Grant then guarantees exactly one), at audience: a
	// pointer into the same struct, so choosing costs no allocation.
	Audience  any      `json:"aud"`
	Expiry    int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	AZP       string   `json:"azp"`
	Scope     string   `json:"scope,omitempty"`
	Email     string   `json:"email,omitempty"`
	CN        string   `json:"CN,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	// Act is set on federated tokens only (accounts.Grant.Act).
	Act *accounts.ExternalActor `json:"act,omitempty"`

	audiences []string
	audience  string
}

// Mint signs a token for g.
func (i *Issuer) Mint(g accounts.Grant) (Token, error) {
	now := i.now().Truncate(time.Second)
	exp := now.Add(g.Lifetime)
	jti, err := newJTI(g.KeyID)
	if err != nil {
		return Token{}, err
	}
	payload, err := marshalClaims(newClaims(i.issuer, g, now, exp, jti), g.Claims)
	if err != nil {
		return Token{}, err
	}
	// typ follows accounts.TokenShape: JWT under the Domino profile by
	// default (as in Domino's own examples; at+jwt is unconfirmed there).
	typ := signing.TypeATJWT
	if g.TokenType == accounts.TokenTypeJWT {
		typ = signing.TypeJWT
	}
	signer := i.signing.Current().Active
	jwt, err := signer.Sign(payload, typ)
	if err != nil {
		return Token{}, err
	}
	return Token{JWT: jwt, ID: jti, IssuedAt: now, ExpiresAt: exp, KeyID: signer.KeyID}, nil
}

// newClaims builds the claims of g's token. The one allocation (c) is the
// one encoding needed anyway.
func newClaims(iss string, g accounts.Grant, now, exp time.Time, jti string) *claims {
	c := &claims{
		Issuer: iss, Subject: g.ClientID, audiences: g.Audiences,
		Expiry: exp.Unix(), NotBefore: now.Unix(), IssuedAt: now.Unix(), JTI: jti,
		ClientID: g.ClientID, AZP: g.ClientID, Scope: strings.Join(g.Scopes, " "),
		Email: g.Email, Roles: g.Roles, Act: g.Act,
	}
	c.Audience = &c.audiences
	if g.AudienceFormat == accounts.AudienceString && len(g.Audiences) == 1 {
		c.audience = g.Audiences[0]
		c.Audience = &c.audience
	}
	if g.Profile != accounts.ProfileGeneric {
		// Domino: the Notes name for the REST API.
		c.CN = g.NotesName
	}
	return c
}

// marshalClaims encodes c and appends the custom claims (in sorted order,
// so tokens are deterministic for equal input). Custom names that are
// reserved (claimnames.Reserved, which holds every name c can write, in
// any case) are dropped; validation already refuses them, but accounts
// stored before a name became reserved may still hold one.
func marshalClaims(c *claims, custom map[string]any) ([]byte, error) {
	base, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("issuer: encoding claims: %w", err)
	}
	if len(custom) == 0 {
		return base, nil
	}
	var buf bytes.Buffer
	buf.Write(base[:len(base)-1])
	names := make([]string, 0, len(custom))
	for k := range custom {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if claimnames.Reserved(k) {
			continue
		}
		v, err := json.Marshal(custom[k])
		if err != nil {
			return nil, fmt.Errorf("issuer: encoding claim %q: %w", k, err)
		}
		name, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// newJTI makes a unique token id that names the credential it was issued
// to ("<key id>.<random>"), so introspection can tell whether that
// credential is still valid without storing anything per token. Key ids
// are not secret (they are printed in key listings).
func newJTI(keyID string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("issuer: reading randomness: %w", err)
	}
	return keyID + "." + hex.EncodeToString(b), nil
}
