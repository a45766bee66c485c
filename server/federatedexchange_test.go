package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/federation/federationtest"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// Workload identity federation at the token endpoint, end to end: real
// foreign tokens from a TLS issuer on 127.0.0.1 (federationtest) and from
// a second tokenwright, exchanged at a real server on a real bbolt file.

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	tokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	assertionTypeJWT   = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	fedAccount         = "deploy"
)

// fedEnv is a server with the account "deploy" and a GitHub-shaped rule
// for the foreign issuer, pinned by the immutable ids.
type fedEnv struct {
	s      *servertest.Server
	iss    *federationtest.Issuer
	ruleID string // the GitHub rule's id
}

func startFederation(t *testing.T, opts servertest.Options) *fedEnv {
	t.Helper()
	iss := federationtest.New(t, federationtest.Options{})
	opts.FederationClient = iss.Client
	s := servertest.Start(t, opts)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: fedAccount, Email: "deploy@example.com",
		AllowedScopes: []string{"Domino.user.all", "$DATA", "MAIL"}, AllowedAudiences: []string{dominoSite, "https://api.example.com/*"}})
	e := &fedEnv{s: s, iss: iss}
	// The audience is left to its default, the server's issuer URL.
	e.ruleID = e.addRule(t, map[string]any{"name": "github-main", "issuer": iss.URL, "claims": map[string]any{
		"repository_id": federationtest.GitHubRepositoryID, "repository_owner_id": federationtest.GitHubOwnerID,
		"ref": federationtest.GitHubRef}, "allowedScopes": []string{"Domino.user.all", "$DATA"}})
	return e
}

// addRule creates a rule on the account through the admin API.
func (e *fedEnv) addRule(t *testing.T, body map[string]any) string {
	t.Helper()
	var r api.FederationRule
	if code := e.s.Do(t, e.s.AdminToken, "POST", "/api/v1/service-accounts/"+fedAccount+"/federation", body, &r); code != http.StatusCreated {
		t.Fatalf("creating rule %v: HTTP %d", body, code)
	}
	return r.ID
}

// github mints a GitHub Actions token for the server's audience, edited
// by edit.
func (e *fedEnv) github(t *testing.T, aud any, edit func(map[string]any)) string {
	t.Helper()
	c := e.iss.GitHub(aud)
	if edit != nil {
		edit(c)
	}
	return e.iss.Mint(t, c)
}

func tokenExchangeForm(token string) url.Values {
	return url.Values{"grant_type": {grantTokenExchange}, "subject_token": {token},
		"subject_token_type": {tokenTypeJWT}, "client_id": {fedAccount}}
}

func jwtBearerForm(token string) url.Values {
	return url.Values{"grant_type": {grantJWTBearer}, "assertion": {token}, "client_id": {fedAccount}}
}

func clientAssertionForm(token string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionTypeJWT},
		"client_assertion": {token}, "client_id": {fedAccount}}
}

// refusedDescription is the one answer to every refused foreign token.
const refusedDescription = "the token is not accepted for this account"

func wantRefused(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["error_description"] != refusedDescription {
		t.Fatalf("%s: HTTP %d %v, want 400 invalid_grant %q", what, status, body, refusedDescription)
	}
}

func wantIssued(t *testing.T, e *fedEnv, what string, status int, body map[string]any) map[string]any {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %v\nlogs: %s", what, status, body, e.s.Logs())
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(600) {
		t.Fatalf("%s: response %v", what, body)
	}
	tok, _ := body["access_token"].(string)
	c := claimsOfToken(t, tok)
	act, _ := c["act"].(map[string]any)
	if c["iss"] != e.s.URL || c["sub"] != fedAccount || c["client_id"] != fedAccount ||
		act["sub"] != "repo:"+federationtest.GitHubRepository+":ref:"+federationtest.GitHubRef || act["iss"] != e.iss.URL {
		t.Fatalf("%s: claims %v", what, c)
	}
	// The account's scopes intersected with the rule's narrowing.
	if c["scope"] != "Domino.user.all $DATA" || body["scope"] != "Domino.user.all $DATA" {
		t.Fatalf("%s: scope %v (response %v), want the rule's narrowing of the account's", what, c["scope"], body["scope"])
	}
	return c
}

func TestFederatedExchangeForms(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{})
	s := e.s

	status, body, hdr := postToken(t, s, tokenExchangeForm(e.github(t, s.URL, nil)), "", "")
	wantIssued(t, e, "token exchange, aud a string", status, body)
	if body["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("token exchange response %v, Cache-Control %q", body, hdr.Get("Cache-Control"))
	}

	form := tokenExchangeForm(e.github(t, []string{"https://other.example.com", s.URL}, nil))
	form.Set("subject_token_type", tokenTypeIDToken)
	status, body, _ = postToken(t, s, form, "", "")
	wantIssued(t, e, "token exchange of an id_token, aud an array", status, body)

	status, body, _ = postToken(t, s, jwtBearerForm(e.github(t, []string{s.URL}, nil)), "", "")
	wantIssued(t, e, "jwt-bearer", status, body)
	if _, ok := body["issued_token_type"]; ok {
		t.Fatalf("jwt-bearer answered issued_token_type: %v", body)
	}

	status, body, _ = postToken(t, s, clientAssertionForm(e.github(t, s.URL, nil)), "", "")
	wantIssued(t, e, "client_credentials with a foreign client_assertion", status, body)

	// A real OAuth client library: x/oauth2's client credentials with the
	// foreign token as the client assertion and no secret.
	cc := &clientcredentials.Config{ClientID: fedAccount, TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
		Scopes: []string{"Domino.user.all"}, EndpointParams: url.Values{"client_assertion_type": {assertionTypeJWT},
			"client_assertion": {e.github(t, s.URL, nil)}}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("x/oauth2 client credentials with a foreign assertion: %v\nlogs: %s", err, s.Logs())
	}
	if c := claimsOfToken(t, tok.AccessToken); c["sub"] != fedAccount || c["scope"] != "Domino.user.all" {
		t.Fatalf("x/oauth2 token claims %v", c)
	}

	// The rule's last use is recorded.
	var r api.FederationRule
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/"+fedAccount+"/federation/"+e.ruleID, nil, &r); code != 200 || r.LastUsedAt == nil {
		t.Fatalf("rule after use: HTTP %d %+v", code, r)
	}

	// A scope outside the rule's narrowing is refused as such (the token
	// is not burned by it: the same token then succeeds).
	raw := e.github(t, s.URL, nil)
	form = tokenExchangeForm(raw)
	form.Set("scope", "MAIL")
	if status, body, _ := postToken(t, s, form, "", ""); status != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("scope outside the rule: HTTP %d %v", status, body)
	}
	status, body, _ = postToken(t, s, tokenExchangeForm(raw), "", "")
	wantIssued(t, e, "the same token after an invalid_scope", status, body)

	// audience/resource as for client credentials, within the account's patterns.
	form = jwtBearerForm(e.github(t, s.URL, nil))
	form.Set("audience", "https://api.example.com/orders")
	status, body, _ = postToken(t, s, form, "", "")
	if c := wantIssued(t, e, "jwt-bearer with an audience", status, body); fmt.Sprint(c["aud"]) != "[https://api.example.com/orders]" {
		t.Fatalf("aud %v", c["aud"])
	}
	form = tokenExchangeForm(e.github(t, s.URL, nil))
	form.Set("resource", "https://elsewhere.example.com")
	if status, body, _ := postToken(t, s, form, "", ""); status != 400 || body["error"] != "invalid_target" {
		t.Fatalf("resource outside the account's audiences: HTTP %d %v", status, body)
	}

	// Own private_key_jwt and secrets still work beside it: the secret path.
	key := s.CreateKey(t, fedAccount, api.CreateKey{Name: "k"})
	if _, err := ccConfig(s, fedAccount, key.ClientSecret).Token(context.Background()); err != nil {
		t.Fatalf("client secret beside federation: %v", err)
	}
}

func TestFederatedExchangeRefusals(t *testing.T) {
	t.Parallel()
	// Many refusals for one account from one address: the failure budget
	// would answer 429 (TestFederatedRefusalsAreRateLimited).
	e := startFederation(t, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	s := e.s
	// A rule whose condition errors at evaluation (no such claim): the
	// token it is the only rule for must be refused, not accepted.
	other := federationtest.New(t, federationtest.Options{CA: e.iss.CA})
	e.addRule(t, map[string]any{"name": "cel-errors", "issuer": other.URL, "condition": `claims.no_such_claim.nested == "x"`})

	past := time.Now().Add(-time.Hour)
	cases := []struct {
		name  string
		token func() string
	}{
		{"other repository", func() string {
			return e.github(t, s.URL, func(c map[string]any) {
				c["repository"], c["repository_id"] = "acme/other", "555"
			})
		}},
		{"same repository name, different repository_id", func() string {
			return e.github(t, s.URL, func(c map[string]any) { c["repository_id"] = "999999" })
		}},
		{"other branch", func() string {
			return e.github(t, s.URL, func(c map[string]any) { c["ref"] = "refs/heads/dev" })
		}},
		{"wrong audience", func() string { return e.github(t, "https://elsewhere.example.com", nil) }},
		{"wrong audience in an array", func() string { return e.github(t, []string{"https://elsewhere.example.com"}, nil) }},
		{"expired", func() string {
			return e.github(t, s.URL, func(c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = past.Unix(), past.Unix(), past.Add(5*time.Minute).Unix()
			})
		}},
		{"CEL condition errors", func() string { return other.Mint(t, other.GitHub(s.URL)) }},
		{"unknown issuer", func() string {
			stranger := federationtest.New(t, federationtest.Options{CA: e.iss.CA})
			return stranger.Mint(t, stranger.GitHub(s.URL))
		}},
		{"not a JWT", func() string { return "not-a-jwt" }},
	}
	forms := []struct {
		name string
		form func(string) url.Values
	}{{"token exchange", tokenExchangeForm}, {"jwt-bearer", jwtBearerForm}, {"client assertion", clientAssertionForm}}
	for _, c := range cases {
		for _, f := range forms {
			status, body, _ := postToken(t, s, f.form(c.token()), "", "")
			if c.name == "not a JWT" && f.name == "client assertion" {
				// Not foreign (no URL issuer): the own private_key_jwt path refuses it.
				if status != 401 || body["error"] != "invalid_client" {
					t.Fatalf("%s as %s: HTTP %d %v", c.name, f.name, status, body)
				}
				continue
			}
			wantRefused(t, c.name+" as "+f.name, status, body)
		}
	}

	// An unknown or an inactive account: the same answer.
	form := tokenExchangeForm(e.github(t, s.URL, nil))
	form.Set("client_id", "nobody")
	status, body, _ := postToken(t, s, form, "", "")
	wantRefused(t, "unknown account", status, body)

	// A replayed jti: the first use succeeds, every later one is refused.
	raw := e.github(t, s.URL, nil)
	status, body, _ = postToken(t, s, tokenExchangeForm(raw), "", "")
	wantIssued(t, e, "first use", status, body)
	for _, f := range forms {
		status, body, _ = postToken(t, s, f.form(raw), "", "")
		wantRefused(t, "replay as "+f.name, status, body)
	}

	// A token without jti, on a rule that does not allow it.
	status, body, _ = postToken(t, s, tokenExchangeForm(e.github(t, s.URL, func(c map[string]any) { delete(c, "jti") })), "", "")
	wantRefused(t, "no jti", status, body)

	// Malformed requests stay invalid_request (the token was never looked at).
	for _, drop := range []string{"subject_token", "subject_token_type"} {
		form := tokenExchangeForm(e.github(t, s.URL, nil))
		form.Del(drop)
		if status, body, _ := postToken(t, s, form, "", ""); status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("without %s: HTTP %d %v", drop, status, body)
		}
	}
	form = tokenExchangeForm(e.github(t, s.URL, nil))
	form.Set("subject_token_type", "urn:ietf:params:oauth:token-type:access_token")
	if status, body, _ := postToken(t, s, form, "", ""); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("subject_token_type access_token: HTTP %d %v", status, body)
	}
	form = jwtBearerForm(e.github(t, s.URL, nil))
	form.Del("client_id")
	if status, body, _ := postToken(t, s, form, "", ""); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("jwt-bearer without client_id: HTTP %d %v", status, body)
	}

	// Deactivating the account refuses its exchanges with the same answer.
	if code := s.Do(t, s.AdminToken, "POST", "/api/v1/service-accounts/"+fedAccount+":deactivate", nil, nil); code != 200 {
		t.Fatalf("deactivating the account: HTTP %d", code)
	}
	status, body, _ = postToken(t, s, tokenExchangeForm(e.github(t, s.URL, nil)), "", "")
	wantRefused(t, "inactive account", status, body)

	// The audit trail: successes and the refusals of verified tokens,
	// with rule, issuer, subject and the claims' digest.
	var list api.List[api.AuditEvent]
	if code := s.Do(t, s.AdminToken, "GET", "/api/v1/audit?limit=200", nil, &list); code != 200 {
		t.Fatalf("audit: HTTP %d", code)
	}
	events := list.Items
	var success, denied int
	reasons := map[string]bool{}
	for _, ev := range events {
		if ev.Action != "token.federated" {
			continue
		}
		if ev.Target != fedAccount && ev.Target != "nobody" {
			t.Fatalf("event target %q", ev.Target)
		}
		switch ev.Result {
		case "success":
			success++
			d := ev.Details
			if d["rule"] != e.ruleID || d["issuer"] != e.iss.URL || !strings.HasPrefix(d["subject"], "repo:") ||
				len(d["claimsSha256"]) != 64 || !strings.HasPrefix(d["jti"], "federation-"+e.ruleID+".") || d["grantType"] != grantTokenExchange {
				t.Fatalf("success event details %v", d)
			}
		case "denied":
			denied++
			reasons[ev.Details["reason"]] = true
		}
	}
	for _, r := range []string{"no_federation_rule_matched", "foreign_token_replayed", "owner_inactive"} {
		if !reasons[r] {
			t.Fatalf("no denied token.federated event with reason %s (got %v)", r, reasons)
		}
	}
	if success != 1 {
		t.Fatalf("%d success events, want 1", success)
	}

	// Metrics by rule and result.
	metrics := getMetrics(t, s)
	for _, want := range []string{
		`tokenwright_federated_exchanges_total{result="issued",rule="` + e.ruleID + `"} 1`,
		`tokenwright_federated_exchanges_total{result="replayed",rule="` + e.ruleID + `"} 3`,
		`tokenwright_tokens_failed_total{result="invalid_grant"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s:\n%s", want, federationMetricLines(metrics))
		}
	}
}

func getMetrics(t *testing.T, s *servertest.Server) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func federationMetricLines(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "federated") || strings.Contains(l, "failed") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Refused exchanges spend the claimed account's failure budget at the
// edge, like wrong secrets: the federated grants go through the same
// route and limits as client credentials.
func TestFederatedRefusalsAreRateLimited(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{})
	for i := 0; ; i++ {
		status, body, hdr := postToken(t, e.s, jwtBearerForm(e.github(t, "https://elsewhere.example.com", nil)), "", "")
		if status == http.StatusTooManyRequests {
			if body["error"] != "slow_down" || hdr.Get("Retry-After") == "" {
				t.Fatalf("429 answer %v, Retry-After %q", body, hdr.Get("Retry-After"))
			}
			break
		}
		wantRefused(t, "wrong audience", status, body)
		if i > 50 {
			t.Fatal("50 refused exchanges and no 429")
		}
	}
}

// A replayed jti is refused after a restart on the same bbolt file: the
// record is in the store, not in memory.
func TestFederatedReplayAcrossRestart(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{})
	s := e.s
	raw := e.github(t, s.URL, nil)
	status, body, _ := postToken(t, s, jwtBearerForm(raw), "", "")
	wantIssued(t, e, "first use", status, body)
	dir, addr := s.DataDir, s.Addr
	s.Stop()
	s2 := servertest.Start(t, servertest.Options{DataDir: dir, Addr: addr, FederationClient: e.iss.Client})
	status, body, _ = postToken(t, s2, tokenExchangeForm(raw), "", "")
	wantRefused(t, "replay after a restart", status, body)
	e.s = s2
	status, body, _ = postToken(t, s2, tokenExchangeForm(e.github(t, s2.URL, nil)), "", "")
	wantIssued(t, e, "a fresh token after the restart", status, body)
}

// A second tokenwright is the foreign issuer: its own discovery and JWKS,
// its token minted by client credentials with a key.
func TestFederatedExchangeWithTokenwrightAsIssuer(t *testing.T) {
	t.Parallel()
	foreign := servertest.Start(t, servertest.Options{})
	foreign.CreateAccount(t, api.CreateServiceAccount{UserName: "ci", Email: "ci@example.com",
		Profile: "generic", AllowedAudiences: []string{"tokenwright-a"}})
	key := foreign.CreateKey(t, "ci", api.CreateKey{Name: "k"})

	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: fedAccount, Email: "deploy@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{dominoSite}})
	rule := store.FederationRule{ID: "tw", Account: fedAccount, Name: "tokenwright-b", Issuer: foreign.URL,
		Audience: "tokenwright-a", Subject: "ci", CreatedAt: time.Now().UTC(), CreatedBy: "test"}
	if err := s.Server.Store().CreateFederationRule(context.Background(), rule); err != nil {
		t.Fatal(err)
	}
	mint := func() string {
		cc := ccConfig(foreign, "ci", key.ClientSecret)
		cc.EndpointParams = url.Values{"audience": {"tokenwright-a"}}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	raw := mint()
	status, body, _ := postToken(t, s, tokenExchangeForm(raw), "", "")
	if status != 200 {
		t.Fatalf("exchange of a tokenwright token: HTTP %d %v\nlogs: %s", status, body, s.Logs())
	}
	c := claimsOfToken(t, body["access_token"].(string))
	act, _ := c["act"].(map[string]any)
	if c["sub"] != fedAccount || act["sub"] != "ci" || act["iss"] != foreign.URL {
		t.Fatalf("claims %v", c)
	}
	status, body, _ = postToken(t, s, jwtBearerForm(raw), "", "")
	wantRefused(t, "replayed tokenwright token", status, body)
	status, body, _ = postToken(t, s, clientAssertionForm(mint()), "", "")
	if status != 200 {
		t.Fatalf("foreign client assertion from tokenwright: HTTP %d %v", status, body)
	}

	// Introspection: the federated token is active while its rule exists.
	rsKey := introspector(t, s)
	tok := body["access_token"].(string)
	if r := introspect(t, s, rsKey, tok); !r.Active || r.Sub != fedAccount {
		t.Fatalf("introspection of a federated token: %+v", r)
	}
	if err := s.Server.Store().DeleteFederationRule(context.Background(), fedAccount, "tw"); err != nil {
		t.Fatal(err)
	}
	if r := introspect(t, s, rsKey, tok); r.Active {
		t.Fatalf("introspection after the rule was deleted: %+v", r)
	}
}

// TestHAFederatedReplayAcrossReplicas: the replay record of a foreign jti
// is in etcd, so a token exchanged at one replica is refused at the other,
// and of one token sent to both at once exactly one exchange succeeds.
func TestHAFederatedReplayAcrossReplicas(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a, b := servertest.Replicas(t, c.Endpoints(), nil)
	// Plain HTTP on 127.0.0.1 (allowed for loopback issuers), so that the
	// replicas' default fetch client reaches it.
	iss := federationtest.New(t, federationtest.Options{PlainHTTP: true})
	a.CreateAccount(t, api.CreateServiceAccount{UserName: fedAccount, Email: "deploy@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{dominoSite}})
	const audience = "tokenwright-ha" // both replicas' rule audience (their URLs differ)
	rule := store.FederationRule{ID: "gh", Account: fedAccount, Name: "gh", Issuer: iss.URL, Audience: audience,
		Claims: map[string][]string{"repository_id": {federationtest.GitHubRepositoryID}}, CreatedAt: time.Now().UTC(), CreatedBy: "test"}
	if err := a.Server.Store().CreateFederationRule(context.Background(), rule); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "replica B sees the rule", func() bool {
		rules, err := b.Server.Store().ListFederationRules(context.Background(), fedAccount)
		return err == nil && len(rules) == 1
	})
	mint := func() string { return iss.Mint(t, iss.GitHub(audience)) }

	raw := mint()
	if status, body, _ := postToken(t, a, tokenExchangeForm(raw), "", ""); status != 200 {
		t.Fatalf("exchange at A: HTTP %d %v", status, body)
	}
	status, body, _ := postToken(t, b, tokenExchangeForm(raw), "", "")
	wantRefused(t, "replay at B", status, body)

	for range 3 {
		raw := mint()
		statuses := make(chan int, 2)
		for _, s := range []*servertest.Server{a, b} {
			go func() {
				status, _, _ := postTokenNoFatal(s, tokenExchangeForm(raw))
				statuses <- status
			}()
		}
		got := []int{<-statuses, <-statuses}
		if !(got[0] == 200 && got[1] == 400 || got[0] == 400 && got[1] == 200) {
			t.Fatalf("one token at both replicas at once: HTTP %v, want one 200 and one 400", got)
		}
	}
}

// postTokenNoFatal is postToken for goroutines (no t.Fatal off the test's
// goroutine): a transport failure is status 0.
func postTokenNoFatal(s *servertest.Server, form url.Values) (int, map[string]any, error) {
	resp, err := http.PostForm(s.URL+"/oauth/token", form)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}

// No federated token leaves without its audit record: with the audit
// bucket gone from the live bbolt file, the exchange fails (5xx) and
// answers no token; once appends work again, a fresh token is exchanged.
func TestFederatedExchangeNeedsItsAuditRecord(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{})
	db := liveBolt(t, e.s)
	dropAuditBucket(t, db)
	status, body, _ := postToken(t, e.s, tokenExchangeForm(e.github(t, e.s.URL, nil)), "", "")
	if status < 500 || body["access_token"] != nil {
		t.Fatalf("exchange without an audit trail: HTTP %d %v", status, body)
	}
	restoreAuditBucket(t, db)
	status, body, _ = postToken(t, e.s, tokenExchangeForm(e.github(t, e.s.URL, nil)), "", "")
	wantIssued(t, e, "after the audit trail is back", status, body)
}

// Request shapes the exchange refuses before looking at the token, and a
// foreign assertion outside the token endpoint.
func TestFederatedExchangeRequestShapes(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	s := e.s
	tok := func() string { return e.github(t, s.URL, nil) }
	with := func(form url.Values, kv ...string) url.Values {
		for i := 0; i < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		return form
	}
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"token exchange with an actor token", with(tokenExchangeForm(tok()), "actor_token", tok(), "actor_token_type", tokenTypeJWT)},
		{"token exchange asking for a refresh token", with(tokenExchangeForm(tok()), "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")},
		{"jwt-bearer with a client secret", with(jwtBearerForm(tok()), "client_secret", "hunter2")},
		{"jwt-bearer with a client assertion", with(jwtBearerForm(tok()), "client_assertion_type", assertionTypeJWT, "client_assertion", tok())},
		{"foreign client assertion without client_id", with(clientAssertionForm(tok()), "client_id", "")},
	} {
		if status, body, _ := postToken(t, s, c.form, "", ""); status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("%s: HTTP %d %v, want 400 invalid_request", c.name, status, body)
		}
	}
	if status, body, _ := postToken(t, s, jwtBearerForm(tok()), fedAccount, "hunter2"); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("jwt-bearer with HTTP Basic: HTTP %d %v", status, body)
	}
	// A token exchange with a wrong secret is a failed client
	// authentication, not an exchange.
	if status, body, _ := postToken(t, s, tokenExchangeForm(tok()), fedAccount, "twk_wrong"); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("token exchange with a wrong secret: HTTP %d %v", status, body)
	}
	// A foreign assertion authenticates nobody at introspection or
	// revocation, even beside grant_type=client_credentials.
	for _, path := range []string{"/oauth/introspect", "/oauth/revoke"} {
		var out map[string]any
		form := url.Values{"token": {"x"}, "client_assertion_type": {assertionTypeJWT}, "client_assertion": {tok()}, "client_id": {fedAccount},
			"grant_type": {"client_credentials"}}
		if status := postForm(t, s, path, "", "", form, &out); status != 401 || out["error"] != "invalid_client" {
			t.Fatalf("foreign assertion at %s: HTTP %d %v", path, status, out)
		}
	}
}

// GitLab-, Kubernetes- and SPIFFE-shaped tokens, each by its own rule. A
// JWT-SVID has no jti: its rule must allow that, and maxTokenAge then
// bounds it (a token issued longer ago is refused).
func TestFederatedExchangeWorkloadShapes(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	s, iss := e.s, e.iss
	e.addRule(t, map[string]any{"name": "gitlab", "issuer": iss.URL,
		"claims": map[string]any{"project_id": federationtest.GitLabProjectID, "ref": "main", "ref_protected": "true"}})
	e.addRule(t, map[string]any{"name": "kubernetes", "issuer": iss.URL,
		"subject":   "system:serviceaccount:" + federationtest.KubernetesNamespace + ":" + federationtest.KubernetesAccount,
		"condition": `claims["kubernetes.io"].namespace == "` + federationtest.KubernetesNamespace + `"`})
	e.addRule(t, map[string]any{"name": "spiffe", "issuer": iss.URL, "subject": federationtest.SPIFFEID,
		"allowMissingJti": true, "maxTokenAge": 300})

	for _, c := range []struct {
		name   string
		claims map[string]any
		sub    string
	}{
		{"GitLab", iss.GitLab(s.URL), "project_path:" + federationtest.GitLabProjectPath + ":ref_type:branch:ref:main"},
		{"Kubernetes", iss.Kubernetes([]string{s.URL}), "system:serviceaccount:" + federationtest.KubernetesNamespace + ":" + federationtest.KubernetesAccount},
		{"SPIFFE", iss.SPIFFE([]string{s.URL}), federationtest.SPIFFEID},
	} {
		status, body, _ := postToken(t, s, tokenExchangeForm(iss.Mint(t, c.claims)), "", "")
		if status != 200 {
			t.Fatalf("%s: HTTP %d %v\nlogs: %s", c.name, status, body, s.Logs())
		}
		claims := claimsOfToken(t, body["access_token"].(string))
		if act, _ := claims["act"].(map[string]any); claims["sub"] != fedAccount || act["sub"] != c.sub {
			t.Fatalf("%s: claims %v", c.name, claims)
		}
	}
	// A JWT-SVID issued ten minutes ago (still unexpired) is too old.
	old := iss.SPIFFE([]string{s.URL})
	old["iat"] = time.Now().Add(-10 * time.Minute).Unix()
	status, body, _ := postToken(t, s, tokenExchangeForm(iss.Mint(t, old)), "", "")
	wantRefused(t, "JWT-SVID older than maxTokenAge", status, body)
	// Another namespace's pod.
	k := iss.Kubernetes(s.URL)
	k["kubernetes.io"].(map[string]any)["namespace"] = "other"
	status, body, _ = postToken(t, s, tokenExchangeForm(iss.Mint(t, k)), "", "")
	wantRefused(t, "Kubernetes token of another namespace", status, body)
}

// An issuer whose JWKS never answers: the exchange fails with the one
// invalid_grant within the fetch timeout, and meanwhile the server keeps
// answering others (a key-based client gets its token).
func TestFederatedExchangeWithSilentJWKS(t *testing.T) {
	t.Parallel()
	e := startFederation(t, servertest.Options{})
	key := e.s.CreateKey(t, fedAccount, api.CreateKey{Name: "k"})
	e.iss.HangJWKS(true)
	t.Cleanup(func() { e.iss.HangJWKS(false) })
	type answer struct {
		status int
		body   map[string]any
		took   time.Duration
	}
	done := make(chan answer, 1)
	form := tokenExchangeForm(e.github(t, e.s.URL, nil))
	start := time.Now()
	go func() {
		status, body, _ := postTokenNoFatal(e.s, form)
		done <- answer{status, body, time.Since(start)}
	}()
	// While the exchange waits on the silent issuer, the server answers.
	if _, err := ccConfig(e.s, fedAccount, key.ClientSecret).Token(context.Background()); err != nil {
		t.Fatalf("a key-based token while an exchange waits: %v", err)
	}
	a := <-done
	wantRefused(t, "silent JWKS", a.status, a.body)
	if a.took > 15*time.Second {
		t.Fatalf("the refused exchange took %s", a.took)
	}
}
