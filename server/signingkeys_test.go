package server_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/signing"
)

// fakeClock is a settable clock shared by the server and the test.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time            { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration)   { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)           { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Since(t time.Time) float64 { return c.Now().Sub(t).Minutes() }

// cachingVerifier caches the JWKS exactly as long as Cache-Control allows
// and never refetches early, not even on an unknown kid: the strictest
// relying party there is.
type cachingVerifier struct {
	t       *testing.T
	url     string
	clock   *fakeClock
	keys    jose.JSONWebKeySet
	etag    string
	expires time.Time
	fetches int
	notMod  int
	// verifiedUnder remembers the ETag of the set each token last verified
	// against; re-verifying under the same set would prove nothing new.
	verifiedUnder map[string]string
}

var maxAgeRE = regexp.MustCompile(`(?:^|[ ,])max-age=(\d+)`)

func (v *cachingVerifier) refresh() {
	now := v.clock.Now()
	if now.Before(v.expires) {
		return
	}
	req, _ := http.NewRequest(http.MethodGet, v.url+"/keys", nil)
	if v.etag != "" {
		req.Header.Set("If-None-Match", v.etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	m := maxAgeRE.FindStringSubmatch(resp.Header.Get("Cache-Control"))
	if m == nil {
		v.t.Fatalf("JWKS without max-age: %q", resp.Header.Get("Cache-Control"))
	}
	age, _ := strconv.Atoi(m[1])
	switch resp.StatusCode {
	case http.StatusNotModified:
		v.notMod++
	case http.StatusOK:
		v.fetches++
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			v.t.Fatal(err)
		}
		v.keys, v.etag = set, resp.Header.Get("ETag")
	default:
		v.t.Fatalf("JWKS status %d", resp.StatusCode)
	}
	v.expires = now.Add(time.Duration(age) * time.Second)
}

// verify checks the token's signature against the cached set only.
func (v *cachingVerifier) verify(jwt string) error {
	v.refresh()
	if v.verifiedUnder[jwt] == v.etag {
		return nil
	}
	sig, err := jose.ParseSignedCompact(jwt, signing.Supported)
	if err != nil {
		return err
	}
	keys := v.keys.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) == 0 {
		return errUnknownKID(sig.Signatures[0].Header.KeyID)
	}
	if _, err = sig.Verify(keys[0]); err != nil {
		return err
	}
	if v.verifiedUnder == nil {
		v.verifiedUnder = map[string]string{}
	}
	v.verifiedUnder[jwt] = v.etag
	return nil
}

type errUnknownKID string

func (e errUnknownKID) Error() string { return "unknown kid " + string(e) }

// A simulated clock walks through two scheduled rotations, one manual
// rotation and the removal of retired keys, while a verifier that caches
// the JWKS exactly as long as allowed checks every fresh token, and every
// earlier token until it expires.
func TestRotationNeverStrandsAVerifier(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	s := servertest.Start(t, servertest.Options{Now: clock.Now, Configure: func(c *config.Config) {
		c.Signing.RotationPeriod = config.Duration(3 * time.Hour)
		c.Signing.JWKSMaxAge = config.Duration(10 * time.Minute)
		c.Tokens.Lifetime = config.Duration(20 * time.Minute)
	}})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "rotor", Email: "rotor@example.com",
		AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(t, "rotor", api.CreateKey{Name: "k"})
	mgr := s.Server.Signing()
	// Relying parties join at different times, so that their caches run out
	// of phase; the ones joining just before the manual rotation hold a
	// full max-age across it. (Scheduled changes cap every cache and so
	// line them up again.)
	var verifiers []*cachingVerifier

	type issued struct {
		jwt string
		exp time.Time
	}
	var live []issued
	kids := map[string]bool{}
	maxPublished := 0
	start := clock.Now()
	for step := 0; clock.Now().Before(start.Add(10 * time.Hour)); step++ {
		if _, err := mgr.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if step == 300 { // 5 h in: an operator rotates by hand
			if _, err := mgr.Rotate(context.Background(), false); err != nil {
				t.Fatal(err)
			}
		}
		if step < 10 || step >= 290 && step < 300 {
			verifiers = append(verifiers, &cachingVerifier{t: t, url: s.URL, clock: clock})
		}
		jwt := fetchToken(t, s, key.ClientID, key.ClientSecret)
		kids[jwtHeader(t, jwt)["kid"].(string)] = true
		live = append(live, issued{jwt, clock.Now().Add(20 * time.Minute)})
		kept := live[:0]
		for _, tok := range live {
			if !clock.Now().Before(tok.exp) {
				continue
			}
			for i, v := range verifiers {
				if err := v.verify(tok.jwt); err != nil {
					t.Fatalf("at +%.0fm verifier %d refused a token issued at %s: %v", clock.Since(start), i, tok.exp.Add(-20*time.Minute).Format("15:04"), err)
				}
			}
			kept = append(kept, tok)
		}
		live = kept
		maxPublished = max(maxPublished, len(verifiers[0].keys.Keys))
		clock.Advance(time.Minute + time.Duration(step%7)*time.Second)
	}
	// 10 h with a 3 h period: activations at about +3h, +6h (scheduled) and
	// the manual one at +5h40m.
	if len(kids) < 4 {
		t.Fatalf("tokens were signed by %d keys, want at least 4 (three rotations)", len(kids))
	}
	if maxPublished > 3 {
		t.Fatalf("the JWKS grew to %d keys: retired keys are not removed", maxPublished)
	}
	v := verifiers[0]
	if v.notMod == 0 || v.fetches < 4 {
		t.Fatalf("verifier made %d full fetches and %d conditional ones", v.fetches, v.notMod)
	}
	t.Logf("%d signing keys used; verifier 0: %d JWKS fetches, %d 304s; at most %d keys published", len(kids), v.fetches, v.notMod, maxPublished)
}

func fetchToken(t *testing.T, s *servertest.Server, id, secret string) string {
	t.Helper()
	tok, err := ccConfig(s, id, secret).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func TestJWKSCacheHeadersFollowTheSchedule(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	s := servertest.Start(t, servertest.Options{Now: clock.Now, Configure: func(c *config.Config) {
		c.Signing.RotationPeriod = config.Duration(24 * time.Hour)
		c.Signing.JWKSMaxAge = config.Duration(time.Hour)
	}})
	get := func(etag string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/keys", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("")
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Fatalf("fresh key: Cache-Control %q", got)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
		t.Fatalf("ETag %q is not strong", etag)
	}
	for _, h := range []string{etag, `"other", ` + etag, "*"} {
		if r := get(h); r.StatusCode != http.StatusNotModified || r.Header.Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d", h, r.StatusCode)
		}
	}
	if r := get(`"other"`); r.StatusCode != http.StatusOK {
		t.Fatalf("non-matching ETag: %d", r.StatusCode)
	}
	// The successor is published at 24h - 1h30m; 20 minutes before that
	// the max-age must not reach past it.
	clock.Set(time.Date(2026, 3, 1, 22, 10, 0, 0, time.UTC))
	if got := get("").Header.Get("Cache-Control"); got != "public, max-age=1200" {
		t.Fatalf("20 min before publication: Cache-Control %q", got)
	}
	if _, err := s.Server.Signing().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC))
	if _, err := s.Server.Signing().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp = get(etag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Fatalf("after publication the old ETag still matches (%d)", resp.StatusCode)
	}
	var list api.List[api.SigningKey]
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list)
	if len(list.Items) != 2 || list.Items[0].State != "pending" || !list.Items[0].ActivateAt.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("signing keys after publication: %+v", list.Items)
	}
}

func TestSigningKeyAdminAPI(t *testing.T) {
	t.Parallel()
	s, key := setup(t)
	var list api.List[api.SigningKey]
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list)
	if len(list.Items) != 1 || list.Items[0].State != "active" || list.Items[0].Algorithm != "RS256" {
		t.Fatalf("%+v", list.Items)
	}
	first := list.Items[0].KID

	var pending api.SigningKey
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, &pending); code != http.StatusCreated || pending.State != "pending" {
		t.Fatalf("rotate: %d %+v", code, pending)
	}
	if got := time.Until(pending.ActivateAt); got < 89*time.Minute || got > 91*time.Minute {
		t.Fatalf("pending key activates in %s, want max-age + 30m", got)
	}
	var e api.Error
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, &e); code != http.StatusConflict {
		t.Fatalf("second rotation: %d %+v", code, e)
	}
	// The pending key is published but does not sign yet.
	jwt := fetchToken(t, s, key.ClientID, key.ClientSecret)
	if jwtHeader(t, jwt)["kid"] != first {
		t.Fatal("a pending key signed a token")
	}
	if !strings.Contains(s.DoRaw(t, "", http.MethodGet, "/keys"), pending.KID) {
		t.Fatal("the pending key is not published")
	}

	var now api.SigningKey
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", api.RotateSigningKey{Immediate: true}, &now)
	if now.KID != pending.KID || now.State != "active" {
		t.Fatalf("immediate rotation should promote the pending key: %+v", now)
	}
	if jwt := fetchToken(t, s, key.ClientID, key.ClientSecret); jwtHeader(t, jwt)["kid"] != pending.KID {
		t.Fatal("the promoted key does not sign")
	}
	if code := s.Do(t, s.AdminToken, http.MethodDelete, "/api/v1/signing-keys/"+pending.KID, nil, &e); code != http.StatusConflict {
		t.Fatalf("removing the active key: %d", code)
	}
	if code := s.Do(t, s.AdminToken, http.MethodDelete, "/api/v1/signing-keys/"+first, nil, nil); code != http.StatusNoContent {
		t.Fatalf("removing the retired key: %d", code)
	}
	if strings.Contains(s.DoRaw(t, "", http.MethodGet, "/keys"), first) {
		t.Fatal("the removed key is still published")
	}
	if code := s.Do(t, s.AdminToken, http.MethodDelete, "/api/v1/signing-keys/"+first, nil, &e); code != http.StatusNotFound {
		t.Fatalf("removing twice: %d", code)
	}

	// Non-administrators see nothing and change nothing.
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/users", api.CreateUser{UserName: "alice", Email: "alice@example.com"}, nil)
	var pat api.KeyWithSecret
	s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/users/alice/tokens", api.CreateKey{Name: "cli"}, &pat)
	for _, req := range [][2]string{{http.MethodGet, "/api/v1/signing-keys"}, {http.MethodPost, "/api/v1/signing-keys:rotate"}} {
		if code := s.Do(t, pat.ClientSecret, req[0], req[1], nil, &e); code != http.StatusForbidden {
			t.Fatalf("%s %s by a non-admin: %d", req[0], req[1], code)
		}
	}
	var audit api.List[json.RawMessage]
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/audit?action=signing_key.*", nil, &audit)
	// rotate, rotate (conflict), rotate now, remove (in use), remove,
	// remove (not found), rotate (denied).
	if len(audit.Items) != 7 || !strings.Contains(string(audit.Items[0]), `"denied"`) {
		t.Fatalf("signing-key actions are not all audited: %s", audit.Items)
	}
}

// A copy of the database file must not contain private key material in
// any form: every value is parsed, and every byte string in it is checked
// for PKCS#8/PKCS#1/EC DER, PEM blocks and private JWK members.
func TestDatabaseHoldsNoPrivateKeyMaterial(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Signing.Algorithm = alg }})
			s.CreateAccount(t, api.CreateServiceAccount{UserName: "a", Email: "a@example.com", AllowedAudiences: []string{"https://x.example.com"}})
			s.CreateKey(t, "a", api.CreateKey{Name: "k"})
			s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, nil)
			s.Stop()

			copyPath := filepath.Join(t.TempDir(), "copy.db")
			data, err := os.ReadFile(filepath.Join(s.DataDir, "tokenwright.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(copyPath, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte("PRIVATE KEY")) {
				t.Fatal("a PEM private key block is in the file")
			}
			db, err := bbolt.Open(copyPath, 0o600, &bbolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			values := 0
			err = db.View(func(tx *bbolt.Tx) error {
				return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
					return walkBucket(b, func(k, v []byte) {
						values++
						checkNoPrivate(t, string(name)+"/"+string(k), v)
					})
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if values < 5 {
				t.Fatalf("only %d values walked", values)
			}
		})
	}
}

func walkBucket(b *bbolt.Bucket, fn func(k, v []byte)) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return walkBucket(nested, fn)
			}
			return nil
		}
		fn(k, v)
		return nil
	})
}

// checkNoPrivate looks at a value, every JSON string inside it, and the
// base64 decoding of each, for private key encodings.
func checkNoPrivate(t *testing.T, where string, v []byte) {
	t.Helper()
	candidates := [][]byte{v}
	var doc any
	if json.Unmarshal(v, &doc) == nil {
		var walk func(x any, path string)
		walk = func(x any, path string) {
			switch x := x.(type) {
			case map[string]any:
				for k, e := range x {
					// Private JWK members, wherever a JWK is stored.
					if slices.Contains([]string{"d", "p", "q", "dp", "dq", "qi"}, k) {
						if _, isJWK := x["kty"]; isJWK {
							t.Fatalf("%s: JWK with private member %q at %s", where, k, path)
						}
					}
					walk(e, path+"."+k)
				}
			case []any:
				for _, e := range x {
					walk(e, path+"[]")
				}
			case string:
				candidates = append(candidates, []byte(x))
				if raw, err := decodeAnyBase64(x); err == nil {
					candidates = append(candidates, raw)
					var inner any
					if json.Unmarshal(raw, &inner) == nil {
						walk(inner, path+"(b64)")
					}
				}
			}
		}
		walk(doc, "$")
	}
	for _, c := range candidates {
		if _, err := x509.ParsePKCS8PrivateKey(c); err == nil {
			t.Fatalf("%s: PKCS#8 private key", where)
		}
		if _, err := x509.ParsePKCS1PrivateKey(c); err == nil {
			t.Fatalf("%s: PKCS#1 private key", where)
		}
		if _, err := x509.ParseECPrivateKey(c); err == nil {
			t.Fatalf("%s: EC private key", where)
		}
		if b, _ := pem.Decode(c); b != nil && strings.Contains(b.Type, "PRIVATE") {
			t.Fatalf("%s: PEM %s", where, b.Type)
		}
	}
}

func decodeAnyBase64(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var raw []byte
		if raw, err = enc.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	return nil, err
}
