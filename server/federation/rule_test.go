package federation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

const ownIssuer = "https://tokenwright.example.com"

func githubRule() store.FederationRule {
	return store.FederationRule{
		ID: "fr_1", Account: "ci-bot", Name: "deploy-main", Issuer: "https://token.actions.githubusercontent.com",
		Claims: map[string][]string{"repository_id": {"123"}, "repository_owner_id": {"45"}, "ref": {"refs/heads/main"}},
	}
}

func TestValidateRuleDefaultsAudience(t *testing.T) {
	r := githubRule()
	if err := ValidateRule(&r, ownIssuer); err != nil {
		t.Fatal(err)
	}
	if r.Audience != ownIssuer {
		t.Fatalf("Audience = %q, want tokenwright's issuer %q", r.Audience, ownIssuer)
	}
	r.Audience = "sts.example.com"
	if err := ValidateRule(&r, ownIssuer); err != nil || r.Audience != "sts.example.com" {
		t.Fatalf("an explicit audience: %v, %q", err, r.Audience)
	}
}

// Each refused rule names its field, and the message says why.
func TestValidateRuleRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*store.FederationRule)
		field  string
		msg    string
	}{
		{"no name", func(r *store.FederationRule) { r.Name = "" }, "name", "1-63"},
		{"upper-case name", func(r *store.FederationRule) { r.Name = "Deploy" }, "name", "lowercase"},
		{"no issuer", func(r *store.FederationRule) { r.Issuer = "" }, "issuer", "required"},
		{"http issuer", func(r *store.FederationRule) { r.Issuer = "http://token.example.com" }, "issuer", "https"},
		{"relative issuer", func(r *store.FederationRule) { r.Issuer = "token.example.com" }, "issuer", "absolute"},
		{"issuer with query", func(r *store.FederationRule) { r.Issuer = "https://token.example.com/?a=b" }, "issuer", "query"},
		{"issuer with userinfo", func(r *store.FederationRule) { r.Issuer = "https://u:p@token.example.com" }, "issuer", "user"},
		{"issuer with fragment", func(r *store.FederationRule) { r.Issuer = "https://token.example.com/#x" }, "issuer", "fragment"},
		{"file issuer", func(r *store.FederationRule) { r.Issuer = "file:///etc/passwd" }, "issuer", "https"},
		{"http jwks", func(r *store.FederationRule) { r.JWKSURI = "http://keys.example.com/jwks" }, "jwksUri", "https"},
		{"audience with control", func(r *store.FederationRule) { r.Audience = "a\nb" }, "audience", "printable"},
		{"subject with control", func(r *store.FederationRule) { r.Subject = "repo:a\x00" }, "subject", "control"},
		{"bad claim name", func(r *store.FederationRule) { r.Claims["a b"] = []string{"x"} }, "claims", "claim name"},
		{"claim without values", func(r *store.FederationRule) { r.Claims["ref"] = nil }, "claims.ref", "1-64"},
		{"empty claim value", func(r *store.FederationRule) { r.Claims["ref"] = []string{""} }, "claims.ref", "empty"},
		{"aud as a claim", func(r *store.FederationRule) { r.Claims["aud"] = []string{"x"} }, "claims.aud", "rule's own fields"},
		{"sub as a claim", func(r *store.FederationRule) { r.Claims["sub"] = []string{"x"} }, "claims.sub", "rule's own fields"},
		{"condition syntax", func(r *store.FederationRule) { r.Condition = `claims.ref ==` }, "condition", "Syntax error"},
		{"condition not bool", func(r *store.FederationRule) { r.Condition = `claims.ref` }, "condition", "boolean"},
		{"condition string", func(r *store.FederationRule) { r.Condition = `"main"` }, "condition", "boolean"},
		{"condition unknown variable", func(r *store.FederationRule) { r.Condition = `token.ref == "x"` }, "condition", "undeclared reference"},
		{"condition too long", func(r *store.FederationRule) { r.Condition = strings.Repeat("true && ", 600) + "true" }, "condition", "at most"},
		{"negative age", func(r *store.FederationRule) { r.MaxTokenAge = -time.Second }, "maxTokenAge", "negative"},
		{"missing jti without age", func(r *store.FederationRule) { r.AllowMissingJTI = true }, "maxTokenAge", "allowMissingJti"},
		{"pins nothing", func(r *store.FederationRule) { r.Claims = nil }, "subject", "every token of the issuer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := githubRule()
			c.change(&r)
			err := ValidateRule(&r, ownIssuer)
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("ValidateRule = %v, want a *RuleError", err)
			}
			if re.Field != c.field || !strings.Contains(re.Message, c.msg) {
				t.Fatalf("ValidateRule = %q (field %q), want field %q with %q", err, re.Field, c.field, c.msg)
			}
		})
	}
}

func TestValidateRuleAccepts(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*store.FederationRule)
	}{
		{"loopback http issuer", func(r *store.FederationRule) { r.Issuer = "http://127.0.0.1:8443/issuer" }},
		{"localhost http jwks", func(r *store.FederationRule) { r.JWKSURI = "http://localhost:9000/jwks?x=1" }},
		{"ipv6 loopback issuer", func(r *store.FederationRule) { r.Issuer = "http://[::1]:8443" }},
		{"subject only", func(r *store.FederationRule) {
			r.Claims, r.Subject = nil, "system:serviceaccount:ci:deployer"
		}},
		{"condition only", func(r *store.FederationRule) {
			r.Claims, r.Condition = nil, `claims.repository_id == "123" && claims.ref.startsWith("refs/heads/")`
		}},
		{"condition over numbers and lists", func(r *store.FederationRule) {
			r.Condition = `claims.run_attempt < 3 && "ops" in claims.groups && claims.ref.matches("^refs/tags/v[0-9]+$")`
		}},
		{"missing jti with age", func(r *store.FederationRule) { r.AllowMissingJTI, r.MaxTokenAge = true, time.Hour }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := githubRule()
			c.change(&r)
			if err := ValidateRule(&r, ownIssuer); err != nil {
				t.Fatal(err)
			}
		})
	}
}
