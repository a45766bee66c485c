package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/duration"
)

func newServiceAccountCommand(getenv env) *cobra.Command {
	var c conn
	cmd := &cobra.Command{Use: "sa", Aliases: []string{"service-account"}, Short: "Manage service accounts"}
	c.register(cmd)

	var in api.CreateServiceAccount
	create := &cobra.Command{
		Use:   "create NAME --email EMAIL",
		Short: "Create a service account",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			in.UserName = args[0]
			sa, err := cl.CreateServiceAccount(cmd.Context(), in)
			return serviceAccountView(sa), err
		}),
	}
	f := create.Flags()
	f.StringVar(&in.Email, "email", "", "unique email (the address Domino maps to a Person document)")
	f.StringVar(&in.NotesName, "notes-name", "", "Domino distinguished name, e.g. CN=ci-bot/O=Acme")
	f.StringVar(&in.Description, "description", "", "free text")
	f.StringArrayVar(&in.Roles, "role", nil, "role (repeatable)")
	f.StringArrayVar(&in.AllowedScopes, "scope", nil, "allowed scope (repeatable)")
	f.StringArrayVar(&in.AllowedAudiences, "audience", nil, "allowed audience URL, or prefix ending in * (repeatable)")
	f.StringArrayVar(&in.AllowedCIDRs, "cidr", nil, "allowed source CIDR (repeatable)")
	f.StringArrayVar(&in.Owners, "owner", nil, "user allowed to manage keys (repeatable)")
	f.StringArrayVar(&in.Permissions, "permission", nil, "tokenwright permission: introspect (repeatable)")
	f.StringVar(&in.Profile, "profile", "", "token profile: domino (default) or generic")
	f.StringVar(&in.TokenType, "token-type", "", tokenTypeUsage)
	f.StringVar(&in.AudienceFormat, "audience-format", "", audienceFormatUsage)
	_ = create.MarkFlagRequired("email")

	list := &cobra.Command{
		Use:   "list",
		Short: "List service accounts",
		Args:  cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			items, err := cl.ListServiceAccounts(cmd.Context())
			return view{api.List[api.ServiceAccount]{Items: items}, rows(serviceAccountColumns, items)}, err
		}),
	}

	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a service account",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			sa, err := cl.GetServiceAccount(cmd.Context(), args[0])
			return serviceAccountView(sa), named(err, accountRef, args[0])
		}),
	}
	cmd.AddCommand(create, list, get, newSAUpdateCommand(&c, getenv), newSAOwnersCommand(&c, getenv),
		newSAFederationCommand(&c, getenv))
	for _, verb := range []struct {
		use, short string
		run        func(cmd *cobra.Command, cl *client.Client, name string) (view, error)
	}{
		{"deactivate NAME", "Deactivate a service account (its keys stay listed but get no tokens)",
			func(cmd *cobra.Command, cl *client.Client, name string) (view, error) {
				sa, err := cl.SetServiceAccountActive(cmd.Context(), name, false)
				return serviceAccountView(sa), err
			}},
		{"activate NAME", "Reactivate a service account",
			func(cmd *cobra.Command, cl *client.Client, name string) (view, error) {
				sa, err := cl.SetServiceAccountActive(cmd.Context(), name, true)
				return serviceAccountView(sa), err
			}},
		{"delete NAME", "Delete a service account and all of its keys (asks first; --yes to skip)",
			func(cmd *cobra.Command, cl *client.Client, name string) (view, error) {
				if err := confirmed(cmd, fmt.Sprintf("Delete service account %s and all of its keys?", name),
					"Not deleted: pass --yes to delete without asking."); err != nil {
					return view{}, err
				}
				return deleted(name, "Deleted %s and its keys.\n"), cl.DeleteServiceAccount(cmd.Context(), name)
			}},
	} {
		sub := &cobra.Command{
			Use: verb.use, Short: verb.short, Args: cobra.ExactArgs(1),
			RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
				v, err := verb.run(cmd, cl, args[0])
				return v, named(err, accountRef, args[0])
			}),
		}
		if strings.HasPrefix(verb.use, "delete ") {
			addYes(sub, "delete without asking")
		}
		cmd.AddCommand(sub)
	}
	completeWith(cmd, c.completeArgs(getenv, accountNames), "get", "update", "activate", "deactivate", "delete")
	for _, owners := range cmd.Commands() {
		if owners.Name() == "owners" {
			completeWith(owners, c.completeArgs(getenv, accountNames), "add", "remove")
		}
	}
	return cmd
}

// The token-shape flags of sa create and sa update.
const (
	tokenTypeUsage      = `JOSE typ of the account's tokens: jwt or at+jwt (RFC 9068); "" for the profile's default (domino: jwt, generic: at+jwt)`
	audienceFormatUsage = `how tokens write aud: array, or string (then a token request must come to exactly one audience); "" for the default, array`
)

func newSAUpdateCommand(c *conn, getenv env) *cobra.Command {
	var in api.UpdateServiceAccount
	var email, notes, description, profile, lifetime, claimsJSON, tokenType, audienceFormat string
	var scopes, audiences, cidrs, permissions []string
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a service account's settings (administrators)",
		Long: `Change a service account's settings. Only the flags you give change anything.
--scope, --audience and --cidr replace the whole list (give them once with "" to clear);
--add-role and --remove-role edit the roles.`,
		Args: cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			f := cmd.Flags()
			str := func(flag string, v string) *string {
				if f.Changed(flag) {
					return &v
				}
				return nil
			}
			list := func(flag string, v []string) *[]string { return replacementList(f, flag, v) }
			in.Email, in.NotesName, in.Description, in.Profile = str("email", email), str("notes-name", notes), str("description", description), str("profile", profile)
			in.TokenType, in.AudienceFormat = str("token-type", tokenType), str("audience-format", audienceFormat)
			in.AllowedScopes, in.AllowedAudiences, in.AllowedCIDRs = list("scope", scopes), list("audience", audiences), list("cidr", cidrs)
			in.Permissions = list("permission", permissions)
			if f.Changed("token-lifetime") {
				d, err := duration.Parse(lifetime)
				if err != nil {
					return view{}, usageErrorf("--token-lifetime: %w", err)
				}
				secs := int64(d.Seconds())
				in.TokenLifetime = &secs
			}
			if f.Changed("claims") {
				claims := map[string]any{}
				if err := json.Unmarshal([]byte(claimsJSON), &claims); err != nil {
					return view{}, usageErrorf("--claims must be a JSON object: %w", err)
				}
				in.Claims = &claims
			}
			sa, err := cl.UpdateServiceAccount(cmd.Context(), args[0], in)
			return serviceAccountView(sa), named(err, accountRef, args[0])
		}),
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "new email")
	f.StringVar(&notes, "notes-name", "", "new Domino distinguished name")
	f.StringVar(&description, "description", "", "new description")
	f.StringVar(&profile, "profile", "", "token profile: domino or generic")
	f.StringVar(&tokenType, "token-type", "", tokenTypeUsage)
	f.StringVar(&audienceFormat, "audience-format", "", audienceFormatUsage)
	f.StringVar(&lifetime, "token-lifetime", "", "lifetime of issued tokens, e.g. 5m (0 for the server default)")
	f.StringVar(&claimsJSON, "claims", "", `custom claims as a JSON object, e.g. '{"team":"ops"}'`)
	f.StringArrayVar(&in.AddRoles, "add-role", nil, "add a role (repeatable)")
	f.StringArrayVar(&in.RemoveRoles, "remove-role", nil, "remove a role (repeatable)")
	f.StringArrayVar(&scopes, "scope", nil, "allowed scope; replaces the list (repeatable)")
	f.StringArrayVar(&audiences, "audience", nil, "allowed audience; replaces the list (repeatable)")
	f.StringArrayVar(&cidrs, "cidr", nil, "allowed source CIDR; replaces the list (repeatable)")
	f.StringArrayVar(&permissions, "permission", nil, `tokenwright permission (introspect); replaces the list, "" clears it (repeatable)`)
	return cmd
}

// replacementList is a repeatable flag that replaces a whole list: nil if
// the flag was not given, and "" entries dropped (so --scope "" clears).
func replacementList(f *pflag.FlagSet, flag string, v []string) *[]string {
	if !f.Changed(flag) {
		return nil
	}
	out := []string{}
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return &out
}

func newSAOwnersCommand(c *conn, getenv env) *cobra.Command {
	cmd := &cobra.Command{Use: "owners", Short: "Manage who may manage a service account's keys"}
	for _, add := range []bool{true, false} {
		use, short := "add ACCOUNT USER", "Let USER create, rotate and revoke the account's keys"
		if !add {
			use, short = "remove ACCOUNT USER", "Remove USER from the account's owners"
		}
		cmd.AddCommand(&cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(2),
			RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
				change := cl.RemoveOwner
				if add {
					change = cl.AddOwner
				}
				sa, err := change(cmd.Context(), args[0], args[1])
				return serviceAccountView(sa), err
			}),
		})
	}
	return cmd
}

// serviceAccountView shows one service account.
func serviceAccountView(sa api.ServiceAccount) view {
	return view{sa, func(tw *tabwriter.Writer) {
		fields(tw, field{"Name", sa.UserName}, field{"ID", sa.ID}, field{"Email", sa.Email}, field{"Notes name", dash(sa.NotesName)},
			field{"Status", sa.Status}, field{"Profile", sa.Profile}, field{"Token type", sa.TokenType}, field{"Audience format", sa.AudienceFormat},
			field{"Roles", dash(strings.Join(sa.Roles, ", "))},
			field{"Owners", dash(strings.Join(sa.Owners, ", "))}, field{"Scopes", dash(strings.Join(sa.AllowedScopes, " "))},
			field{"Audiences", dash(strings.Join(sa.AllowedAudiences, " "))}, field{"CIDRs", dash(strings.Join(sa.AllowedCIDRs, " "))},
			field{"Created", fmtTime(&sa.CreatedAt) + " by " + dash(sa.CreatedBy)})
	}}
}

// serviceAccountColumns are the columns of a list of service accounts.
var serviceAccountColumns = []column[api.ServiceAccount]{
	{"NAME", func(sa api.ServiceAccount) string { return sa.UserName }},
	{"EMAIL", func(sa api.ServiceAccount) string { return sa.Email }},
	{"STATUS", func(sa api.ServiceAccount) string { return sa.Status }},
	{"ROLES", func(sa api.ServiceAccount) string { return dash(strings.Join(sa.Roles, ",")) }},
	{"SCOPES", func(sa api.ServiceAccount) string { return dash(strings.Join(sa.AllowedScopes, " ")) }},
	{"CREATED", func(sa api.ServiceAccount) string { return fmtTime(&sa.CreatedAt) }},
}
