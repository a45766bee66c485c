package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/internal/testclock"
	"github.com/tokenwright/tokenwright/server/federation/federationtest"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
)

const audience = "https://tokenwright.test"

// fixture is a test issuer and a verifier trusting its CA, both on one
// injected clock.
type fixture struct {
	clock *testclock.Clock
	iss   *federationtest.Issuer
	v     *Issuers
}

func newFixture(t testing.TB, o IssuersOptions) fixture {
	t.Helper()
	clock := testclock.New()
	iss := federationtest.New(t, federationtest.Options{Now: clock.Now})
	if o.Client == nil {
		o.Client = iss.Client
	}
	o.Now = clock.Now
	return fixture{clock: clock, iss: iss, v: NewIssuers(o)}
}

func (f fixture) verify(t testing.TB, raw string) (Verified, error) {
	t.Helper()
	return f.v.Verify(t.Context(), raw, f.iss.URL, audience, "")
}

// mustVerify fails t unless raw verifies.
func (f fixture) mustVerify(t *testing.T, raw string) Verified {
	t.Helper()
	v, err := f.verify(t, raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

// wantReason fails t unless err is an *Invalid for reason (wrapping
// cause, when cause is not nil).
func wantReason(t *testing.T, err error, reason Reason, cause error) {
	t.Helper()
	inv, ok := errors.AsType[*Invalid](err)
	if !ok || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %v (%T), want an *Invalid (%s)", err, err, reason)
	}
	if inv.Reason != reason {
		t.Fatalf("reason %s (%v), want %s", inv.Reason, err, reason)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("error %v does not wrap %v", err, cause)
	}
}

func TestVerifyAcceptsEachPlatformsTokens(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	shapes := map[string]func(aud any) map[string]any{
		"github": f.iss.GitHub, "gitlab": f.iss.GitLab, "kubernetes": f.iss.Kubernetes, "spiffe": f.iss.SPIFFE,
	}
	wantSub := map[string]string{
		"github":     "repo:" + federationtest.GitHubRepository + ":ref:" + federationtest.GitHubRef,
		"gitlab":     "project_path:" + federationtest.GitLabProjectPath + ":ref_type:branch:ref:main",
		"kubernetes": "system:serviceaccount:" + federationtest.KubernetesNamespace + ":" + federationtest.KubernetesAccount,
		"spiffe":     federationtest.SPIFFEID,
	}
	auds := map[string]any{"aud string": audience, "aud array": []string{"https://other.example", audience}}
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}
	n := 0
	for name, shape := range shapes {
		for audName, aud := range auds {
			alg := algs[n%len(algs)]
			n++
			t.Run(fmt.Sprintf("%s/%s/%s", name, audName, alg), func(t *testing.T) {
				claims := shape(aud)
				v := f.mustVerify(t, f.iss.Mint(t, claims, federationtest.Signing{Alg: alg}))
				if v.Issuer != f.iss.URL || v.Subject != wantSub[name] {
					t.Errorf("issuer %q subject %q", v.Issuer, v.Subject)
				}
				if jti, _ := claims["jti"].(string); v.JTI != jti {
					t.Errorf("jti %q, want %q", v.JTI, jti)
				}
				if !v.IssuedAt.Equal(time.Unix(claims["iat"].(int64), 0)) || !v.Expiry.Equal(time.Unix(claims["exp"].(int64), 0)) {
					t.Errorf("iat %s exp %s", v.IssuedAt, v.Expiry)
				}
				if _, ok := v.Claims["exp"].(float64); !ok {
					t.Errorf("exp is %T in Claims, want float64", v.Claims["exp"])
				}
				if name == "github" && v.Claims["repository_id"] != federationtest.GitHubRepositoryID {
					t.Errorf("repository_id %v", v.Claims["repository_id"])
				}
				if name == "kubernetes" {
					k8s, _ := v.Claims["kubernetes.io"].(map[string]any)
					if k8s["namespace"] != federationtest.KubernetesNamespace {
						t.Errorf("kubernetes.io %v", v.Claims["kubernetes.io"])
					}
				}
			})
		}
	}
	// Every token above used the keys of one fetch.
	if got := f.iss.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

// TestVerifyRefuses holds one case per rule of Verify; each was seen to
// fail with its rule removed.
func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	now := f.clock.Now()
	with := func(change func(c map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			c := f.iss.GitHub(audience)
			change(c)
			return f.iss.Mint(t, c)
		}
	}
	cases := []struct {
		name   string
		token  func(t *testing.T) string
		reason Reason
	}{
		{"wrong audience", with(func(c map[string]any) { c["aud"] = "https://elsewhere.example" }), ReasonAudience},
		{"wrong audience in an array", with(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), ReasonAudience},
		{"audience differs by a slash", with(func(c map[string]any) { c["aud"] = audience + "/" }), ReasonAudience},
		{"expired beyond the skew", with(func(c map[string]any) { c["exp"] = now.Add(-62 * time.Second).Unix() }), ReasonExpired},
		{"no exp", with(func(c map[string]any) { delete(c, "exp") }), ReasonNoExpiry},
		{"nbf ahead beyond the skew", with(func(c map[string]any) { c["nbf"] = now.Add(62 * time.Second).Unix() }), ReasonNotYetValid},
		{"iat ahead beyond the skew", with(func(c map[string]any) { c["iat"] = now.Add(62 * time.Second).Unix() }), ReasonIssuedInFuture},
		{"other issuer", with(func(c map[string]any) { c["iss"] = "https://token.actions.githubusercontent.com" }), ReasonIssuer},
		{"issuer differs by a slash", with(func(c map[string]any) { c["iss"] = f.iss.URL + "/" }), ReasonIssuer},
		{"no issuer", with(func(c map[string]any) { delete(c, "iss") }), ReasonIssuer},
		{"alg none", func(t *testing.T) string { return f.iss.MintNone(t, f.iss.GitHub(audience)) }, ReasonAlgorithm},
		{"HS256 keyed with the public key", func(t *testing.T) string { return f.iss.MintHS256WithPublicKey(t, f.iss.GitHub(audience)) }, ReasonAlgorithm},
		{"PS256 with a key published for RS256", func(t *testing.T) string {
			return f.iss.Mint(t, f.iss.GitHub(audience), federationtest.Signing{Alg: jose.PS256, KeyOf: jose.RS256})
		}, ReasonKeyMismatch},
		{"ES256 signature under the RS256 key's kid", func(t *testing.T) string {
			return f.iss.Mint(t, f.iss.GitHub(audience), federationtest.Signing{Alg: jose.ES256, KID: f.iss.KID(jose.RS256)})
		}, ReasonKeyMismatch},
		{"signed by a key the issuer never published", func(t *testing.T) string {
			other := federationtest.New(t, federationtest.Options{Now: f.clock.Now})
			c := f.iss.GitHub(audience)
			return other.Mint(t, c, federationtest.Signing{KID: f.iss.KID(jose.RS256)})
		}, ReasonSignature},
		{"aud of the wrong type", with(func(c map[string]any) { c["aud"] = 42 }), ReasonMalformed},
		{"not a JWT", func(*testing.T) string { return "not.a.jwt" }, ReasonMalformed},
		{"too large", with(func(c map[string]any) { c["pad"] = string(make([]byte, maxTokenSize)) }), ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.verify(t, tc.token(t))
			wantReason(t, err, tc.reason, nil)
		})
	}
	// The skew is tolerated, no more: these verify.
	for name, change := range map[string]func(c map[string]any){
		"expired within the skew": func(c map[string]any) { c["exp"] = now.Add(-58 * time.Second).Unix() },
		"nbf within the skew":     func(c map[string]any) { c["nbf"] = now.Add(58 * time.Second).Unix() },
		"iat within the skew":     func(c map[string]any) { c["iat"] = now.Add(58 * time.Second).Unix() },
		"no nbf, no iat, no jti":  func(c map[string]any) { delete(c, "nbf"); delete(c, "iat"); delete(c, "jti") },
	} {
		t.Run(name, func(t *testing.T) { f.mustVerify(t, with(change)(t)) })
	}
}

// TestRegisteredClaimsByExactName: "AUD", "SUB" or "EXP" after "aud", "sub"
// or "exp" (which encoding/json would let override them in a struct) change
// nothing: the rules and the checks read the same, exactly named claims.
func TestRegisteredClaimsByExactName(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	now := f.clock.Now().Unix()
	payload := func(extra string) []byte {
		return fmt.Appendf(nil, `{"iss":%q,"sub":"repo:acme/deploy:ref:refs/heads/main","aud":%q,"exp":%d,"iat":%d%s}`,
			f.iss.URL, audience, now+300, now, extra)
	}
	v := f.mustVerify(t, f.iss.MintPayload(t, payload(`,"SUB":"repo:evil/x:ref:refs/heads/main","Iss":"https://evil.example"`)))
	if v.Subject != "repo:acme/deploy:ref:refs/heads/main" || v.Subject != v.Claims["sub"] || v.Issuer != f.iss.URL {
		t.Fatalf("subject %q, issuer %q, claims %v", v.Subject, v.Issuer, v.Claims)
	}
	wrongAud := fmt.Appendf(nil, `{"iss":%q,"aud":"https://other.example","exp":%d,"AUD":%q}`, f.iss.URL, now+300, audience)
	_, err := f.verify(t, f.iss.MintPayload(t, wrongAud))
	wantReason(t, err, ReasonAudience, nil)
	expired := payload(fmt.Sprintf(`,"EXP":%d`, now+3600))
	expired = []byte(strings.Replace(string(expired), fmt.Sprintf(`"exp":%d`, now+300), fmt.Sprintf(`"exp":%d`, now-3600), 1))
	_, err = f.verify(t, f.iss.MintPayload(t, expired))
	wantReason(t, err, ReasonExpired, nil)
	_, err = f.verify(t, f.iss.MintPayload(t, []byte(`["not","an","object"]`)))
	wantReason(t, err, ReasonMalformed, nil)
	_, err = f.verify(t, f.iss.MintPayload(t, []byte(`null`)))
	wantReason(t, err, ReasonMalformed, nil)
}

// TestKeysOnlyFromTheIssuer: keys a token brings or points at (an embedded
// "jwk", a "jku") are never used or fetched.
func TestKeysOnlyFromTheIssuer(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	attacker := federationtest.New(t, federationtest.Options{Now: f.clock.Now})

	embedded := attacker.Mint(t, f.iss.GitHub(audience), federationtest.Signing{KID: f.iss.KID(jose.RS256), EmbedJWK: true})
	_, err := f.verify(t, embedded)
	wantReason(t, err, ReasonSignature, nil)

	pointed := attacker.Mint(t, f.iss.GitHub(audience), federationtest.Signing{Headers: map[jose.HeaderKey]any{"jku": attacker.JWKSURI}})
	_, err = f.verify(t, pointed)
	wantReason(t, err, ReasonUnknownKey, nil)
	if attacker.JWKSFetches() != 0 {
		t.Fatal("the jku was fetched")
	}
}

// TestUnknownKIDFloodFetchesOncePer30s: made-up kids make the keys be
// fetched again at most once per 30 s (the promise, written out).
func TestUnknownKIDFloodFetchesOncePer30s(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	flood := func() {
		for n := range 50 {
			raw := f.iss.Mint(t, f.iss.GitHub(audience), federationtest.Signing{KID: fmt.Sprintf("made-up-%d", n)})
			_, err := f.verify(t, raw)
			wantReason(t, err, ReasonUnknownKey, nil)
		}
	}
	flood()
	if got := f.iss.JWKSFetches(); got != 1 {
		t.Fatalf("after a flood within 30 s of the first fetch: %d JWKS fetches, want 1", got)
	}
	f.clock.Advance(30*time.Second + time.Second)
	flood()
	if got := f.iss.JWKSFetches(); got != 2 {
		t.Fatalf("after a flood 31 s later: %d JWKS fetches, want 2", got)
	}
	f.clock.Advance(30*time.Second - time.Second)
	flood()
	if got := f.iss.JWKSFetches(); got != 2 {
		t.Fatalf("after a flood 29 s after the refetch: %d JWKS fetches, want 2", got)
	}
	f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
}

// TestRotatedKeyIsFetchedOnce: a token under a kid published after the
// keys were cached makes one refetch, then verifies.
func TestRotatedKeyIsFetchedOnce(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	f.iss.Rotate(t, jose.RS256)
	f.clock.Advance(30*time.Second + time.Second) // still well within the cache's lifetime
	f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	if got := f.iss.JWKSFetches(); got != 2 {
		t.Fatalf("%d JWKS fetches, want 2 (the first, one for the new kid)", got)
	}
}

// waiters is how many callers wait for the fetch under way for issuer.
func waiters(i *Issuers, issuer, jwksURI string) int {
	s := i.set(issuer, jwksURI)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		return 0
	}
	return s.inflight.waiters
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.iss.HangJWKS(true)
	const callers = 20
	errs := make(chan error, callers)
	for range callers {
		raw := f.iss.Mint(t, f.iss.GitHub(audience))
		go func() { _, err := f.verify(t, raw); errs <- err }()
	}
	eventually.True(t, 10*time.Second, "every caller waits for the fetch", func() bool {
		return waiters(f.v, f.iss.URL, "") == callers
	})
	f.iss.HangJWKS(false)
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := f.iss.JWKSFetches(); got != 1 {
		t.Fatalf("%d JWKS fetches for %d concurrent callers, want 1", got, callers)
	}
}

func TestOversizedJWKSRefused(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.iss.PadJWKS(256<<10 + 1)
	_, err := f.verify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	wantReason(t, err, ReasonKeys, errTooLarge)
	// The failure is remembered for 5 s: a flood of tokens
	// for a broken issuer costs it no more requests.
	f.iss.PadJWKS(0)
	f.clock.Advance(4 * time.Second)
	_, err = f.verify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	wantReason(t, err, ReasonKeys, errTooLarge)
	if got := f.iss.JWKSFetches(); got != 1 {
		t.Fatalf("%d JWKS fetches within %v of a failure, want 1", got, 5*time.Second)
	}
	f.clock.Advance(2 * time.Second)
	f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))

	g := newFixture(t, IssuersOptions{})
	g.iss.PadJWKS(252 << 10) // keys and padding just under the cap
	g.mustVerify(t, g.iss.Mint(t, g.iss.GitHub(audience)))
}

func TestOversizedDiscoveryRefused(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.iss.PadDiscovery(64<<10 + 1) // the promised caps, written out: 64 KiB discovery, 256 KiB JWKS
	_, err := f.verify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	wantReason(t, err, ReasonKeys, errTooLarge)

	g := newFixture(t, IssuersOptions{})
	g.iss.PadDiscovery(63 << 10)
	g.mustVerify(t, g.iss.Mint(t, g.iss.GitHub(audience)))
}

// TestSilentJWKSFailsWithinTheTimeout: a JWKS endpoint that never answers
// fails the verification once the fetch timeout passes.
func TestSilentJWKSFailsWithinTheTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f := newFixture(t, IssuersOptions{FetchTimeout: timeout})
	f.iss.HangJWKS(true)
	start := time.Now()
	_, err := f.verify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	wantReason(t, err, ReasonKeys, context.DeadlineExceeded)
	if took := time.Since(start); took > timeout+5*time.Second {
		t.Fatalf("took %v with a fetch timeout of %v", took, timeout)
	}
}

// TestSilentIssuerBlocksNoOtherIssuer: while one issuer's JWKS fetch hangs,
// a token of another issuer verifies, and the waiting caller can give up.
func TestSilentIssuerBlocksNoOtherIssuer(t *testing.T) {
	clock := testclock.New()
	ca := tlstest.NewCA(t)
	silent := federationtest.New(t, federationtest.Options{Now: clock.Now, CA: ca})
	healthy := federationtest.New(t, federationtest.Options{Now: clock.Now, CA: ca})
	v := NewIssuers(IssuersOptions{Client: silent.Client, Now: clock.Now, FetchTimeout: time.Hour})
	silent.HangJWKS(true)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	raw := silent.Mint(t, silent.GitHub(audience))
	go func() { _, err := v.Verify(ctx, raw, silent.URL, audience, ""); done <- err }()
	eventually.True(t, 10*time.Second, "the silent issuer's JWKS is requested", func() bool { return silent.JWKSFetches() == 1 })

	// The other verification runs aside, so that if it were held up by the
	// silent issuer this test would fail rather than hang.
	otherDone := make(chan error, 1)
	otherRaw := healthy.Mint(t, healthy.GitLab(audience))
	go func() { _, err := v.Verify(t.Context(), otherRaw, healthy.URL, audience, ""); otherDone <- err }()
	select {
	case err := <-otherDone:
		if err != nil {
			t.Fatalf("another issuer's token while one hangs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("another issuer's token waited for the silent issuer")
	}
	select {
	case err := <-done:
		t.Fatalf("the silent issuer's verification ended early: %v", err)
	default:
	}
	cancel()
	wantReason(t, <-done, ReasonKeys, context.Canceled)
}

func TestRedirectingDiscoveryRefused(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.iss.RedirectDiscovery(true)
	_, err := f.verify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
	wantReason(t, err, ReasonKeys, errRedirect)
	if f.iss.JWKSFetches() != 0 {
		t.Fatal("the JWKS was fetched after a redirect")
	}
}

func TestDiscoveryNamingAnotherIssuerRefused(t *testing.T) {
	for name, iss := range map[string]func(url string) string{
		"other path":     func(u string) string { return u + "/other" },
		"trailing slash": func(u string) string { return u + "/" },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, IssuersOptions{})
			f.iss.SetDiscoveryIssuer(iss(f.iss.URL))
			_, err := f.verify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
			wantReason(t, err, ReasonKeys, errIssuerMismatch)
		})
	}
}

// guardedClient is an HTTP client that dials loopback addresses only and
// counts every other attempt, so that a test of a non-loopback URL sends
// nothing anywhere even if the rule under test were gone.
func guardedClient(base *http.Client, attempts *int, mu *sync.Mutex) *http.Client {
	tr := base.Transport.(*http.Transport).Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			mu.Lock()
			*attempts++
			mu.Unlock()
			return nil, fmt.Errorf("test guard: no dialling %s", addr)
		}
		return dial(ctx, network, addr)
	}
	c := *base
	c.Transport = tr
	return &c
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	clock := testclock.New()
	tlsIss := federationtest.New(t, federationtest.Options{Now: clock.Now})
	var attempts int
	var mu sync.Mutex
	v := NewIssuers(IssuersOptions{Client: guardedClient(tlsIss.Client, &attempts, &mu), Now: clock.Now})

	const remote = "http://192.0.2.1"
	c := tlsIss.GitHub(audience)
	c["iss"] = remote
	_, err := v.Verify(t.Context(), tlsIss.Mint(t, c), remote, audience, "")
	wantReason(t, err, ReasonKeys, errInsecureURL)

	_, err = v.Verify(t.Context(), tlsIss.Mint(t, tlsIss.GitHub(audience)), tlsIss.URL, audience, remote+"/jwks")
	wantReason(t, err, ReasonKeys, errInsecureURL)
	mu.Lock()
	defer mu.Unlock()
	if attempts != 0 {
		t.Fatalf("%d connections to a non-loopback address attempted", attempts)
	}

	plain := federationtest.New(t, federationtest.Options{Now: clock.Now, PlainHTTP: true})
	if _, err := v.Verify(t.Context(), plain.Mint(t, plain.Kubernetes(audience)), plain.URL, audience, ""); err != nil {
		t.Fatalf("plain http on loopback: %v", err)
	}
}

func TestJWKSURIOverridesDiscovery(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	f.iss.SetDiscoveryIssuer("https://not-consulted.example")
	if _, err := f.v.Verify(t.Context(), f.iss.Mint(t, f.iss.SPIFFE(audience)), f.iss.URL, audience, f.iss.JWKSURI); err != nil {
		t.Fatal(err)
	}
	if f.iss.DiscoveryFetches() != 0 {
		t.Fatalf("%d discovery fetches with a jwksUri", f.iss.DiscoveryFetches())
	}
}

// TestJWKSCachedForMaxAge: keys are cached for the JWKS's max-age, and
// for 5 minutes without one, never less than a minute nor more than a day.
func TestJWKSCachedForMaxAge(t *testing.T) {
	for _, tc := range []struct {
		cacheControl string
		ttl          time.Duration
	}{
		{"public, max-age=3600", time.Hour},
		{"", 5 * time.Minute},
		{"max-age=1", time.Minute},
		{"max-age=31536000", 24 * time.Hour},
	} {
		t.Run(fmt.Sprintf("%q", tc.cacheControl), func(t *testing.T) {
			f := newFixture(t, IssuersOptions{})
			f.iss.SetJWKSCacheControl(tc.cacheControl)
			f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
			f.clock.Advance(tc.ttl - time.Second)
			f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
			if got := f.iss.JWKSFetches(); got != 1 {
				t.Fatalf("a second before the cache ends: %d fetches, want 1", got)
			}
			f.clock.Advance(2 * time.Second)
			f.mustVerify(t, f.iss.Mint(t, f.iss.GitHub(audience)))
			if got := f.iss.JWKSFetches(); got != 2 {
				t.Fatalf("a second after the cache ends: %d fetches, want 2", got)
			}
		})
	}
}

func TestKeysTTL(t *testing.T) {
	for cc, want := range map[string]time.Duration{
		"":                        5 * time.Minute,
		"max-age=600":             10 * time.Minute,
		"public, MAX-AGE=\"600\"": 10 * time.Minute,
		"max-age=0":               time.Minute,
		"no-store":                time.Minute,
		"max-age=600, no-cache":   time.Minute,
		"max-age=9999999999999":   24 * time.Hour,
		"max-age=-5":              5 * time.Minute,
		"max-age=soon":            5 * time.Minute,
	} {
		if got := keysTTL(cc); got != want {
			t.Errorf("keysTTL(%q) = %v, want %v", cc, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://token.actions.githubusercontent.com": true,
		"https://gitlab.example/-/jwks":               true,
		"http://127.0.0.1:8080":                       true,
		"http://[::1]:8080/jwks":                      true,
		"http://localhost:8080":                       true,
		"http://token.actions.githubusercontent.com":  false,
		"http://10.0.0.1":                             false,
		"http://localhost.example":                    false,
		"ftp://127.0.0.1/jwks":                        false,
		"https://user:pw@issuer.example":              false,
		"/relative":                                   false,
		"https:opaque":                                false,
	} {
		if err := checkFetchURL(u, false); (err == nil) != ok {
			t.Errorf("checkFetchURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

func TestPeekIssuer(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	got, err := PeekIssuer(f.iss.Mint(t, f.iss.GitLab(audience)))
	if err != nil || got != f.iss.URL {
		t.Fatalf("PeekIssuer = %q, %v", got, err)
	}
	_, err = PeekIssuer(f.iss.MintNone(t, f.iss.GitLab(audience)))
	wantReason(t, err, ReasonAlgorithm, nil)
	c := f.iss.GitLab(audience)
	delete(c, "iss")
	_, err = PeekIssuer(f.iss.Mint(t, c))
	wantReason(t, err, ReasonMalformed, nil)
	if f.iss.JWKSFetches()+f.iss.DiscoveryFetches() != 0 {
		t.Fatal("PeekIssuer fetched")
	}
}

func TestKeyAllows(t *testing.T) {
	rsaKey := mustJWK(t, `{"kty":"RSA","kid":"r","n":"`+testRSAModulus+`","e":"AQAB"}`)
	ecKey := mustJWK(t, `{"kty":"EC","kid":"e","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
	for _, tc := range []struct {
		name string
		key  jose.JSONWebKey
		use  string
		alg  string
		tok  jose.SignatureAlgorithm
		ok   bool
	}{
		{"rsa, no use, no alg", rsaKey, "", "", jose.RS256, true},
		{"rsa for sig, PS384", rsaKey, "sig", "", jose.PS384, true},
		{"rsa for enc", rsaKey, "enc", "", jose.RS256, false},
		{"rsa pinned to RS256, token PS256", rsaKey, "", "RS256", jose.PS256, false},
		{"rsa, token ES256", rsaKey, "", "", jose.ES256, false},
		{"P-256, ES256", ecKey, "", "ES256", jose.ES256, true},
		{"P-256, ES384", ecKey, "", "", jose.ES384, false},
		{"P-256, EdDSA", ecKey, "", "", jose.EdDSA, false},
	} {
		k := tc.key
		k.Use, k.Algorithm = tc.use, tc.alg
		if err := keyAllows(k, tc.tok); (err == nil) != tc.ok {
			t.Errorf("%s: keyAllows = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func mustJWK(t *testing.T, text string) jose.JSONWebKey {
	t.Helper()
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(text)); err != nil {
		t.Fatal(err)
	}
	return k
}

// testRSAModulus is RFC 7517 Appendix A.1's RSA public key.
const testRSAModulus = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"

func TestParseJWKSSkipsWhatItCannotUse(t *testing.T) {
	v := NewIssuers(IssuersOptions{})
	doc := `{"keys":[
		{"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
		{"kty":"XYZ","kid":"unknown"},
		{"kty":"RSA","kid":"r","n":"` + testRSAModulus + `","e":"AQAB"}]}`
	keys, err := v.parseJWKS([]byte(doc))
	if err != nil || len(keys) != 1 || keys[0].KeyID != "r" {
		t.Fatalf("parseJWKS = %v, %v; want only the RSA key", keys, err)
	}
	if _, err := v.parseJWKS([]byte(`{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}`)); !errors.Is(err, errNoKeys) {
		t.Fatalf("a JWKS of one HMAC key: %v, want errNoKeys", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	privJWK, err := (&jose.JSONWebKey{Key: priv, KeyID: "private"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.parseJWKS([]byte(`{"keys":[` + string(privJWK) + `]}`)); !errors.Is(err, errNoKeys) {
		t.Fatalf("a JWKS of one private key: %v, want errNoKeys", err)
	}
}

// TestDefaultClientVerifiesCertificates: without a client of its own the
// verifier trusts the system roots only, so the test issuer's private CA
// is refused (nobody turned certificate checks off).
func TestDefaultClientVerifiesCertificates(t *testing.T) {
	f := newFixture(t, IssuersOptions{})
	v := NewIssuers(IssuersOptions{Now: f.clock.Now})
	_, err := v.Verify(t.Context(), f.iss.Mint(t, f.iss.GitHub(audience)), f.iss.URL, audience, "")
	wantReason(t, err, ReasonKeys, nil)
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
		t.Fatalf("error %v, want a certificate verification error", err)
	}
}
