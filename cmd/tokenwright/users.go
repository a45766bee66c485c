package main

import (
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
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			in.UserName = args[0]
			u, err := cl.CreateUser(cmd.Context(), in)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), u, func(tw *tabwriter.Writer) { userTable(tw, []api.User{u}) })
		},
	}
	create.Flags().StringVar(&in.Email, "email", "", "unique email")
	create.Flags().StringArrayVar(&in.Roles, "role", nil, "role (repeatable)")
	create.Flags().BoolVar(&in.Admin, "admin", false, "make the user an administrator")
	_ = create.MarkFlagRequired("email")

	list := &cobra.Command{
		Use: "list", Short: "List users (administrators)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			users, err := cl.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), api.List[api.User]{Items: users}, func(tw *tabwriter.Writer) { userTable(tw, users) })
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a user (me for yourself)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			u, err := cl.GetUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), u, func(tw *tabwriter.Writer) { userDetail(tw, u) })
		},
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
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
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
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), u, func(tw *tabwriter.Writer) { userDetail(tw, u) })
		},
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
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			if err := cl.DeleteUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), map[string]string{"deleted": args[0]}, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Deleted user %s.\n", args[0])
			})
		},
	}
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

// userDetail shows one user with the lists that bound their tokens.
func userDetail(tw *tabwriter.Writer, u api.User) {
	rows := [][2]string{
		{"Name", u.UserName}, {"ID", u.ID}, {"Email", u.Email}, {"Admin", fmt.Sprint(u.Admin)},
		{"Status", u.Status}, {"Roles", dash(strings.Join(u.Roles, ", "))},
		{"Scopes", dash(strings.Join(u.AllowedScopes, " "))}, {"Audiences", dash(strings.Join(u.AllowedAudiences, " "))},
		{"CIDRs", dash(strings.Join(u.AllowedCIDRs, " "))}, {"Created", fmtTime(&u.CreatedAt) + " by " + dash(u.CreatedBy)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
}

func userTable(tw *tabwriter.Writer, users []api.User) {
	fmt.Fprintln(tw, "NAME\tEMAIL\tADMIN\tSTATUS\tROLES\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", u.UserName, u.Email, u.Admin, u.Status,
			dash(strings.Join(u.Roles, ",")), fmtTime(&u.CreatedAt))
	}
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			if err := setExpiry(&in, expiresIn); err != nil {
				return err
			}
			k, err := cl.CreatePAT(cmd.Context(), user, in)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), k, func(tw *tabwriter.Writer) {
				printSecret(tw, k, [2]string{"Token", k.Name + " (" + k.ID + ")"}, [2]string{"User", k.ClientID},
					[2]string{"Expires", fmtTime(k.ExpiresAt)})
			})
		},
	}
	create.Flags().StringVar(&in.Name, "name", "", "unique (per user) name: letters, digits, '-' and '.'")
	create.Flags().StringVar(&in.Description, "description", "", "free text")
	create.Flags().StringVar(&expiresIn, "expires-in", "", "lifetime such as 30d or never (default: the server's, four months)")
	_ = create.MarkFlagRequired("name")

	var all, expiring bool
	var status string
	list := &cobra.Command{
		Use: "list", Short: "List personal access tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			who := user
			if all {
				who = ""
			}
			keys, err := cl.ListPATs(cmd.Context(), who)
			if err != nil {
				return err
			}
			if expiring {
				status = api.KeyExpiringSoon
			}
			keys = filterKeys(keys, status)
			return c.print(cmd.OutOrStdout(), api.List[api.Key]{Items: keys}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tSTATUS\tCREATED\tEXPIRES\tLAST USED")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.ClientID, k.Name, strings.ReplaceAll(k.Status, "_", " "),
						fmtTime(&k.CreatedAt), fmtTime(k.ExpiresAt), lastUsed(k))
				}
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "every user's tokens (administrators)")
	list.Flags().StringVar(&status, "status", "", "only tokens with this status")
	list.Flags().BoolVar(&expiring, "expiring", false, "only tokens that expire within the warning window (for cron jobs)")

	byRef := func(use, short string, do func(cmd *cobra.Command, cl *client.Client, id string) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cl, err := c.client(getenv)
				if err != nil {
					return err
				}
				id, err := resolveKey(cmd, func() ([]api.Key, error) { return cl.ListPATs(cmd.Context(), user) }, args[0])
				if err != nil {
					return err
				}
				out, err := do(cmd, cl, id)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "Done: %s %s.\n", cmd.Name(), id) })
			},
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			n, err := cl.RevokeAllPATs(cmd.Context(), user)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), api.RevokeAllResult{Revoked: n}, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Revoked %d token(s).\n", n)
			})
		},
	}
	cmd.AddCommand(create, list, revoke, revokeAll, del)
	return cmd
}
