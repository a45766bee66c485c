package interop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

// The test PKI shared with server/tls_test.go: a CA and a certificate for
// 127.0.0.1.
const pkiDir = "../../testdata/tls"

// The audience every verifier expects, and the one the other account's
// tokens carry (the wrong-audience case).
const (
	audience      = "https://api.interop.example"
	otherAudience = "https://elsewhere.interop.example"
)

// The account names: the secret keys and the registered public key
// (private_key_jwt, whose client_id is the account name) belong to
// clientAccount; otherAccount only ever mints wrong-audience tokens.
const (
	clientAccount = "interop"
	otherAccount  = "elsewhere"
)

// Time offsets of the server's clock. The server lives in the past so that
// the tokens it mints are valid in real time for the verifiers, which use
// the real clock: expiredOffset mints tokens that expired an hour ago
// (lifetime 1 h); beforeRotation is when the verifiers start and the
// rotation is requested; at 0 the pending key, published
// jwksMaxAge + 30 m = 31 m earlier on the server's clock, is due.
const (
	tokenLifetime  = time.Hour
	expiredOffset  = -2 * time.Hour
	beforeRotation = -40 * time.Minute
)

// shiftedClock is the real clock plus an offset the test moves forward.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) Now() time.Time           { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftedClock) Set(offset time.Duration) { c.offset.Store(int64(offset)) }

// env is one running server and everything a client or verifier needs to
// reach it. Scripts get the same facts as arguments or on stdin, and the CA
// through NODE_EXTRA_CA_CERTS / SSL_CERT_FILE.
type env struct {
	Alg        string // the signing algorithm the server started with, and the assertion key's
	Issuer     string // https://127.0.0.1:PORT
	TokenURL   string
	JWKSURI    string // from the discovery document
	Audience   string
	CAFile     string // absolute path of the test CA (PEM)
	HTTPClient *http.Client

	// client_secret_basic / client_secret_post credentials.
	ClientID, ClientSecret string
	// private_key_jwt: client_id is the account name; the private key
	// signs with the server's own algorithm (RS256 or ES256), so each run
	// covers one assertion algorithm too.
	AssertionClientID string
	AssertionKey      crypto.Signer
	AssertionKeyPEM   string // PKCS#8

	Server *servertest.Server
	Clock  *shiftedClock
}

// startEnv starts a TLS server signing with alg whose clock reads offset
// from now, and registers the accounts and credentials.
func startEnv(t *testing.T, alg string, offset time.Duration) *env {
	t.Helper()
	endToEnd(t)
	ca, err := filepath.Abs(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{Alg: alg, Audience: audience, CAFile: ca, HTTPClient: tlsHTTPClient(t, ca), Clock: &shiftedClock{}}
	e.Clock.Set(offset)
	e.start(t, alg, servertest.Options{})
	s := e.Server

	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if code := s.Do(t, "", http.MethodGet, "/.well-known/openid-configuration", nil, &disc); code != http.StatusOK {
		t.Fatalf("discovery: HTTP %d", code)
	}
	e.TokenURL, e.JWKSURI = disc.TokenEndpoint, disc.JWKSURI

	s.CreateAccount(t, api.CreateServiceAccount{UserName: clientAccount, Email: "interop@example.com",
		AllowedAudiences: []string{audience}})
	key := s.CreateKey(t, clientAccount, api.CreateKey{Name: "secret"})
	e.ClientID, e.ClientSecret = key.ClientID, key.ClientSecret

	e.AssertionClientID = clientAccount
	e.AssertionKey = newClientKey(t, alg)
	der, err := x509.MarshalPKCS8PrivateKey(e.AssertionKey)
	if err != nil {
		t.Fatal(err)
	}
	e.AssertionKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pubDER, err := x509.MarshalPKIXPublicKey(e.AssertionKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	var reg api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/"+clientAccount+"/keys",
		api.CreateKey{Name: "public-key", PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))}, &reg); code != http.StatusCreated || reg.AuthMethod != "private_key_jwt" {
		t.Fatalf("registering the client's public key: HTTP %d %+v", code, reg)
	}

	s.CreateAccount(t, api.CreateServiceAccount{UserName: otherAccount, Email: "elsewhere@example.com",
		AllowedAudiences: []string{otherAudience}})
	return e
}

// start starts the server signing with alg (opts may name a data directory
// and address to restart on).
func (e *env) start(t *testing.T, alg string, opts servertest.Options) {
	t.Helper()
	opts.Now, opts.HTTPClient = e.Clock.Now, e.HTTPClient
	opts.Configure = func(c *config.Config) {
		c.TLS = tlsconfig.Source{Cert: filepath.Join(pkiDir, "server.pem"), Key: filepath.Join(pkiDir, "server.key")}
		c.Issuer = "https://" + c.Listen
		c.Signing.Algorithm = alg
		// The shortest pre-publication window there is (1 m + 30 m), which
		// the test crosses by moving the server's clock.
		c.Signing.JWKSMaxAge = config.Duration(time.Minute)
		c.Tokens.Lifetime = config.Duration(tokenLifetime)
	}
	e.Server = servertest.Start(t, opts)
	e.Issuer = e.Server.URL
}

// restart stops the server and starts it again on the same data and
// address, now configured to sign with alg: the pre-published path of an
// algorithm change.
func (e *env) restart(t *testing.T, alg string) {
	t.Helper()
	e.Server.Stop()
	e.start(t, alg, servertest.Options{DataDir: e.Server.DataDir, Addr: e.Server.Addr})
}

// newClientKey is the private_key_jwt key for a run: RSA for RS256, P-256
// for ES256.
func newClientKey(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case "RS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("no client key type for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tlsHTTPClient trusts only the test CA.
func tlsHTTPClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	data, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("no certificate in the test CA file")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}}
}

// rotate requests a pre-published rotation through the admin API (what
// `tokenwright keys rotate` sends) and returns the pending key.
func (e *env) rotate(t *testing.T) api.SigningKey {
	t.Helper()
	var pending api.SigningKey
	if code := e.Server.Do(t, e.Server.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, &pending); code != http.StatusCreated || pending.State != "pending" {
		t.Fatalf("keys rotate: HTTP %d %+v", code, pending)
	}
	return pending
}

// activeKID is the kid of the key that signs now.
func (e *env) activeKID(t *testing.T) string {
	t.Helper()
	var list api.List[api.SigningKey]
	if code := e.Server.Do(t, e.Server.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list); code != http.StatusOK {
		t.Fatalf("listing signing keys: HTTP %d", code)
	}
	for _, k := range list.Items {
		if k.State == "active" {
			return k.KID
		}
	}
	t.Fatalf("no active signing key: %+v", list.Items)
	return ""
}

// tick runs the signing-key schedule now (the server's own timer would, a
// minute later).
func (e *env) tick(t *testing.T) {
	t.Helper()
	if _, err := e.Server.Server.Signing().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// endToEnd skips t under -short (the fast test layer): every scenario of
// this suite starts a TLS server and real third-party clients, verifiers or
// Apache. startEnv and apacheNeed, the two ways into a scenario, call it.
func endToEnd(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop: runs real third-party clients and verifiers; skipped with -short")
	}
}

// strict reports whether missing external programs are failures
// (TOKENWRIGHT_TEST_STRICT=1, set by .ci/run).
func strict() bool { return os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" }

// missing skips, or fails under TOKENWRIGHT_TEST_STRICT=1.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if strict() {
		t.Fatalf(format+" (required under TOKENWRIGHT_TEST_STRICT=1; .ci/run installs it)", args...)
	}
	t.Skipf(format, args...)
}
