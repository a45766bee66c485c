package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/server/servertest"
)

const githubIssuer = "https://token.actions.githubusercontent.com"

// Federation rules through the real API and pkg/client: created with the
// audience defaulted to the server's issuer and the claims read as one
// value or a list (numbers by their text); listed, read and deleted;
// audited; refused with 400 naming the field, 404 for another's or an
// unknown account, 409 for a taken name; managed by the account's owners
// like its keys, and by no one else; gone with the account.
func TestFederationRulesAPI(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	aliceToken := newUserWithPAT(t, s, api.CreateUser{UserName: "alice", Email: "alice@example.com"})
	bobToken := newUserWithPAT(t, s, api.CreateUser{UserName: "bob", Email: "bob@example.com"})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", Owners: []string{"alice"},
		AllowedScopes: []string{"Domino.user.all", "$DATA"}, AllowedAudiences: []string{"https://api.example.com/*"}})
	alice, err := client.New(s.URL, aliceToken, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The owner creates a rule; the claims come as a string, a number and a list.
	var created api.FederationRule
	body := map[string]any{
		"name": "deploy-main", "issuer": githubIssuer,
		"claims":      map[string]any{"repository_id": 123, "repository_owner_id": "45", "ref": []string{"refs/heads/main", "refs/heads/release"}},
		"condition":   `claims.repository == "acme/deploy"`,
		"maxTokenAge": 600, "allowedScopes": []string{"$DATA"}, "allowedAudiences": []string{"https://api.example.com/deploy"},
	}
	must(t, s.Do(t, aliceToken, "POST", "/api/v1/service-accounts/ci-bot/federation", body, &created), 201, "create rule")
	if created.ID == "" || created.Account != "ci-bot" || created.Audience != s.URL || created.CreatedBy != "alice" ||
		created.MaxTokenAge != 600 || created.LastUsedAt != nil || created.AllowMissingJTI ||
		strings.Join(created.Claims["repository_id"], ",") != "123" ||
		strings.Join(created.Claims["ref"], ",") != "refs/heads/main,refs/heads/release" ||
		strings.Join(created.AllowedScopes, ",") != "$DATA" {
		t.Fatalf("created rule = %+v (audience must default to the issuer %s)", created, s.URL)
	}

	got, err := alice.GetFederationRule(ctx, "ci-bot", created.ID)
	if err != nil || got.Name != "deploy-main" || got.Condition != created.Condition {
		t.Fatalf("GetFederationRule = %+v, %v", got, err)
	}
	second, err := alice.CreateFederationRule(ctx, "ci-bot", api.CreateFederationRule{Name: "k8s",
		Issuer: "https://kubernetes.example.com", Audience: "tokenwright", Subject: "system:serviceaccount:ci:deployer",
		AllowMissingJTI: true, MaxTokenAge: 3600})
	if err != nil || second.Audience != "tokenwright" || !second.AllowMissingJTI {
		t.Fatalf("CreateFederationRule = %+v, %v", second, err)
	}
	list, err := alice.ListFederationRules(ctx, "ci-bot")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListFederationRules = %+v, %v", list, err)
	}

	// Refusals: the status, the API's error code, and the field named.
	for _, c := range []struct {
		name   string
		token  string
		path   string
		body   any
		status int
		field  string
	}{
		{"taken name", aliceToken, "ci-bot", map[string]any{"name": "deploy-main", "issuer": githubIssuer, "subject": "x"}, 409, ""},
		{"no name", aliceToken, "ci-bot", map[string]any{"issuer": githubIssuer, "subject": "x"}, 400, "name"},
		{"http issuer", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": "http://evil.example.com", "subject": "x"}, 400, "issuer"},
		{"bad condition", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "condition": "claims.ref =="}, 400, "condition"},
		{"condition not bool", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "condition": "claims.ref"}, 400, "condition"},
		{"claim object", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "claims": map[string]any{"ref": map[string]any{}}}, 400, "claims"},
		{"pins nothing", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer}, 400, "subject"},
		{"jti without age", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x", "allowMissingJti": true}, 400, "maxTokenAge"},
		{"negative age", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x", "maxTokenAge": -1}, 400, "maxTokenAge"},
		{"wider scope", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x", "allowedScopes": []string{"admin"}}, 400, "allowedScopes"},
		{"wider audience", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x", "allowedAudiences": []string{"https://other.example.com/"}}, 400, "allowedAudiences"},
		{"unknown field", aliceToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x", "sub": "y"}, 400, "sub"},
		{"unknown account", s.AdminToken, "nobody", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x"}, 404, ""},
		{"not an owner", bobToken, "ci-bot", map[string]any{"name": "a", "issuer": githubIssuer, "subject": "x"}, 404, ""},
	} {
		var e api.Error
		code := s.Do(t, c.token, "POST", "/api/v1/service-accounts/"+c.path+"/federation", c.body, &e)
		if code != c.status || c.field != "" && !strings.Contains(e.Message, c.field) || e.Code == "" {
			t.Errorf("%s: HTTP %d %+v, want %d naming %q", c.name, code, e, c.status, c.field)
		}
	}
	must(t, s.Do(t, bobToken, "GET", "/api/v1/service-accounts/ci-bot/federation", nil, nil), 404, "bob lists")
	must(t, s.Do(t, bobToken, "GET", "/api/v1/service-accounts/ci-bot/federation/"+created.ID, nil, nil), 404, "bob reads")
	must(t, s.Do(t, bobToken, "DELETE", "/api/v1/service-accounts/ci-bot/federation/"+created.ID, nil, nil), 404, "bob deletes")

	// A rule is reached only through its own account.
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "web-bot", Email: "web-bot@example.com"})
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/web-bot/federation/"+created.ID, nil, nil), 404, "through another account")
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/service-accounts/web-bot/federation/"+created.ID, nil, nil), 404, "delete through another account")

	if err := alice.DeleteFederationRule(ctx, "ci-bot", created.ID); err != nil {
		t.Fatal(err)
	}
	_, err = alice.GetFederationRule(ctx, "ci-bot", created.ID)
	if !client.IsNotFound(err) {
		t.Fatalf("GetFederationRule after delete: %v, want not found", err)
	}
	var apiErr *client.APIError
	if err := alice.DeleteFederationRule(ctx, "ci-bot", created.ID); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("second delete: %v, want 404", err)
	}

	// Audited: creation (with the refusals) and deletion, naming the rule.
	var audit api.List[api.AuditEvent]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?action=federation.create", nil, &audit), 200, "audit")
	var ok, failed int
	for _, e := range audit.Items {
		if e.Result == "success" {
			ok++
			if e.Actor != "alice" || e.Target != "ci-bot" || e.Details["ruleId"] == "" || e.Details["issuer"] == "" {
				t.Errorf("federation.create event %+v", e)
			}
		} else {
			failed++
		}
	}
	if ok != 2 || failed == 0 {
		t.Fatalf("federation.create events: %d successes, %d failures (%+v)", ok, failed, audit.Items)
	}
	var deletes api.List[api.AuditEvent]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/audit?action=federation.delete", nil, &deletes), 200, "audit")
	deleted := 0
	for _, e := range deletes.Items {
		if e.Result == "success" {
			deleted++
			if e.Actor != "alice" || e.Details["ruleId"] != created.ID || e.Details["name"] != "deploy-main" {
				t.Errorf("federation.delete event %+v", e)
			}
		}
	}
	if deleted != 1 || len(deletes.Items) != 4 {
		t.Fatalf("federation.delete events: %+v, want one success and three refusals", deletes.Items)
	}

	// The account's deletion takes its rules along: a new account of the
	// same name starts with none.
	must(t, s.Do(t, s.AdminToken, "DELETE", "/api/v1/service-accounts/ci-bot", nil, nil), 204, "delete account")
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	var after api.List[api.FederationRule]
	must(t, s.Do(t, s.AdminToken, "GET", "/api/v1/service-accounts/ci-bot/federation", nil, &after), 200, "list after re-create")
	if len(after.Items) != 0 {
		t.Fatalf("re-created account inherits rules %+v", after.Items)
	}
}
