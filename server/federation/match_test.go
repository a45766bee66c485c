package federation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

var now = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// githubClaims are a GitHub Actions token's claims as encoding/json
// decodes them (numbers as float64).
func githubClaims() map[string]any {
	var c map[string]any
	err := json.Unmarshal([]byte(`{
		"iss": "https://token.actions.githubusercontent.com", "aud": "https://tokenwright.example.com",
		"sub": "repo:acme/deploy:ref:refs/heads/main", "jti": "6f2c1a9e-1b2c-4d5e-8f90-0a1b2c3d4e5f",
		"repository": "acme/deploy", "repository_id": "123", "repository_owner": "acme",
		"repository_owner_id": "45", "ref": "refs/heads/main", "ref_type": "branch", "run_attempt": "1",
		"environment": "prod", "groups": ["ops", "dev"], "ref_protected": true, "project_id": 7890
	}`), &c)
	if err != nil {
		panic(err)
	}
	c["iat"] = float64(now.Add(-2 * time.Minute).Unix())
	return c
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		rule   func(*store.FederationRule)
		claims func(map[string]any)
		reason string // "" = match
	}{
		{"the pinned repository", nil, nil, ""},
		{"other repository", nil, func(c map[string]any) { c["repository_id"] = "124" }, "claim repository_id"},
		{"same name, other repository_id", func(r *store.FederationRule) {
			r.Claims["repository"] = []string{"acme/deploy"}
		}, func(c map[string]any) { c["repository_id"] = "999" }, "claim repository_id"},
		{"other owner", nil, func(c map[string]any) { c["repository_owner_id"] = "46" }, "claim repository_owner_id"},
		{"other branch", nil, func(c map[string]any) { c["ref"] = "refs/heads/dev" }, "claim ref"},
		{"pinned claim missing", nil, func(c map[string]any) { delete(c, "ref") }, "claim ref is missing"},
		{"any of the listed values", func(r *store.FederationRule) {
			r.Claims["ref"] = []string{"refs/heads/release", "refs/heads/main"}
		}, nil, ""},
		{"a number pinned by its decimal form", func(r *store.FederationRule) {
			r.Claims["project_id"] = []string{"7890"}
		}, nil, ""},
		{"a number is not another's prefix", func(r *store.FederationRule) {
			r.Claims["project_id"] = []string{"789"}
		}, nil, "claim project_id"},
		{"a string claim pinned by a number's text", nil, func(c map[string]any) { c["repository_id"] = float64(123) }, ""},
		{"a big id keeps its digits", func(r *store.FederationRule) {
			r.Claims["repository_id"] = []string{"987654321012"}
		}, func(c map[string]any) { c["repository_id"] = float64(987654321012) }, ""},
		{"a boolean", func(r *store.FederationRule) { r.Claims["ref_protected"] = []string{"true"} }, nil, ""},
		{"a false boolean", func(r *store.FederationRule) { r.Claims["ref_protected"] = []string{"true"} },
			func(c map[string]any) { c["ref_protected"] = false }, "claim ref_protected"},
		{"a list never equals a value", func(r *store.FederationRule) { r.Claims["groups"] = []string{"ops"} }, nil, "not a string, number or boolean"},
		{"the subject", func(r *store.FederationRule) { r.Subject = "repo:acme/deploy:ref:refs/heads/main" }, nil, ""},
		{"another subject", func(r *store.FederationRule) { r.Subject = "repo:acme/deploy:environment:prod" }, nil, "sub"},
		{"another issuer", nil, func(c map[string]any) { c["iss"] = "https://gitlab.com" }, "issuer"},
		{"no jti", nil, func(c map[string]any) { delete(c, "jti") }, "no jti"},
		{"empty jti", nil, func(c map[string]any) { c["jti"] = "" }, "no jti"},
		{"no jti, allowed", func(r *store.FederationRule) { r.AllowMissingJTI, r.MaxTokenAge = true, time.Hour },
			func(c map[string]any) { delete(c, "jti") }, ""},
		{"within maxTokenAge", func(r *store.FederationRule) { r.MaxTokenAge = 5 * time.Minute }, nil, ""},
		{"too old for maxTokenAge", func(r *store.FederationRule) { r.MaxTokenAge = time.Minute }, nil, "maxTokenAge"},
		{"no iat under maxTokenAge", func(r *store.FederationRule) { r.MaxTokenAge = time.Hour },
			func(c map[string]any) { delete(c, "iat") }, "no iat"},
		{"iat not a number", func(r *store.FederationRule) { r.MaxTokenAge = time.Hour },
			func(c map[string]any) { c["iat"] = "1700000000" }, "no iat"},
		{"condition true", func(r *store.FederationRule) {
			r.Condition = `claims.repository == "acme/deploy" && claims.ref == "refs/heads/main"`
		}, nil, ""},
		{"condition false", func(r *store.FederationRule) {
			r.Condition = `claims.repository == "acme/deploy" && claims.ref == "refs/heads/dev"`
		}, nil, "is false"},
		{"condition over a list and a number", func(r *store.FederationRule) {
			r.Condition = `"ops" in claims.groups && claims.project_id == 7890`
		}, nil, ""},
		{"condition on a missing claim errs: no match", func(r *store.FederationRule) {
			r.Condition = `claims.workflow == "deploy" && claims.ref == "refs/heads/main"`
		}, nil, "failed"},
		{"condition type error: no match", func(r *store.FederationRule) {
			r.Condition = `claims.repository > 3`
		}, nil, "failed"},
		{"condition over the cost limit: no match", func(r *store.FederationRule) {
			r.Condition = `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`
		}, nil, "cost limit"},
		{"condition that does not compile: no match", func(r *store.FederationRule) { r.Condition = `claims.ref ==` }, nil, "does not compile"},
		{"condition that is not bool: no match", func(r *store.FederationRule) { r.Condition = `claims.ref` }, nil, "does not compile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := githubRule()
			if c.rule != nil {
				c.rule(&r)
			}
			claims := githubClaims()
			if c.claims != nil {
				c.claims(claims)
			}
			err := Match(r, claims, now)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("Match = %v, want a match", err)
				}
				return
			}
			var nm *NoMatch
			if !errors.As(err, &nm) || !errors.Is(err, ErrNoMatch) {
				t.Fatalf("Match = %v, want a *NoMatch", err)
			}
			if !strings.Contains(nm.Reason, c.reason) {
				t.Fatalf("Match reason %q, want it to mention %q", nm.Reason, c.reason)
			}
		})
	}
}

// A condition error is no match: the error is not taken for a result.
// (CEL's logical operators are commutative: `error || true` is true, so a
// condition that holds on another branch still matches, as CEL defines.)
func TestMatchConditionErrorIsNotAccepted(t *testing.T) {
	r := githubRule()
	r.Condition = `claims.no_such_claim == "x"`
	if err := Match(r, githubClaims(), now); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Match = %v, want no match", err)
	}
	r.Condition = `claims.no_such_claim == "x" || claims.ref == "refs/heads/main"`
	if err := Match(r, githubClaims(), now); err != nil {
		t.Fatalf("Match = %v, want a match (CEL: error || true is true)", err)
	}
}
