package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

// newSAFederationCommand is `sa federation`: the account's federation
// rules, which let CI jobs and workloads exchange their own OIDC tokens
// for the account's with no stored secret.
func newSAFederationCommand(c *conn, getenv env) *cobra.Command {
	cmd := &cobra.Command{Use: "federation", Short: "Manage which external identities (CI jobs, workloads) act as a service account"}

	var ff federationFlags
	add := &cobra.Command{
		Use:   "add ACCOUNT --name NAME (--issuer URL | PRESET)",
		Short: "Let tokens of an external issuer act as the account",
		Long: `Add a federation rule: a token of the issuer that carries the audience (default: this
server's issuer URL) and matches the subject, every --claim (a repeated key accepts any of its
values) and the CEL --condition is exchanged for the account's token, with no stored secret.

Presets pin the immutable numeric ids rather than names, which can be given up and registered
again by someone else:
  --github-repo OWNER/NAME   repository_id and repository_owner_id (looked up once on the GitHub
                             API, or given with --github-repository-id/--github-owner-id), and the
                             name for the reader; issuer https://token.actions.githubusercontent.com;
                             --ref (a branch name or refs/...), --environment
  --gitlab-project ID        project_id (numeric); issuer https://gitlab.com unless --issuer;
                             --ref, --environment, --protected (ref_protected)
  --kubernetes-service-account NAMESPACE/NAME
                             subject system:serviceaccount:NAMESPACE:NAME; --issuer is the cluster's;
                             tokens without jti are accepted, bounded by --max-token-age (default 1h)
  --spiffe-id ID             subject = the SPIFFE ID; --issuer (and --jwks-uri) of the trust domain;
                             tokens without jti accepted, bounded by --max-token-age (default 1h)`,
		Args: cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			in, err := ff.rule(cmd.Context(), lookupGitHubRepo(getenv))
			if err != nil {
				return view{}, err
			}
			r, err := cl.CreateFederationRule(cmd.Context(), args[0], in)
			return federationRuleView(r), named(err, accountRef, args[0])
		}),
	}
	f := add.Flags()
	f.StringVar(&ff.name, "name", "", "the rule's name, unique on the account")
	f.StringVar(&ff.issuer, "issuer", "", "the external issuer's URL, exactly as its tokens' iss")
	f.StringVar(&ff.audience, "audience", "", "the audience the external tokens must carry (default: this server's issuer URL)")
	f.StringVar(&ff.subject, "subject", "", "the sub the external tokens must carry")
	f.StringArrayVar(&ff.claims, "claim", nil, "KEY=VALUE the tokens must carry (repeatable; a repeated KEY accepts any of its values)")
	f.StringVar(&ff.condition, "condition", "", `CEL expression over the map claims, e.g. 'claims.ref_type == "branch"'`)
	f.StringVar(&ff.jwksURI, "jwks-uri", "", "fetch the issuer's keys here instead of from its discovery document")
	f.StringVar(&ff.maxTokenAge, "max-token-age", "", "refuse tokens issued longer ago than this, e.g. 10m")
	f.BoolVar(&ff.allowMissingJTI, "allow-missing-jti", false, "accept tokens without jti (needs --max-token-age)")
	f.StringArrayVar(&ff.scopes, "scope", nil, "narrow the account's scopes for tokens from this rule (repeatable)")
	f.StringArrayVar(&ff.audiences, "token-audience", nil, "narrow the account's audiences for tokens from this rule (repeatable)")
	f.StringVar(&ff.githubRepo, "github-repo", "", "preset: GitHub Actions jobs of repository OWNER/NAME")
	f.StringVar(&ff.githubRepoID, "github-repository-id", "", "with --github-repo: the repository's numeric id (skips the lookup)")
	f.StringVar(&ff.githubOwnerID, "github-owner-id", "", "with --github-repo: the owner's numeric id (skips the lookup)")
	f.StringVar(&ff.ref, "ref", "", "with --github-repo or --gitlab-project: only jobs of this branch or ref")
	f.StringVar(&ff.environment, "environment", "", "with --github-repo or --gitlab-project: only jobs of this deployment environment")
	f.StringVar(&ff.gitlabProject, "gitlab-project", "", "preset: GitLab CI jobs of the project with this numeric ID")
	f.BoolVar(&ff.protected, "protected", false, "with --gitlab-project: only jobs of protected branches and tags")
	f.StringVar(&ff.kubernetesSA, "kubernetes-service-account", "", "preset: pods running as NAMESPACE/NAME (needs --issuer)")
	f.StringVar(&ff.spiffeID, "spiffe-id", "", "preset: workloads with this SPIFFE ID (needs --issuer)")
	_ = add.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list ACCOUNT",
		Short: "List the account's federation rules",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			items, err := cl.ListFederationRules(cmd.Context(), args[0])
			return view{api.List[api.FederationRule]{Items: items}, rows(federationRuleColumns, items)}, named(err, accountRef, args[0])
		}),
	}

	remove := &cobra.Command{
		Use:   "remove ACCOUNT RULE",
		Short: "Remove a federation rule (by id or name): its tokens no longer act as the account",
		Args:  cobra.ExactArgs(2),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			rules, err := cl.ListFederationRules(cmd.Context(), args[0])
			if err != nil {
				return view{}, named(err, accountRef, args[0])
			}
			i := slices.IndexFunc(rules, func(r api.FederationRule) bool { return r.ID == args[1] || r.Name == args[1] })
			if i < 0 {
				return view{}, &notFoundError{what: fmt.Sprintf("federation rule %q of service account %q", args[1], args[0])}
			}
			r := rules[i]
			err = cl.DeleteFederationRule(cmd.Context(), args[0], r.ID)
			return deleted(r.Name, "Removed federation rule %s.\n"), named(err, "federation rule %q", args[1])
		}),
	}
	cmd.AddCommand(add, list, remove)
	completeWith(cmd, c.completeArgs(getenv, accountNames), "add", "list", "remove")
	return cmd
}

// federationRuleView shows one rule.
func federationRuleView(r api.FederationRule) view {
	return view{r, func(tw *tabwriter.Writer) {
		age := "-"
		if r.MaxTokenAge > 0 {
			age = (time.Duration(r.MaxTokenAge) * time.Second).String()
		}
		fields(tw, field{"ID", r.ID}, field{"Name", r.Name}, field{"Account", r.Account}, field{"Issuer", r.Issuer},
			field{"Audience", r.Audience}, field{"Subject", dash(r.Subject)}, field{"Claims", dash(claimsText(r.Claims))},
			field{"Condition", dash(r.Condition)}, field{"JWKS URI", dash(r.JWKSURI)}, field{"Max token age", age},
			field{"Tokens without jti", map[bool]string{true: "accepted", false: "refused"}[r.AllowMissingJTI]},
			field{"Scopes", dash(strings.Join(r.AllowedScopes, " "))}, field{"Audiences", dash(strings.Join(r.AllowedAudiences, " "))},
			field{"Created", fmtTime(&r.CreatedAt) + " by " + dash(r.CreatedBy)}, field{"Last used", fmtTime(r.LastUsedAt)})
	}}
}

// claimsText writes pinned claims as k=v (any-of values joined by |),
// sorted by key.
func claimsText(claims map[string]api.ClaimValues) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		parts = append(parts, k+"="+strings.Join(claims[k], "|"))
	}
	return strings.Join(parts, " ")
}

// federationRuleColumns are the columns of a list of rules.
var federationRuleColumns = []column[api.FederationRule]{
	{"ID", func(r api.FederationRule) string { return r.ID }},
	{"NAME", func(r api.FederationRule) string { return r.Name }},
	{"ISSUER", func(r api.FederationRule) string { return r.Issuer }},
	{"SUBJECT", func(r api.FederationRule) string { return dash(r.Subject) }},
	{"CLAIMS", func(r api.FederationRule) string { return dash(claimsText(r.Claims)) }},
	{"LAST USED", func(r api.FederationRule) string { return fmtTime(r.LastUsedAt) }},
}
