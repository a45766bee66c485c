// Package signing owns the JWT signing keys: it generates them, keeps the
// private parts encrypted at rest (see KEK), holds the parsed signer in
// memory behind one atomic pointer, and serves the public JWK set.
//
// The token path calls Current() and nothing else: no store access, no
// parsing, no locks. Everything that changes the key set builds a complete
// new State and swaps it in.
package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/store"
)

// Defaults of a Manager (and of the configuration's signing section).
const (
	// DefaultAlgorithm signs when nothing else is chosen: the one
	// algorithm every verifier, and Domino's REST API, accepts.
	DefaultAlgorithm = jose.RS256
	// DefaultMaxAge is the longest time verifiers may cache the JWKS.
	DefaultMaxAge = time.Hour
)

// Supported lists the algorithms tokenwright signs with.
var Supported = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
}

// ErrUnsupportedAlgorithm means an algorithm tokenwright does not sign with.
var ErrUnsupportedAlgorithm = errors.New("unsupported signing algorithm")

// ParseAlgorithm validates an algorithm name (configuration, API).
func ParseAlgorithm(name string) (jose.SignatureAlgorithm, error) {
	alg := jose.SignatureAlgorithm(name)
	if !slices.Contains(Supported, alg) {
		return "", fmt.Errorf("%w %q (supported: %v)", ErrUnsupportedAlgorithm, name, Supported)
	}
	return alg, nil
}

// Advertised is the id_token_signing_alg_values_supported of the discovery
// document: every algorithm tokenwright can sign with, RS256 first (OIDC
// Discovery requires RS256 in the list), whatever the key set holds now.
//
// Why all of them, not the algorithms of the published keys: verifiers such
// as go-oidc (and so oauth2-proxy) read this list once, when they start, and
// from then on refuse every other algorithm. A list that followed the key
// set would change when an administrator switches algorithms, and such a
// verifier would refuse every token from the moment the new key signs, even
// though the key itself was pre-published. A fixed list changes only with a
// tokenwright release.
//
// Why that is honest: the server does sign with each of these once an
// administrator chooses it, without a restart. Why it is safe: the list
// grants nothing by itself. A verifier still needs a signature by a key in
// the JWKS, each published key names its own alg, a key verifies only the
// algorithms of its type, and the list holds neither "none" nor HMAC.
func Advertised() []string {
	algs := make([]string, len(Supported))
	for i, a := range Supported {
		algs[i] = string(a)
	}
	return algs
}

// Token types written into the JOSE "typ" header.
const (
	TypeJWT   = "JWT"    // what Domino's examples use
	TypeATJWT = "at+jwt" // RFC 9068 access tokens
)

// Signer signs JWTs with one private key. Its jose signers are built once.
type Signer struct {
	KeyID     string
	Algorithm jose.SignatureAlgorithm
	byType    map[string]jose.Signer
}

// Sign signs payload (the JSON claims) and returns the compact JWS.
func (s *Signer) Sign(payload []byte, typ string) (string, error) {
	signer, ok := s.byType[typ]
	if !ok {
		return "", fmt.Errorf("signing: unknown token type %q", typ)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return jws.CompactSerialize()
}

func newSigner(kid string, alg jose.SignatureAlgorithm, priv crypto.Signer) (*Signer, error) {
	s := &Signer{KeyID: kid, Algorithm: alg, byType: map[string]jose.Signer{}}
	for _, typ := range []string{TypeJWT, TypeATJWT} {
		js, err := jose.NewSigner(
			jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(alg)}},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
		)
		if err != nil {
			return nil, fmt.Errorf("signing: building %s signer: %w", alg, err)
		}
		s.byType[typ] = js
	}
	return s, nil
}

// State is an immutable snapshot of the key set.
type State struct {
	// Active signs new tokens.
	Active *Signer
	// Keys holds the metadata of every stored key (no private material).
	Keys []KeyInfo
	// JWKS is the serialised public key set, and ETag its strong validator.
	JWKS []byte
	ETag string
	// PublicKeys is the published set, for verifying tokens we issued.
	PublicKeys jose.JSONWebKeySet
	// NextChange is when the published set is next planned to change (a
	// new key published, a retired key removed); zero if nothing is
	// planned. JWKS responses are never cacheable beyond it.
	NextChange time.Time
}

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	ID          string                `json:"kid"`
	Algorithm   string                `json:"alg"`
	State       store.SigningKeyState `json:"state"`
	CreatedAt   time.Time             `json:"createdAt"`
	ActivateAt  time.Time             `json:"activateAt,omitzero"`
	ActivatedAt time.Time             `json:"activatedAt,omitzero"`
	RetiredAt   time.Time             `json:"retiredAt,omitzero"`
	RemoveAfter time.Time             `json:"removeAfter,omitzero"`
	// ConfiguredAlgorithm is signing.algorithm when the key was generated
	// (see store.SigningKey).
	ConfiguredAlgorithm string `json:"configuredAlgorithm,omitempty"`
}

// CacheMaxAge is how long a verifier may cache the published set fetched at
// now: the configured maximum, cut short by the next planned change.
func (st *State) CacheMaxAge(now time.Time, limit time.Duration) time.Duration {
	if st.NextChange.IsZero() {
		return limit
	}
	return max(0, min(limit, st.NextChange.Sub(now)))
}

// PublishMargin is added to every publication window. It absorbs clock
// skew and late refreshes, and follows the Domino guidance (publish new
// keys at least max-age + 30 min before use): whether Domino refetches the
// JWKS on an unknown kid is not documented, so nothing may rely on it.
const PublishMargin = 30 * time.Minute

// Manager loads, creates, rotates and publishes signing keys.
type Manager struct {
	store store.Store
	kek   *KEK
	opts  Options

	mu      sync.Mutex // serialises changes; readers never take it
	current atomic.Pointer[State]
	// seen is what this process itself observed of each stored key, on
	// its Monotonic clock (guarded by mu). It is held in memory only:
	// a restarted process measures from the moment it starts.
	seen map[string]sighting
}

// Options configure a Manager.
type Options struct {
	Algorithm jose.SignatureAlgorithm // default DefaultAlgorithm
	Now       func() time.Time        // default time.Now
	// Monotonic is this process's own clock for the intervals it measures
	// itself (default Now). Only differences between its readings count:
	// time.Now's readings carry Go's monotonic clock, which a step of the
	// wall clock does not move. A test that simulates time passing with a
	// fake Now gets the same fake here; one that simulates a step of the
	// wall clock sets a Monotonic that stays put.
	Monotonic func() time.Time
	// RotationPeriod is how long a key signs before its successor takes
	// over; zero disables automatic rotation.
	RotationPeriod time.Duration
	// MaxAge is the longest time verifiers may cache the JWKS.
	MaxAge time.Duration
	// TokenLifetime is the longest lifetime of a token we issue.
	TokenLifetime time.Duration
}

// PrePublish is how long a new key is published before it signs: any JWKS
// a verifier cached before the key appeared has expired by then.
func (o Options) PrePublish() time.Duration { return o.MaxAge + PublishMargin }

// Retention is how long a retired key stays published: every token it
// signed has expired by then, even for a verifier that cached the JWKS
// just before the key was removed.
func (o Options) Retention() time.Duration { return o.TokenLifetime + o.MaxAge + PublishMargin }

// NewManager returns a manager; call Load before use.
func NewManager(s store.Store, kek *KEK, opts Options) *Manager {
	if opts.Algorithm == "" {
		opts.Algorithm = DefaultAlgorithm
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Monotonic == nil {
		opts.Monotonic = opts.Now
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = time.Hour
	}
	return &Manager{store: s, kek: kek, opts: opts}
}

// Options returns the manager's timing settings.
func (m *Manager) Options() Options { return m.opts }

// Current returns the key set in force. It never blocks.
func (m *Manager) Current() *State { return m.current.Load() }

// Load reads the stored keys, decrypts the active one, and brings the set
// up to date (a first key on an empty store, any rotation step that is
// due). A KEK mismatch is an error and nothing is written, so a wrong KEK
// can never destroy keys.
func (m *Manager) Load(ctx context.Context) error {
	_, err := m.Tick(ctx)
	return err
}

// generate makes a new key of alg and seals its private part.
func (m *Manager) generate(alg jose.SignatureAlgorithm, state store.SigningKeyState) (store.SigningKey, error) {
	priv, err := GenerateKey(alg)
	if err != nil {
		return store.SigningKey{}, err
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: encoding private key: %w", err)
	}
	sealed, err := m.kek.Seal(der, []byte(pub.KeyID))
	clear(der)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: encrypting private key: %w", err)
	}
	now := m.opts.Now().UTC()
	k := store.SigningKey{ID: pub.KeyID, Algorithm: string(alg), State: state, PublicJWK: pubJSON,
		EncryptedPrivateKey: sealed, KEKID: m.kek.ID(), CreatedAt: now, ConfiguredAlgorithm: string(m.opts.Algorithm)}
	if state == store.SigningActive {
		k.ActivatedAt = now
	}
	return k, nil
}

// GenerateKey creates a fresh private key for alg.
func GenerateKey(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("signing: unsupported algorithm %q", alg)
}

// build decrypts the active key and serialises the published set.
func (m *Manager) build(keys []store.SigningKey) (*State, error) {
	st := &State{}
	slices.SortFunc(keys, func(a, b store.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, k := range keys {
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(k.PublicJWK); err != nil {
			return nil, fmt.Errorf("signing: key %s: public JWK: %w", k.ID, err)
		}
		if !pub.IsPublic() {
			return nil, fmt.Errorf("signing: key %s: stored public JWK holds private material", k.ID)
		}
		st.PublicKeys.Keys = append(st.PublicKeys.Keys, pub)
		st.Keys = append(st.Keys, info(k))
		if k.State != store.SigningActive {
			continue
		}
		if st.Active != nil {
			return nil, errors.New("signing: more than one active key")
		}
		signer, err := m.unseal(k)
		if err != nil {
			return nil, err
		}
		st.Active = signer
	}
	if st.Active == nil {
		return nil, errors.New("signing: no active key")
	}
	jwks, err := json.Marshal(st.PublicKeys)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(jwks)
	st.JWKS, st.ETag = jwks, `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`
	return st, nil
}

func (m *Manager) unseal(k store.SigningKey) (*Signer, error) {
	der, err := m.kek.Open(k.EncryptedPrivateKey, []byte(k.ID))
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: %w", k.ID, err)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: parsing private key: %w", k.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing: key %s: not a signing key", k.ID)
	}
	return newSigner(k.ID, jose.SignatureAlgorithm(k.Algorithm), priv)
}
