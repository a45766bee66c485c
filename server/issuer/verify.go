package issuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/signing"
)

// Verified is an access token that tokenwright issued and that is
// currently valid: signed by a published key, our issuer, within its
// validity window.
type Verified struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	JTI       string
	ClientID  string
	Scope     string
	KeyID     string // the credential the token was issued to (from jti)
}

// ErrInvalidToken is every reason a token is not one of ours or not valid.
var ErrInvalidToken = errors.New("invalid token")

// verifyLeeway absorbs clock skew on nbf/iat.
const verifyLeeway = 30 * time.Second

// maxTokenSize bounds what is parsed at all.
const maxTokenSize = 16 << 10

// Verify checks a token we issued: every algorithm we sign with, the kid
// of a published key whose own alg matches the header (so an RSA key
// cannot be used as PS256 when it was published as RS256), issuer, exp and
// nbf. Expired tokens fail with ErrInvalidToken unless allowExpired (for
// revocation, which must accept them quietly).
func (i *Issuer) Verify(token string, allowExpired bool) (Verified, error) {
	if len(token) > maxTokenSize || strings.Count(token, ".") != 2 {
		return Verified{}, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	jws, err := jose.ParseSignedCompact(token, signing.Supported)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	h := jws.Signatures[0].Header
	st := i.signing.Current()
	keys := st.PublicKeys.Key(h.KeyID)
	if h.KeyID == "" || len(keys) == 0 {
		return Verified{}, fmt.Errorf("%w: unknown kid", ErrInvalidToken)
	}
	if keys[0].Algorithm != h.Algorithm {
		return Verified{}, fmt.Errorf("%w: alg %s does not match key", ErrInvalidToken, h.Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return Verified{}, fmt.Errorf("%w: signature", ErrInvalidToken)
	}
	var c struct {
		claims
		Audience audience `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return Verified{}, fmt.Errorf("%w: claims", ErrInvalidToken)
	}
	now := i.now()
	v := Verified{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Expiry: time.Unix(c.Expiry, 0),
		IssuedAt: time.Unix(c.IssuedAt, 0), NotBefore: time.Unix(c.NotBefore, 0), JTI: c.JTI,
		ClientID: c.ClientID, Scope: c.Scope}
	v.KeyID, _, _ = strings.Cut(c.JTI, ".")
	switch {
	case c.Issuer != i.issuer:
		return Verified{}, fmt.Errorf("%w: issuer", ErrInvalidToken)
	case c.Expiry == 0 || c.JTI == "" || c.ClientID == "":
		return Verified{}, fmt.Errorf("%w: missing claims", ErrInvalidToken)
	case !allowExpired && !now.Before(v.Expiry):
		return Verified{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	case now.Add(verifyLeeway).Before(v.NotBefore):
		return Verified{}, fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	}
	return v, nil
}

// audience accepts "aud" as a string or an array (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}
