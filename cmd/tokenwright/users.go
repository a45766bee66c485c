package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

func newUserCommand(getenv env) *cobra.Command {
	var c conn
	cmd := &cobra.Command{Use: "user", Short: "Manage users (people who sign in with personal access tokens)"}
	c.register(cmd)

	var in api.CreateUser
	create := &cobra.Command{
		Use:   "create NAME --email EMAIL [--role R]... [--admin]",
		Short: "Create a user (administrators)",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			in.UserName = args[0]
			u, err := cl.CreateUser(cmd.Context(), in)
			return view{u, rows(userColumns, []api.User{u})}, err
		}),
	}
	create.Flags().StringVar(&in.Email, "email", "", "unique email")
	create.Flags().StringArrayVar(&in.Roles, "role", nil, "role (repeatable)")
	create.Flags().BoolVar(&in.Admin, "admin", false, "make the user an administrator")
	_ = create.MarkFlagRequired("email")

	list := &cobra.Command{
		Use: "list", Short: "List users (administrators)", Args: cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			users, err := cl.ListUsers(cmd.Context())
			return view{api.List[api.User]{Items: users}, rows(userColumns, users)}, err
		}),
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a user (me for yourself)", Args: cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			u, err := cl.GetUser(cmd.Context(), args[0])
			return userView(u), named(err, userRef, args[0])
		}),
	}

	var up api.UpdateUser
	var email, status string
	var admin bool
	var scopes, audiences, cidrs []string
	update := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a user (administrators); changing roles, demoting or deactivating revokes the user's personal access tokens",
		Long: `Change a user (administrators only). Only the flags you give change anything.
Changing roles, --admin=false and --status inactive revoke all of the user's
personal access tokens: after re-promotion or re-activation the user creates new ones.
--scope, --audience and --cidr set what the user's personal access tokens may
reach; each replaces the whole list (give it once with "" to clear, which means
the server's defaults).`,
		Args: cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			f := cmd.Flags()
			if f.Changed("email") {
				up.Email = &email
			}
			if f.Changed("admin") {
				up.Admin = &admin
			}
			if f.Changed("status") {
				up.Status = &status
			}
			up.AllowedScopes, up.AllowedAudiences, up.AllowedCIDRs =
				replacementList(f, "scope", scopes), replacementList(f, "audience", audiences), replacementList(f, "cidr", cidrs)
			u, err := cl.UpdateUser(cmd.Context(), args[0], up)
			err = named(err, userRef, args[0])
			return userView(u), err
		}),
	}
	update.Flags().StringVar(&email, "email", "", "new email")
	update.Flags().StringArrayVar(&up.AddRoles, "add-role", nil, "add a role (repeatable)")
	update.Flags().StringArrayVar(&up.RemoveRoles, "remove-role", nil, "remove a role (repeatable)")
	update.Flags().BoolVar(&admin, "admin", false, "administrator or not (--admin=false to demote)")
	update.Flags().StringVar(&status, "status", "", "active or inactive")
	update.Flags().StringArrayVar(&scopes, "scope", nil, "allowed scope of the user's tokens; replaces the list (repeatable)")
	update.Flags().StringArrayVar(&audiences, "audience", nil, "allowed audience of the user's tokens; replaces the list (repeatable)")
	update.Flags().StringArrayVar(&cidrs, "cidr", nil, "allowed source CIDR of the user's tokens; replaces the list (repeatable)")

	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user and their personal access tokens", Args: cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			if err := confirmed(cmd, fmt.Sprintf("Delete user %s and their personal access tokens?", args[0]),
				"Not deleted: pass --yes to delete without asking."); err != nil {
				return view{}, err
			}
			return deleted(args[0], "Deleted user %s.\n"), named(cl.DeleteUser(cmd.Context(), args[0]), userRef, args[0])
		}),
	}
	addYes(del, "delete without asking")
	cmd.AddCommand(create, list, get, update, del)
	// deactivate/activate are update --status: deactivating revokes the
	// user's personal access tokens and ends their console sessions.
	for _, verb := range []struct{ use, short, status string }{
		{"deactivate NAME", "Deactivate a user: revokes their personal access tokens and ends their console sessions", "inactive"},
		{"activate NAME", "Reactivate a user (they create new tokens)", "active"},
	} {
		status := verb.status
		cmd.AddCommand(&cobra.Command{
			Use: verb.use, Short: verb.short, Args: cobra.ExactArgs(1),
			RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
				u, err := cl.UpdateUser(cmd.Context(), args[0], api.UpdateUser{Status: &status})
				return userView(u), named(err, userRef, args[0])
			}),
		})
	}
	completeWith(cmd, c.completeArgs(getenv, userNames), "get", "update", "activate", "deactivate", "delete")
	completeFlag(update, "status", "active", "inactive")
	return cmd
}

// userView shows one user with the lists that bound their tokens.
func userView(u api.User) view {
	return view{u, func(tw *tabwriter.Writer) {
		fields(tw, field{"Name", u.UserName}, field{"ID", u.ID}, field{"Email", u.Email}, field{"Admin", fmt.Sprint(u.Admin)},
			field{"Status", u.Status}, field{"Roles", dash(strings.Join(u.Roles, ", "))},
			field{"Scopes", dash(strings.Join(u.AllowedScopes, " "))}, field{"Audiences", dash(strings.Join(u.AllowedAudiences, " "))},
			field{"CIDRs", dash(strings.Join(u.AllowedCIDRs, " "))}, field{"Created", fmtTime(&u.CreatedAt) + " by " + dash(u.CreatedBy)})
	}}
}

// userColumns are the columns of a list of users.
var userColumns = []column[api.User]{
	{"NAME", func(u api.User) string { return u.UserName }},
	{"EMAIL", func(u api.User) string { return u.Email }},
	{"ADMIN", func(u api.User) string { return fmt.Sprint(u.Admin) }},
	{"STATUS", func(u api.User) string { return u.Status }},
	{"ROLES", func(u api.User) string { return dash(strings.Join(u.Roles, ",")) }},
	{"CREATED", func(u api.User) string { return fmtTime(&u.CreatedAt) }},
}

func newPATCommand(getenv env) *cobra.Command {
	var c conn
	var user string
	cmd := &cobra.Command{
		Use:   "pat",
		Short: "Manage personal access tokens (yours, or --user U as an administrator)",
	}
	c.register(cmd)
	cmd.PersistentFlags().StringVar(&user, "user", "me", "whose tokens (administrators)")

	var in api.CreateKey
	var expiresIn string
	create := &cobra.Command{
		Use:   "create --name NAME [--description D] [--expires-in D]",
		Short: "Create a personal access token (shown once)",
		Args:  cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			if err := setExpiry(&in, expiresIn); err != nil {
				return view{}, err
			}
			k, err := cl.CreatePAT(cmd.Context(), user, in)
			return view{k, func(tw *tabwriter.Writer) {
				printSecret(tw, k, field{"Token", k.Name + " (" + k.ID + ")"}, field{"User", k.ClientID},
					field{"Expires", fmtTime(k.ExpiresAt)})
			}}, err
		}),
	}
	create.Flags().StringVar(&in.Name, "name", "", "unique (per user) name: letters, digits, '-' and '.'")
	create.Flags().StringVar(&in.Description, "description", "", "free text")
	create.Flags().StringVar(&expiresIn, "expires-in", "", "lifetime such as 30d or never (default: the server's, four months)")
	_ = create.MarkFlagRequired("name")

	var all, expiring bool
	var status string
	list := &cobra.Command{
		Use: "list", Short: "List personal access tokens", Args: cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			who := user
			if all {
				who = ""
			}
			if expiring {
				status = api.KeyExpiringSoon
			}
			keys, err := cl.ListPATsByStatus(cmd.Context(), who, status)
			return view{api.List[api.Key]{Items: keys}, rows(patColumns, keys)}, err
		}),
	}
	list.Flags().BoolVar(&all, "all", false, "every user's tokens (administrators)")
	list.Flags().StringVar(&status, "status", "", "only tokens with this status")
	list.Flags().BoolVar(&expiring, "expiring", false, "only tokens that expire within the warning window (for cron jobs)")

	byRef := func(use, short string, do func(cmd *cobra.Command, cl *client.Client, id string) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
				id, err := resolveKey(cmd, func() ([]api.Key, error) { return cl.ListPATs(cmd.Context(), user) }, args[0], fmt.Sprintf(userRef, user))
				if err != nil {
					return view{}, err
				}
				out, err := do(cmd, cl, id)
				return view{out, message("Done: %s %s.\n", cmd.Name(), id)}, err
			}),
		}
	}
	revoke := byRef("revoke TOKEN", "Revoke a personal access token (id or name)", func(cmd *cobra.Command, cl *client.Client, id string) (any, error) {
		return cl.RevokePAT(cmd.Context(), user, id)
	})
	del := byRef("delete TOKEN", "Delete a personal access token (id or name)", func(cmd *cobra.Command, cl *client.Client, id string) (any, error) {
		return map[string]string{"deleted": id}, cl.DeletePAT(cmd.Context(), user, id)
	})
	revokeAll := &cobra.Command{
		Use: "revoke-all", Short: "Revoke all personal access tokens of the user", Args: cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			if err := confirmed(cmd, fmt.Sprintf("Revoke every personal access token of %s?", user),
				"Not revoked: pass --yes to revoke without asking."); err != nil {
				return view{}, err
			}
			n, err := cl.RevokeAllPATs(cmd.Context(), user)
			return view{api.RevokeAllResult{Revoked: n}, message("Revoked %d token(s).\n", n)}, named(err, userRef, user)
		}),
	}
	addYes(revokeAll, "revoke without asking")
	cmd.AddCommand(create, list, revoke, revokeAll, del)
	completeWith(cmd, c.completeArgs(getenv, func(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
		if len(args) != 0 {
			return nil, nil
		}
		keys, err := cl.ListPATs(ctx, user)
		return keyRefs(keys), err
	}), "revoke", "delete")
	completeFlag(list, "status", keyStatuses...)
	_ = cmd.RegisterFlagCompletionFunc("user", c.completeArgs(getenv, func(ctx context.Context, cl *client.Client, _ []string) ([]string, error) {
		return userNames(ctx, cl, nil)
	}))
	return cmd
}
