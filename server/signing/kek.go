package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
)

// KEK is the key-encryption key that wraps private signing keys at rest.
type KEK struct {
	id   string
	aead cipher.AEAD
}

// ErrWrongKEK means stored keys were encrypted under a different KEK.
var ErrWrongKEK = errors.New("signing keys were encrypted with a different key-encryption key")

// NewKEK builds a KEK from 32 raw bytes.
func NewKEK(raw []byte) (*KEK, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("key-encryption key must be 32 bytes, got %d", len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The id names the KEK without revealing it, so a start with the wrong
	// KEK is detected before any decryption is attempted.
	sum := sha256.Sum256(append([]byte("tokenwright kek id\x00"), raw...))
	return &KEK{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ID identifies the KEK (a truncated hash, safe to store and log).
func (k *KEK) ID() string { return k.id }

// Seal encrypts plaintext with a fresh random nonce; aad binds the
// ciphertext to its record (the kid), so records cannot be swapped.
func (k *KEK) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced.
func (k *KEK) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errors.New("sealed key is too short")
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrWrongKEK
	}
	return out, nil
}

// KEKSource says where LoadKEK found (or put) the key.
type KEKSource string

const (
	KEKFromEnv      KEKSource = "environment"
	KEKFromFile     KEKSource = "file"
	KEKGenerated    KEKSource = "generated"
	KEKFromDataDir  KEKSource = "data directory"
	kekEncodingHint           = "32 random bytes, base64 (e.g. `openssl rand -base64 32`)"
)

// decodeKEK parses the base64 text form of a KEK; where names its source in
// errors.
func decodeKEK(s, where string) (*KEK, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("key-encryption key from %s must be %s", where, kekEncodingHint)
	}
	return NewKEK(raw)
}

// ReadKEKFile reads a KEK file (base64 of 32 bytes).
func ReadKEKFile(path string) (*KEK, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key-encryption key file: %w", err)
	}
	return decodeKEK(string(data), path)
}

// GenerateKEKFile creates a new random KEK at path (mode 0600); it never
// overwrites an existing file.
func GenerateKEKFile(path string) (*KEK, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	defer clear(raw)
	f, err := ownerfile.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("writing key-encryption key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("writing key-encryption key: %w", err)
	}
	return NewKEK(raw)
}

// ErrNoKEK is FindKEK's answer when no KEK is configured and none exists
// at the default path.
var ErrNoKEK = errors.New("no key-encryption key configured")

// FindKEK returns the KEK from, in order: envValue (base64), file (base64
// content), or defaultPath; ErrNoKEK when none is set and defaultPath does
// not exist. It never writes: the caller decides whether a new KEK may be
// generated (only for a store without signing keys).
func FindKEK(envValue, file, defaultPath string) (*KEK, KEKSource, error) {
	if envValue != "" {
		k, err := decodeKEK(envValue, "TOKENWRIGHT_KEK")
		return k, KEKFromEnv, err
	}
	if file != "" {
		k, err := ReadKEKFile(file)
		return k, KEKFromFile, err
	}
	k, err := ReadKEKFile(defaultPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, KEKGenerated, ErrNoKEK
	}
	return k, KEKFromDataDir, err
}

// LoadKEK is FindKEK, generating a new KEK into defaultPath (mode 0600)
// when there is none; the source says so, so the caller can warn that the
// KEK should live somewhere other than beside the database.
func LoadKEK(envValue, file, defaultPath string) (*KEK, KEKSource, error) {
	k, source, err := FindKEK(envValue, file, defaultPath)
	if errors.Is(err, ErrNoKEK) {
		k, err = GenerateKEKFile(defaultPath)
	}
	return k, source, err
}
