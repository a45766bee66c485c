package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/duration"
)

func newKeyCommand(getenv env) *cobra.Command {
	var c conn
	cmd := &cobra.Command{Use: "key", Short: "Manage service-account API keys"}
	c.register(cmd)

	var in api.CreateKey
	var expiresIn, publicKeyFile string
	create := &cobra.Command{
		Use:   "create ACCOUNT --name NAME [--expires-in DURATION]",
		Short: "Create an API key (the secret is shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			if err := setExpiry(&in, expiresIn); err != nil {
				return view{}, err
			}
			if publicKeyFile != "" {
				pem, err := os.ReadFile(publicKeyFile)
				if err != nil {
					return view{}, fmt.Errorf("--public-key-file: %w", err)
				}
				in.PublicKey = string(pem)
			}
			k, err := cl.CreateKey(cmd.Context(), args[0], in)
			err = named(err, accountRef, args[0])
			return view{k, func(tw *tabwriter.Writer) {
				printSecret(tw, k, field{"Key", k.Name + " (" + k.ID + ")"}, field{"Client ID", k.ClientID},
					field{"Expires", fmtTime(k.ExpiresAt)})
			}}, err
		}),
	}
	f := create.Flags()
	f.StringVar(&in.Name, "name", "", "a label for the key, e.g. the pipeline that uses it")
	f.StringVar(&in.Description, "description", "", "free text")
	f.StringVar(&expiresIn, "expires-in", "", "lifetime such as 90d, 12h, or never (default: the server's, four months)")
	f.StringArrayVar(&in.Scopes, "scope", nil, "restrict the key to this scope (repeatable)")
	f.StringArrayVar(&in.Audiences, "audience", nil, "restrict the key to this audience (repeatable)")
	f.StringArrayVar(&in.CIDRs, "cidr", nil, "restrict the key to this source CIDR (repeatable)")
	f.StringVar(&publicKeyFile, "public-key-file", "", "register this public key (PEM or JWK) for private_key_jwt instead of issuing a secret")
	_ = create.MarkFlagRequired("name")

	var status string
	var expiring bool
	list := &cobra.Command{
		Use:   "list ACCOUNT",
		Short: "List an account's keys",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			if expiring {
				status = api.KeyExpiringSoon
			}
			keys, err := cl.ListKeysByStatus(cmd.Context(), args[0], status)
			return view{api.List[api.Key]{Items: keys}, rows(keyColumns, keys)}, named(err, accountRef, args[0])
		}),
	}
	list.Flags().StringVar(&status, "status", "", "only keys with this status: active, expiring_soon, expired, revoked")
	list.Flags().BoolVar(&expiring, "expiring", false, "only keys that expire within the warning window (for cron jobs)")

	// onKey runs do for a command whose arguments are ACCOUNT KEY, with
	// KEY (an id or a name) resolved to an id.
	onKey := func(do func(cmd *cobra.Command, cl *client.Client, account, id string) (view, error)) func(*cobra.Command, []string) error {
		return c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			owner := fmt.Sprintf(accountRef, args[0])
			id, err := resolveKey(cmd, func() ([]api.Key, error) { return cl.ListKeys(cmd.Context(), args[0]) }, args[1], owner)
			if err != nil {
				return view{}, err
			}
			v, err := do(cmd, cl, args[0], id)
			return v, named(err, "key %q of %s", args[1], owner)
		})
	}

	var grace string
	rotate := &cobra.Command{
		Use:   "rotate ACCOUNT KEY",
		Short: "Give a key a new secret; the old one keeps working for --grace (default 24h)",
		Args:  cobra.ExactArgs(2),
		RunE: onKey(func(cmd *cobra.Command, cl *client.Client, account, id string) (view, error) {
			var g *time.Duration
			if grace != "" {
				d, err := duration.Parse(grace)
				if err != nil {
					return view{}, usageErrorf("--grace: %w", err)
				}
				g = &d
			}
			k, err := cl.RotateKey(cmd.Context(), account, id, g)
			return view{k, func(tw *tabwriter.Writer) {
				old := "stopped working now"
				if k.PreviousSecretExpiresAt != nil {
					old = "works until " + fmtTime(k.PreviousSecretExpiresAt)
				}
				printSecret(tw, k, field{"Key", k.Name + " (" + k.ID + ")"}, field{"Client ID", k.ClientID},
					field{"Old secret", old})
			}}, err
		}),
	}
	rotate.Flags().StringVar(&grace, "grace", "", "how long the old secret keeps working, e.g. 1h, 7d, or 0 (default 24h)")

	revoke := &cobra.Command{
		Use:   "revoke ACCOUNT KEY",
		Short: "Revoke a key (KEY is its id or name); it stays listed",
		Args:  cobra.ExactArgs(2),
		RunE: onKey(func(cmd *cobra.Command, cl *client.Client, account, id string) (view, error) {
			k, err := cl.RevokeKey(cmd.Context(), account, id)
			return view{k, rows(keyColumns, []api.Key{k})}, err
		}),
	}
	revokeAll := &cobra.Command{
		Use:   "revoke-all ACCOUNT",
		Short: "Revoke every key of an account",
		Args:  cobra.ExactArgs(1),
		RunE: c.run(getenv, func(cmd *cobra.Command, args []string, cl *client.Client) (view, error) {
			if err := confirmed(cmd, fmt.Sprintf("Revoke every key of %s?", args[0]),
				"Not revoked: pass --yes to revoke without asking."); err != nil {
				return view{}, err
			}
			n, err := cl.RevokeAllKeys(cmd.Context(), args[0])
			return view{api.RevokeAllResult{Revoked: n}, message("Revoked %d key(s) of %s.\n", n, args[0])}, named(err, accountRef, args[0])
		}),
	}
	addYes(revokeAll, "revoke without asking")
	del := &cobra.Command{
		Use:   "delete ACCOUNT KEY",
		Short: "Delete a key and its metadata (KEY is its id or name)",
		Args:  cobra.ExactArgs(2),
		RunE: onKey(func(cmd *cobra.Command, cl *client.Client, account, id string) (view, error) {
			if err := confirmed(cmd, fmt.Sprintf("Delete key %s of %s?", id, account),
				"Not deleted: pass --yes to delete without asking."); err != nil {
				return view{}, err
			}
			return deleted(id, "Deleted key %s.\n"), cl.DeleteKey(cmd.Context(), account, id)
		}),
	}
	addYes(del, "delete without asking")
	cmd.AddCommand(create, list, rotate, revoke, revokeAll, del)
	completeWith(cmd, c.completeArgs(getenv, accountNames), "create", "list", "revoke-all")
	completeWith(cmd, c.completeArgs(getenv, accountThenKey), "rotate", "revoke", "delete")
	completeFlag(list, "status", keyStatuses...)
	return cmd
}

// resolveKey turns a key id or name into an id. An id is used as is; a
// name must match exactly one key. owner names whose keys list lists, for
// the not-found errors (service account "ci-bot").
func resolveKey(cmd *cobra.Command, list func() ([]api.Key, error), ref, owner string) (string, error) {
	keys, err := list()
	if err != nil {
		return "", named(err, "%s", owner)
	}
	var matches []string
	for _, k := range keys {
		if k.ID == ref {
			return k.ID, nil
		}
		if k.Name == ref {
			matches = append(matches, k.ID)
		}
	}
	switch len(matches) {
	case 0:
		return "", &notFoundError{what: fmt.Sprintf("key %q of %s", ref, owner)}
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("%d keys are named %q; use one of their ids: %s", len(matches), ref, strings.Join(matches, ", "))
}

// The columns of the key tables: keyColumns for a service account's keys,
// patColumns for personal access tokens, which name their user.
var (
	keyID          = column[api.Key]{"ID", func(k api.Key) string { return k.ID }}
	keyName        = column[api.Key]{"NAME", func(k api.Key) string { return k.Name }}
	keyStatus      = column[api.Key]{"STATUS", func(k api.Key) string { return strings.ReplaceAll(k.Status, "_", " ") }}
	keyCreated     = column[api.Key]{"CREATED", func(k api.Key) string { return fmtTime(&k.CreatedAt) }}
	keyExpires     = column[api.Key]{"EXPIRES", func(k api.Key) string { return fmtTime(k.ExpiresAt) }}
	keyLastUsed    = column[api.Key]{"LAST USED", lastUsed}
	keyDescription = column[api.Key]{"DESCRIPTION", func(k api.Key) string { return dash(k.Description) }}
	patUser        = column[api.Key]{"USER", func(k api.Key) string { return k.ClientID }}

	keyColumns = []column[api.Key]{keyID, keyName, keyStatus, keyCreated, keyExpires, keyLastUsed, keyDescription}
	patColumns = []column[api.Key]{keyID, patUser, keyName, keyStatus, keyCreated, keyExpires, keyLastUsed}
)

func lastUsed(k api.Key) string {
	if k.LastUsedAt == nil {
		return "never"
	}
	return fmtTime(k.LastUsedAt) + " from " + dash(k.LastUsedIP)
}
