package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// verifierCheck is one thing every verifier must do with one kind of
// token. The scenario runs them in order; Doc is how docs/verifiers.md
// states the proven behaviour.
type verifierCheck struct {
	Name   string
	Want   bool   // accepted?
	Reason string // for a rejection: the reason a classifying verifier must give
	Doc    string
}

// The checks, by phase of the scenario.
var (
	checksBeforeRotation = []verifierCheck{
		{Name: "fresh token", Want: true, Doc: "accepts a fresh token"},
		{Name: "tampered token", Want: false, Reason: reasonSignature, Doc: "rejects a tampered one"},
		{Name: "expired token", Want: false, Reason: reasonExpired, Doc: "an expired one"},
		{Name: "wrong-audience token", Want: false, Reason: reasonAudience, Doc: "one for another audience"},
	}
	checksWhilePending = []verifierCheck{
		{Name: "old key while the new one is published", Want: true},
	}
	checksAfterRotation = []verifierCheck{
		{Name: "old key after the new one signs", Want: true},
		{Name: "new key: tokens of every client", Want: true,
			Doc: "the instance created before a pre-published `keys rotate` accepts the new key's tokens (from every client above) and the old key's"},
	}
)

// verifierWorks is the "what works" text of a verifier row the suite
// runs, from the checks themselves.
func verifierWorks(r component) string {
	var docs []string
	for _, phase := range [][]verifierCheck{checksBeforeRotation, checksWhilePending, checksAfterRotation} {
		for _, c := range phase {
			if c.Doc != "" {
				docs = append(docs, c.Doc)
			}
		}
	}
	s := strings.Join(docs[:4], ", ") + "; " + strings.Join(docs[4:], "; ")
	change := fmt.Sprintf("`signing.algorithm` %s → %s", algorithmChange[0], algorithmChange[1])
	if r.FrozenAlgorithms {
		return s + "; accepts only the algorithms discovery listed when it was created; tokenwright lists every algorithm it " +
			"can sign with (`signing.Advertised`), so it keeps accepting across " + change + " with its defaults"
	}
	return s + "; keeps accepting across " + change + " (configured as here)"
}

// TestInterop runs the scenario once per signing algorithm, in parallel:
//
//  1. The server's clock reads 2 h ago: a token is minted that has expired
//     (lifetime 1 h) by real time.
//  2. 40 min ago: a fresh token and a wrong-audience token are minted; a
//     tampered copy is made. Every verifier is created and checked on
//     them. `keys rotate` publishes the next key, which signs 31 min later
//     on the server's clock; the verifiers still accept the old key.
//  3. Now: the schedule activates the new key. Every client obtains
//     tokens with every method it supports (the refused cases must be
//     refused); every verifier, the same instance, accepts all of them and
//     the old key's token.
func TestInterop(t *testing.T) {
	rows := components()
	for _, alg := range suiteAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			runScenario(t, alg, rows)
		})
	}
}

func runScenario(t *testing.T, alg string, rows []component) {
	e := startEnv(t, alg, expiredOffset)
	expired := secretToken(t, e, e.ClientID, e.ClientSecret)

	e.Clock.Set(beforeRotation)
	oldKID := e.activeKID(t)
	fresh := secretToken(t, e, e.ClientID, e.ClientSecret)
	other := e.Server.CreateKey(t, otherAccount, api.CreateKey{Name: "k"})
	wrongAudience := secretToken(t, e, other.ClientID, other.ClientSecret)
	if aud := claims(t, wrongAudience)["aud"]; fmt.Sprint(aud) != fmt.Sprint([]any{otherAudience}) {
		t.Fatalf("the other account's token has aud %v", aud)
	}
	tokens := map[string]string{"fresh token": fresh, "tampered token": tamper(t, fresh),
		"expired token": expired, "wrong-audience token": wrongAudience}

	verifiers := startVerifiers(t, e, rows)
	runChecks(t, "before rotation", verifiers, checksBeforeRotation, func(c verifierCheck) []string { return []string{tokens[c.Name]} })

	pending := e.rotate(t)
	for name, v := range verifiers {
		if ce, ok := v.(cacheExpirer); ok {
			if err := ce.ExpireCache(context.Background()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	runChecks(t, "pending key published", verifiers, checksWhilePending, func(verifierCheck) []string { return []string{fresh} })

	e.Clock.Set(0)
	e.tick(t)
	if kid := e.activeKID(t); kid != pending.KID {
		t.Fatalf("after the pre-publication window the active key is %s, want the pending %s (old %s)", kid, pending.KID, oldKID)
	}
	issued := obtainAll(t, e, rows, pending.KID)
	runChecks(t, "after rotation", verifiers, checksAfterRotation, func(c verifierCheck) []string {
		if c.Name == "old key after the new one signs" {
			return []string{fresh}
		}
		return issued
	})
}

// secretToken gets a token with x/oauth2 (client_secret_basic).
func secretToken(t *testing.T, e *env, id, secret string) string {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.HTTPClient)
	tok, err := (&clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.TokenURL,
		AuthStyle: oauth2.AuthStyleInHeader}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// tamper changes the subject of a signed token, keeping its signature.
func tamper(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	c := claims(t, jwt)
	c["sub"] = "admin"
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	return decodeSegment(t, jwt, 1)
}

// kid is a JWT's key id.
func kid(t *testing.T, jwt string) string {
	t.Helper()
	k, _ := decodeSegment(t, jwt, 0)["kid"].(string)
	return k
}

func decodeSegment(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// startVerifiers creates every runnable verifier row's verifier against
// e, in parallel (the script processes start slowly), and closes them when
// the test ends. Rows whose programs are missing are skipped (failed under
// TOKENWRIGHT_TEST_STRICT=1) in a subtest of their own and left out.
func startVerifiers(t *testing.T, e *env, rows []component) map[string]verifier {
	t.Helper()
	var mu sync.Mutex
	out := map[string]verifier{}
	ran := false
	t.Run("start verifiers", func(t *testing.T) {
		ran = true
		for _, row := range rows {
			if row.Role != roleVerifier || row.NewVerifier == nil {
				continue
			}
			t.Run(row.Name, func(t *testing.T) {
				t.Parallel()
				if why := row.unmet(); why != "" {
					missing(t, "%s", why)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				v, err := row.NewVerifier(ctx, e)
				if err != nil {
					t.Fatalf("creating the verifier: %v", err)
				}
				mu.Lock()
				out[row.Name] = v
				mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		for _, v := range out {
			v.Close()
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	skipIfFiltered(t, ran, "start verifiers")
	return out
}

// skipIfFiltered skips the rest of a scenario whose setup subtest a -run
// pattern left out: its later phases would otherwise check nothing.
func skipIfFiltered(t *testing.T, ran bool, setup string) {
	t.Helper()
	if !ran {
		t.Skipf("-run filtered out the %q step this scenario depends on: run %s as a whole", setup, t.Name())
	}
}

// runChecks runs each check on each verifier, one subtest per verifier.
func runChecks(t *testing.T, phase string, verifiers map[string]verifier, checks []verifierCheck, tokensFor func(verifierCheck) []string) {
	t.Helper()
	t.Run(phase, func(t *testing.T) {
		for name, v := range verifiers {
			t.Run(name, func(t *testing.T) {
				for _, c := range checks {
					for i, tok := range tokensFor(c) {
						d, err := v.Verify(context.Background(), tok)
						if err != nil {
							t.Fatalf("%s: %v", c.Name, err)
						}
						switch {
						case d.OK != c.Want:
							t.Errorf("%s #%d (kid %s): accepted = %v, want %v (%s %s)", c.Name, i, kid(t, tok), d.OK, c.Want, d.Reason, d.Detail)
						case !d.OK && d.Reason != "" && c.Reason != "" && d.Reason != c.Reason:
							t.Errorf("%s: rejected for %q, want %q (%s)", c.Name, d.Reason, c.Reason, d.Detail)
						}
					}
				}
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
}

// obtainAll runs every runnable client row's cases against e (in
// parallel), checks each outcome against its case, and returns the tokens
// of the cases that work. Those must be signed by wantKID.
func obtainAll(t *testing.T, e *env, rows []component, wantKID string) []string {
	t.Helper()
	var mu sync.Mutex
	var tokens []string
	ran := false
	t.Run("clients", func(t *testing.T) {
		ran = true
		for _, row := range rows {
			if row.Role != roleClient || row.Obtain == nil {
				continue
			}
			t.Run(row.Name, func(t *testing.T) {
				t.Parallel()
				if why := row.unmet(); why != "" {
					missing(t, "%s", why)
				}
				got := row.Obtain(t, e, row.Cases)
				for _, c := range row.Cases {
					o, ok := got[c.Name]
					switch {
					case !ok:
						t.Errorf("%s: no outcome", c.Name)
					case c.Works && o.Err != "":
						t.Errorf("%s (%s): %s", c.Name, c.Method, o.Err)
					case c.Works && kid(t, o.Token) != wantKID:
						t.Errorf("%s (%s): token signed by %s, want the new key %s", c.Name, c.Method, kid(t, o.Token), wantKID)
					case !c.Works && (o.Err == "" || !strings.Contains(o.Err, c.Refused)):
						t.Errorf("%s (%s): got token=%t error %q, want a refusal with %s", c.Name, c.Method, o.Token != "", o.Err, c.Refused)
					}
					if c.Sends != "" {
						checkSent(t, c, o.Sent)
					}
					if c.Works && o.Err == "" {
						mu.Lock()
						tokens = append(tokens, o.Token)
						mu.Unlock()
					}
				}
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	skipIfFiltered(t, ran, "clients")
	return tokens
}

// checkSent checks that the case's request carried the form pair c.Sends.
func checkSent(t *testing.T, c clientCase, sent string) {
	t.Helper()
	name, value, _ := strings.Cut(c.Sends, "=")
	form, err := url.ParseQuery(sent)
	if err != nil {
		t.Fatalf("%s: request body %q: %v", c.Name, sent, err)
	}
	if vs, ok := form[name]; !ok || len(vs) != 1 || vs[0] != value {
		t.Errorf("%s: the request carried %s=%q, want %q (the case is about that request)", c.Name, name, vs, c.Sends)
	}
}
