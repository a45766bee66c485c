package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// frozenServer starts a server whose clock never moves: buckets never
// refill, so every count below is exact whatever the machine's speed.
func frozenServer(t *testing.T) *servertest.Server {
	frozen := time.Now()
	return servertest.Start(t, servertest.Options{Now: func() time.Time { return frozen }})
}

// status sends req with c and returns the status and the decoded JSON
// error code ("error" for OAuth, "code" for the admin API).
func status(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &body)
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	return resp.StatusCode, body.Error + body.Code
}

// wrongSecret is a well-formed credential for keyID (valid checksum) with
// a random secret: it passes every cheap check and fails the hash compare.
func wrongSecret(t *testing.T, kind apikey.Kind, keyID string) string {
	cred, err := apikey.Generate(kind, keyID)
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

// Finding 3: a flood of wrong secrets for a client id, from another
// address, must not stop the real client from getting tokens.
func TestWrongSecretFloodCannotLockOutClient(t *testing.T) {
	s := frozenServer(t)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
	base := "http://" + s.Addr

	// The attacker floods from 127.0.0.2 while the real client, on
	// 127.0.0.3, asks for as many tokens as its own burst allows.
	var attack floodResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		flood(t, context.Background(), base, "127.0.0.2", "ci-bot", key.ID, 400, &attack)
	}()
	good := clientFrom("127.0.0.3")
	burst := int(s.Config.Limits.ClientBurst / s.Config.Limits.SuccessCost)
	ok := 0
	for range burst {
		if code, _ := status(t, good, tokenRequest(context.Background(), base, "ci-bot", key.ClientSecret)); code == 200 {
			ok++
		}
	}
	<-done
	t.Logf("flood: sent %d, 401 %d, 429 %d; real client: %d/%d tokens", attack.sent.Load(),
		attack.unauthorized.Load(), attack.limited.Load(), ok, burst)
	if ok != burst {
		t.Fatalf("the real client got %d of %d tokens during a flood of wrong secrets for its id", ok, burst)
	}
	// The attacker's own address was refused ...
	if attack.limited.Load() == 0 || attack.ok.Load() != 0 || attack.other.Load() != 0 {
		t.Fatalf("flood: %d refused with 429, %d tokens, %d other answers", attack.limited.Load(), attack.ok.Load(), attack.other.Load())
	}
	if code, e := status(t, clientFrom("127.0.0.2"), tokenRequest(context.Background(), base, "ci-bot", key.ClientSecret)); code != 429 || e != "slow_down" {
		t.Fatalf("attacker's address, even with the right secret: HTTP %d %s, want 429 slow_down", code, e)
	}
	// ... and the real client's own limit still holds: it has spent its
	// burst, so the next request is refused, after verification.
	if code, e := status(t, good, tokenRequest(context.Background(), base, "ci-bot", key.ClientSecret)); code != 429 || e != "slow_down" {
		t.Fatalf("real client beyond its own burst: HTTP %d %s, want 429 slow_down", code, e)
	}
	metrics := s.DoRaw(t, "", http.MethodGet, "/metrics")
	for _, want := range []string{`limiter="ip"`, `limiter="client"`} {
		if !strings.Contains(metrics, `tokenwright_rate_limited_total{endpoint="oauth",`+want+`}`) {
			t.Errorf("metrics lack the %s refusals", want)
		}
	}
}

// Finding 3: failures are charged to (claimed client, source address): the
// pair is throttled, the claimed client elsewhere is not.
func TestFailuresThrottleClaimedClientPerSource(t *testing.T) {
	s := frozenServer(t)
	for _, name := range []string{"ci-bot", "other"} {
		s.CreateAccount(t, api.CreateServiceAccount{UserName: name, Email: name + "@example.com"})
	}
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
	other := s.CreateKey(t, "other", api.CreateKey{Name: "k"})
	base := "http://" + s.Addr
	ctx := context.Background()
	l := s.Config.Limits
	pairFailures := int(l.ClientBurst / l.FailureCost)
	if ipFailures := int(l.IPBurst / l.FailureCost); ipFailures <= pairFailures {
		t.Fatalf("test needs a larger address budget than pair budget: %+v", l)
	}

	attacker := clientFrom("127.0.0.4")
	for i := range pairFailures {
		if code, _ := status(t, attacker, tokenRequest(ctx, base, "ci-bot", wrongSecret(t, apikey.ServiceKey, key.ID))); code != 401 {
			t.Fatalf("wrong secret %d: HTTP %d, want 401", i, code)
		}
	}
	// The pair is spent: refused before verifying, right secret or not.
	if code, e := status(t, attacker, tokenRequest(ctx, base, "ci-bot", wrongSecret(t, apikey.ServiceKey, key.ID))); code != 429 || e != "slow_down" {
		t.Fatalf("pair after %d failures: HTTP %d %s, want 429", pairFailures, code, e)
	}
	if code, _ := status(t, attacker, tokenRequest(ctx, base, "ci-bot", key.ClientSecret)); code != 429 {
		t.Fatalf("spent pair with the right secret: HTTP %d, want 429", code)
	}
	// The address has budget left for other claims (it is not the
	// address family that refused) ...
	if code, _ := status(t, attacker, tokenRequest(ctx, base, "other", other.ClientSecret)); code != 200 {
		t.Fatalf("another client from the same address: HTTP %d, want 200", code)
	}
	// ... and the claimed client from any other address is untouched:
	// wrong secrets are judged (401), right ones get tokens.
	elsewhere := clientFrom("127.0.0.5")
	if code, _ := status(t, elsewhere, tokenRequest(ctx, base, "ci-bot", wrongSecret(t, apikey.ServiceKey, key.ID))); code != 401 {
		t.Fatalf("ci-bot with a wrong secret from another address: HTTP %d, want 401", code)
	}
	if code, _ := status(t, clientFrom("127.0.0.3"), tokenRequest(ctx, base, "ci-bot", key.ClientSecret)); code != 200 {
		t.Fatalf("ci-bot with its secret from its own address: HTTP %d, want 200", code)
	}
	if metrics := s.DoRaw(t, "", http.MethodGet, "/metrics"); !strings.Contains(metrics, `tokenwright_rate_limited_total{endpoint="oauth",limiter="client_address"} 2`) {
		t.Error(`metrics lack limiter="client_address" 2`)
	}
}

// Finding 3, admin API: forged twp_<victimKeyId>_… tokens (a valid
// checksum is computable, key ids are public) must not lock out the real
// token.
func TestForgedAdminTokenFloodCannotLockOutAdmin(t *testing.T) {
	s := frozenServer(t)
	cred, err := apikey.Parse(s.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr
	get := func(token string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/service-accounts", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return req
	}
	attacker := clientFrom("127.0.0.2")
	unauthorized, limited := 0, 0
	for range 100 {
		switch code, e := status(t, attacker, get(wrongSecret(t, apikey.PersonalToken, cred.ID))); code {
		case 401:
			unauthorized++
		case 429:
			limited++
			if e != api.CodeRateLimited {
				t.Fatalf("admin 429 with code %q", e)
			}
		default:
			t.Fatalf("forged token: HTTP %d", code)
		}
	}
	l := s.Config.Limits
	if want := int(l.AdminBurst / l.FailureCost); unauthorized != want || limited != 100-want {
		t.Fatalf("forged tokens: %d reached verification, %d refused; want %d and %d", unauthorized, limited, want, 100-want)
	}
	// The real administrator, from its own address, is not refused.
	admin := clientFrom("127.0.0.3")
	for i := range 50 {
		if code, _ := status(t, admin, get(s.AdminToken)); code != 200 {
			t.Fatalf("administrator request %d during the flood: HTTP %d", i, code)
		}
	}
}

// Finding 15: a client_id in the body that differs from the client
// authenticated by HTTP Basic is refused with invalid_request, at the
// token, introspection and revocation endpoints.
func TestBodyClientIDMustMatchBasic(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
	gw := introspector(t, s)
	cc := func(params url.Values) *clientcredentials.Config {
		return &clientcredentials.Config{ClientID: "ci-bot", ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: params}
	}
	// x/oauth2 puts the Basic credentials in the header and these
	// parameters in the body.
	_, err := cc(url.Values{"client_id": {"other"}}).Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_request" {
		t.Fatalf("token with body client_id=other: %v, want 400 invalid_request", err)
	}
	// Agreeing or empty client_id values are fine.
	tok, err := cc(url.Values{"client_id": {"ci-bot", ""}}).Token(context.Background())
	if err != nil {
		t.Fatalf("token with body client_id=ci-bot: %v", err)
	}

	var e map[string]string
	if code := postForm(t, s, "/oauth/introspect", gw.ClientID, gw.ClientSecret,
		url.Values{"token": {tok.AccessToken}, "client_id": {"ci-bot"}}, &e); code != 400 || e["error"] != "invalid_request" {
		t.Fatalf("introspection with body client_id=ci-bot, Basic gateway: HTTP %d %v", code, e)
	}
	if code := postForm(t, s, "/oauth/revoke", "ci-bot", key.ClientSecret,
		url.Values{"token": {tok.AccessToken}, "client_id": {"gateway"}}, &e); code != 400 || e["error"] != "invalid_request" {
		t.Fatalf("revocation with body client_id=gateway, Basic ci-bot: HTTP %d %v", code, e)
	}
	// Without Basic, several client_id values must agree too.
	if code := postForm(t, s, "/oauth/token", "", "", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"ci-bot", "gateway"}, "client_secret": {key.ClientSecret}}, &e); code != 400 || e["error"] != "invalid_request" {
		t.Fatalf("token with client_id=ci-bot&client_id=gateway: HTTP %d %v", code, e)
	}
	// The refused revocation did nothing.
	if !introspect(t, s, gw, tok.AccessToken).Active {
		t.Fatal("a refused revocation revoked the token")
	}
}
