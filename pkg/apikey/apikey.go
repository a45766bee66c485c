// Package apikey defines the tokenwright credential format.
//
// A credential looks like
//
//	twk_3kTMd9QpZr7W1xYb_<43 random base62 chars><6 char checksum>
//
// and is built from four parts:
//
//   - a prefix naming its kind (twk_ for service-account keys, twp_ for
//     personal access tokens), so secret scanners can recognise a leak;
//   - a 16 character public key id, so the server finds the record in O(1)
//     without trying every hash;
//   - 43 base62 characters of secret (256 bits from crypto/rand);
//   - a CRC32 checksum in base62, so typos and random strings are rejected
//     before any lookup (the same idea as GitHub's token format).
//
// The package is pure: it generates, parses, hashes and verifies, and does no
// I/O. The server stores only Hash(credential) and compares hashes in
// constant time.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// Kind says what a credential authenticates.
type Kind string

const (
	// ServiceKey is a long-lived key of a service account.
	ServiceKey Kind = "twk"
	// PersonalToken is a personal access token of a human user.
	PersonalToken Kind = "twp"
)

const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// IDLength is the length of the public key id (about 95 bits).
	IDLength = 16
	// SecretLength is the number of random base62 characters:
	// 43 × log2(62) ≈ 256.03 bits.
	SecretLength   = 43
	checksumLength = 6
	prefixLength   = 4 // "twk_"

	// Length is the total length of a credential string.
	Length = prefixLength + IDLength + 1 + SecretLength + checksumLength
)

// Errors returned by Parse. They say what is wrong with the string, never
// anything about the server's records.
var (
	ErrFormat   = errors.New("apikey: not a tokenwright credential")
	ErrChecksum = errors.New("apikey: checksum mismatch")
)

// Credential is a parsed credential string.
type Credential struct {
	Kind Kind
	ID   string
	raw  string
}

// String returns the full credential. Callers must treat it as a secret.
func (c Credential) String() string { return c.raw }

// Hash returns the SHA-256 digest that the server stores.
func (c Credential) Hash() []byte { return Hash(c.raw) }

// Hash returns the SHA-256 digest of a credential string.
func Hash(credential string) []byte {
	sum := sha256.Sum256([]byte(credential))
	return sum[:]
}

// Matches reports, in constant time, whether the credential's hash equals
// storedHash.
func (c Credential) Matches(storedHash []byte) bool {
	return subtle.ConstantTimeCompare(c.Hash(), storedHash) == 1
}

// NewID returns a fresh random key id. The id is public: it appears in
// listings and in the credential itself.
func NewID() (string, error) { return randomBase62(IDLength) }

// Generate makes a new credential of the given kind for the key id.
func Generate(kind Kind, id string) (Credential, error) {
	if kind != ServiceKey && kind != PersonalToken {
		return Credential{}, fmt.Errorf("apikey: unknown kind %q", kind)
	}
	if !isBase62(id) || len(id) != IDLength {
		return Credential{}, fmt.Errorf("apikey: key id must be %d base62 characters", IDLength)
	}
	secret, err := randomBase62(SecretLength)
	if err != nil {
		return Credential{}, err
	}
	body := string(kind) + "_" + id + "_" + secret
	raw := body + checksum(body)
	return Credential{Kind: kind, ID: id, raw: raw}, nil
}

// Parse checks the shape and checksum of a credential string without any
// lookup. It never echoes the input in its errors.
func Parse(s string) (Credential, error) {
	if len(s) != Length || s[3] != '_' || s[prefixLength+IDLength] != '_' {
		return Credential{}, ErrFormat
	}
	kind := Kind(s[:3])
	if kind != ServiceKey && kind != PersonalToken {
		return Credential{}, ErrFormat
	}
	id := s[prefixLength : prefixLength+IDLength]
	rest := s[prefixLength+IDLength+1:]
	if !isBase62(id) || !isBase62(rest) {
		return Credential{}, ErrFormat
	}
	body, sum := s[:Length-checksumLength], s[Length-checksumLength:]
	if subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(sum)) != 1 {
		return Credential{}, ErrChecksum
	}
	return Credential{Kind: kind, ID: id, raw: s}, nil
}

// LooksLike reports whether s has a tokenwright prefix; useful to decide
// which authentication path a bearer token takes.
func LooksLike(s string) bool {
	return strings.HasPrefix(s, string(ServiceKey)+"_") || strings.HasPrefix(s, string(PersonalToken)+"_")
}

// ValidID reports whether s has the shape of a key id.
func ValidID(s string) bool { return len(s) == IDLength && isBase62(s) }

func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	var out [checksumLength]byte
	for i := checksumLength - 1; i >= 0; i-- {
		out[i] = base62Alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// randomBase62 draws n uniformly distributed base62 characters from
// crypto/rand by rejection sampling (bytes ≥ 248 are discarded so that every
// character is equally likely).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("apikey: reading randomness: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62Alphabet[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
