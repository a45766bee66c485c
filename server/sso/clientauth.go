package sso

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/config"
)

// ClientAuth is how tokenwright authenticates to the provider's token
// endpoint: a client secret (client_secret_basic), or a private key
// (private_key_jwt, RFC 7523): exactly one is set.
type ClientAuth struct {
	Secret string
	// Key signs the client assertions; KeyID is their kid.
	Key   crypto.Signer
	KeyID string
	alg   jose.SignatureAlgorithm
}

// Method is the token endpoint authentication method's registered name.
func (a ClientAuth) Method() string {
	if a.Key != nil {
		return "private_key_jwt"
	}
	return "client_secret_basic"
}

// LoadClientAuth reads the client credentials: sso.clientSecretFile, the
// TOKENWRIGHT_SSO_CLIENT_SECRET variable, or sso.clientKeyFile — exactly
// one of them.
func LoadClientAuth(c config.SSO, environ func(string) string) (ClientAuth, error) {
	env := environ(config.SSOClientSecretEnv)
	var given []string
	for name, set := range map[string]bool{config.SSOClientSecretEnv: env != "", "sso.clientSecretFile": c.ClientSecretFile != "", "sso.clientKeyFile": c.ClientKeyFile != ""} {
		if set {
			given = append(given, name)
		}
	}
	switch {
	case len(given) == 0:
		return ClientAuth{}, errors.New("sso.issuer is set but there is no client credential: set " + config.SSOClientSecretEnv +
			" or sso.clientSecretFile (a client secret), or sso.clientKeyFile (private_key_jwt)")
	case len(given) > 1:
		slices.Sort(given)
		return ClientAuth{}, fmt.Errorf("sso: give the client credential one way only, not %s", strings.Join(given, " and "))
	case env != "":
		return ClientAuth{Secret: env}, nil
	case c.ClientSecretFile != "":
		data, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return ClientAuth{}, fmt.Errorf("sso.clientSecretFile: %w", err)
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			return ClientAuth{}, fmt.Errorf("sso.clientSecretFile: %s is empty", c.ClientSecretFile)
		}
		return ClientAuth{Secret: v}, nil
	}
	key, alg, err := readPrivateKey(c.ClientKeyFile)
	if err != nil {
		return ClientAuth{}, fmt.Errorf("sso.clientKeyFile: %w", err)
	}
	return ClientAuth{Key: key, KeyID: c.ClientKeyID, alg: alg}, nil
}

// readPrivateKey reads a PEM private key (PKCS#1 or PKCS#8 RSA of 2048
// bits or more; SEC 1 or PKCS#8 EC on P-256, P-384 or P-521) and the JWS
// algorithm it signs with.
func readPrivateKey(path string) (crypto.Signer, jose.SignatureAlgorithm, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%s holds no PEM block", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("%s: a PEM %q block is not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", path, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("%s: an RSA key of %d bits is too short (2048 or more)", path, k.N.BitLen())
		}
		return k, jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return k, jose.ES256, nil
		case elliptic.P384():
			return k, jose.ES384, nil
		case elliptic.P521():
			return k, jose.ES512, nil
		}
	}
	return nil, "", fmt.Errorf("%s: want an RSA or EC (P-256, P-384, P-521) private key, got %T", path, key)
}

// assertionLifetime bounds a client assertion's validity: it is made for
// one token request.
const assertionLifetime = 5 * time.Minute

// Assertion is a client assertion for one token request (RFC 7523
// section 3): iss and sub the client id, aud the provider's issuer and
// its token endpoint (providers differ in which they require), a random
// jti (some providers refuse a replay), iat and exp.
func (a ClientAuth) Assertion(clientID, issuer, tokenURL string, now time.Time) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: jose.JSONWebKey{Key: a.Key, KeyID: a.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": []string{issuer, tokenURL},
		"jti": random256(), "iat": now.Unix(), "exp": now.Add(assertionLifetime).Unix()})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
