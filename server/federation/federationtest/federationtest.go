// Package federationtest runs, for tests, a foreign OpenID issuer on
// 127.0.0.1: TLS from a private tlstest CA, an OpenID discovery document and
// a JWKS, and real signed JWTs shaped like the tokens GitHub Actions, GitLab
// CI, Kubernetes and SPIFFE hand to their jobs and workloads. Knobs make it
// misbehave the ways a verifier must survive (unsigned and HMAC tokens,
// oversized or silent JWKS, redirects, a discovery document naming another
// issuer, key rotation) and counters say how often the verifier fetched.
package federationtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
)

// Paths the issuer serves.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/jwks"
	// redirectTarget serves the real discovery document when discovery
	// redirects, so that a client that follows redirects would succeed.
	redirectTarget = "/discovery-moved"
)

// Options configure New.
type Options struct {
	// Now stamps iat, nbf and exp of the claim sets (nil: time.Now); pass
	// the verifier's injected clock so that tokens are fresh in its eyes.
	Now func() time.Time
	// CA signs the server certificate (nil: a new CA). Share one between
	// issuers so that one client trusts them all.
	CA *tlstest.CA
	// PlainHTTP serves http:// instead of https:// (still on 127.0.0.1).
	PlainHTTP bool
}

// Issuer is a running test issuer. Its URL is the issuer identifier.
type Issuer struct {
	URL     string       // https://127.0.0.1:PORT (http:// with PlainHTTP)
	JWKSURI string       // URL + JWKSPath
	CA      *tlstest.CA  // the CA its certificate chains to (nil with PlainHTTP)
	Client  *http.Client // trusts only CA; follows no redirect on its own policy

	now     func() time.Time
	release chan struct{} // closed at cleanup: ends hanging handlers

	discoveryFetches atomic.Int64
	jwksFetches      atomic.Int64

	mu              sync.Mutex
	current         map[jose.SignatureAlgorithm]*key // the key each algorithm signs with now
	published       []*key                           // every key in the JWKS, oldest first
	cacheControl    string
	padJWKS         int
	padDiscovery    int
	hold            chan struct{} // non-nil: JWKS requests wait for it to close
	redirect        bool
	discoveryIssuer string
}

type key struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

// New starts an issuer with one RS256, one ES256 and one EdDSA key and
// stops it when t ends.
func New(t testing.TB, o Options) *Issuer {
	t.Helper()
	i := &Issuer{now: o.Now, release: make(chan struct{}), current: map[jose.SignatureAlgorithm]*key{}}
	if i.now == nil {
		i.now = time.Now
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		i.Rotate(t, alg)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(DiscoveryPath, i.serveDiscovery)
	mux.HandleFunc(redirectTarget, i.serveDiscovery)
	mux.HandleFunc(JWKSPath, i.serveJWKS)
	srv := httptest.NewUnstartedServer(mux)
	if o.PlainHTTP {
		srv.Start()
		i.Client = &http.Client{Timeout: 30 * time.Second}
	} else {
		i.CA = o.CA
		if i.CA == nil {
			i.CA = tlstest.NewCA(t)
		}
		now := time.Now()
		pki := i.CA.Issue(t, now.Add(-time.Hour), now.Add(24*time.Hour))
		cert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		srv.StartTLS()
		i.Client = tlstest.Client(t, i.CA.File)
	}
	t.Cleanup(func() {
		close(i.release)
		srv.Close()
	})
	i.URL = srv.URL
	i.JWKSURI = srv.URL + JWKSPath
	return i
}

// Rotate makes a new key for alg, publishes it beside the old ones and
// signs alg's tokens with it from now on. It returns the new kid.
func (i *Issuer) Rotate(t testing.TB, alg jose.SignatureAlgorithm) string {
	t.Helper()
	var signer crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES512:
		signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jose.EdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("federationtest: no key type for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := &key{kid: randomID(t), alg: alg, signer: signer}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.current[alg] = k
	i.published = append(i.published, k)
	return k.kid
}

// KID is the kid alg's tokens are signed with now.
func (i *Issuer) KID(alg jose.SignatureAlgorithm) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if k := i.current[alg]; k != nil {
		return k.kid
	}
	return ""
}

// Signing chooses how Mint signs; the zero value is RS256 with the
// current key's kid.
type Signing struct {
	Alg jose.SignatureAlgorithm // "" = RS256; New makes RS256, ES256 and EdDSA keys, Rotate any other
	KID string                  // "" = the signing key's own kid; set it to claim a kid the JWKS lacks
	// KeyOf signs with the key made for another algorithm (and its kid),
	// e.g. PS256 with the RS256 key, whose JWK says "alg": "RS256".
	KeyOf jose.SignatureAlgorithm
	// Headers are extra JOSE header parameters (e.g. "jku" pointing at
	// another JWKS, which a verifier must ignore).
	Headers map[jose.HeaderKey]any
	// EmbedJWK puts the signing key's public half in the header ("jwk"),
	// beside the kid, which a verifier must not trust.
	EmbedJWK bool
}

// Mint signs claims (marshalled as JSON) with the issuer's current key.
func (i *Issuer) Mint(t testing.TB, claims map[string]any, s ...Signing) string {
	t.Helper()
	var sg Signing
	if len(s) > 0 {
		sg = s[0]
	}
	if sg.Alg == "" {
		sg.Alg = jose.RS256
	}
	keyAlg := sg.Alg
	if sg.KeyOf != "" {
		keyAlg = sg.KeyOf
	}
	i.mu.Lock()
	k := i.current[keyAlg]
	i.mu.Unlock()
	if k == nil {
		t.Fatalf("federationtest: no %s key (call Rotate(t, %s) first)", keyAlg, keyAlg)
	}
	kid := k.kid
	if sg.KID != "" {
		kid = sg.KID
	}
	opts := &jose.SignerOptions{EmbedJWK: sg.EmbedJWK}
	for h, v := range sg.Headers {
		opts.WithHeader(h, v)
	}
	return sign(t, jose.SigningKey{Algorithm: sg.Alg, Key: k.signer}, opts, kid, claims)
}

// MintPayload signs payload as it is (claims whose order or duplicates a
// map cannot express) with the RS256 key.
func (i *Issuer) MintPayload(t testing.TB, payload []byte) string {
	t.Helper()
	i.mu.Lock()
	k := i.current[jose.RS256]
	i.mu.Unlock()
	return signPayload(t, jose.SigningKey{Algorithm: jose.RS256, Key: k.signer}, &jose.SignerOptions{}, k.kid, payload)
}

// MintNone returns claims as an unsigned JWT (alg "none", empty
// signature), which go-jose will not produce, so it is assembled here. Its
// kid is the RS256 key's, so that a verifier that looked the key up first
// would find one.
func (i *Issuer) MintNone(t testing.TB, claims map[string]any) string {
	t.Helper()
	header, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": i.KID(jose.RS256)})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "."
}

// MintHS256WithPublicKey returns claims signed with HMAC-SHA256 keyed with
// the bytes of the RS256 key's public key (PEM, as it is often
// distributed), under that key's kid: the algorithm-confusion attack on a
// verifier that lets the token's alg choose how the key is used.
func (i *Issuer) MintHS256WithPublicKey(t testing.TB, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	k := i.current[jose.RS256]
	i.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, &jose.SignerOptions{}, k.kid, claims)
}

func sign(t testing.TB, sk jose.SigningKey, opts *jose.SignerOptions, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return signPayload(t, sk, opts, kid, payload)
}

// signPayload signs payload as a compact JWT of type JWT under kid.
func signPayload(t testing.TB, sk jose.SigningKey, opts *jose.SignerOptions, kid string, payload []byte) string {
	t.Helper()
	// With EmbedJWK go-jose would leave the kid out; it is set anyway, as
	// an attacker would, to name a key the verifier knows.
	opts = opts.WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid)
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// SetJWKSCacheControl sets the JWKS response's Cache-Control header
// ("" = none).
func (i *Issuer) SetJWKSCacheControl(v string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cacheControl = v
}

// PadJWKS makes the JWKS document at least n bytes long (0 = off) by an
// extra member verifiers ignore, so the keys in it stay valid: only a size
// cap refuses it.
func (i *Issuer) PadJWKS(n int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.padJWKS = n
}

// PadDiscovery makes the discovery document at least n bytes long (0 =
// off) by an extra member, as PadJWKS does for the JWKS.
func (i *Issuer) PadDiscovery(n int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.padDiscovery = n
}

// HangJWKS(true) makes JWKS requests wait without an answer until the
// client gives up, the test ends or HangJWKS(false) releases them (they
// are then answered with the JWKS as it is at that moment).
func (i *Issuer) HangJWKS(hang bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case hang && i.hold == nil:
		i.hold = make(chan struct{})
	case !hang && i.hold != nil:
		close(i.hold)
		i.hold = nil
	}
}

// RedirectDiscovery makes the discovery path answer 302 to another path
// on the same issuer serving the same (valid) document.
func (i *Issuer) RedirectDiscovery(redirect bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.redirect = redirect
}

// SetDiscoveryIssuer makes the discovery document name iss as its issuer
// ("" = the issuer's own URL).
func (i *Issuer) SetDiscoveryIssuer(iss string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.discoveryIssuer = iss
}

// DiscoveryFetches counts requests for the discovery document (the
// redirect target included).
func (i *Issuer) DiscoveryFetches() int { return int(i.discoveryFetches.Load()) }

// JWKSFetches counts requests for the JWKS, counted as they arrive (a
// hanging request is counted).
func (i *Issuer) JWKSFetches() int { return int(i.jwksFetches.Load()) }

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.discoveryFetches.Add(1)
	i.mu.Lock()
	redirect, iss, pad := i.redirect, i.discoveryIssuer, i.padDiscovery
	i.mu.Unlock()
	if redirect && r.URL.Path == DiscoveryPath {
		http.Redirect(w, r, i.URL+redirectTarget, http.StatusFound)
		return
	}
	if iss == "" {
		iss = i.URL
	}
	doc := map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              i.JWKSURI,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
	}
	if pad > 0 {
		doc["padding"] = strings.Repeat("x", pad)
	}
	writeJSON(w, doc)
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.jwksFetches.Add(1)
	i.mu.Lock()
	hold := i.hold
	i.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		case <-i.release:
			return
		}
	}
	i.mu.Lock()
	pad, cc := i.padJWKS, i.cacheControl
	set := jose.JSONWebKeySet{}
	for _, k := range i.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	i.mu.Unlock()
	doc := map[string]any{"keys": set.Keys}
	if pad > 0 {
		doc["padding"] = strings.Repeat("x", pad)
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	writeJSON(w, doc)
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func randomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
