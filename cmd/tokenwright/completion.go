package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

// Shell completion of the things the server knows (account, user and key
// names) asks the server with the command's own --server and credentials.
// Completion must never get in the way: without credentials, or when the
// server does not answer in time, it offers nothing and says nothing.

// completionTimeout bounds a completion's call to the server: a shell
// waiting on TAB is worse than no candidates.
const completionTimeout = 3 * time.Second

// keyStatuses are the values of --status on key list and pat list.
var keyStatuses = []string{api.KeyActive, api.KeyExpiringSoon, api.KeyExpired, api.KeyRevoked}

// completeArgs completes the positional argument at index len(args) with
// the names names returns for it (nil: nothing to offer at that position).
func (c *conn) completeArgs(getenv env, names func(ctx context.Context, cl *client.Client, args []string) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cl, err := c.optionalClient(getenv)
		if err != nil || cl == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		all, err := names(ctx, cl, args)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range all {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// accountNames lists the service accounts, for the first argument.
func accountNames(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
	if len(args) != 0 {
		return nil, nil
	}
	items, err := cl.ListServiceAccounts(ctx)
	names := make([]string, 0, len(items))
	for _, sa := range items {
		names = append(names, sa.UserName)
	}
	return names, err
}

// accountThenKey completes ACCOUNT KEY: accounts first, then the names and
// ids of that account's keys.
func accountThenKey(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
	switch len(args) {
	case 0:
		return accountNames(ctx, cl, args)
	case 1:
		keys, err := cl.ListKeys(ctx, args[0])
		return keyRefs(keys), err
	}
	return nil, nil
}

// userNames lists the users, for the first argument.
func userNames(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
	if len(args) != 0 {
		return nil, nil
	}
	items, err := cl.ListUsers(ctx)
	names := make([]string, 0, len(items))
	for _, u := range items {
		names = append(names, u.UserName)
	}
	return names, err
}

// keyRefs are the names and ids a key argument accepts.
func keyRefs(keys []api.Key) []string {
	out := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k.Name, k.ID)
	}
	return out
}

// completeWith sets ValidArgsFunction on the named subcommands of parent.
func completeWith(parent *cobra.Command, f cobra.CompletionFunc, names ...string) {
	for _, sub := range parent.Commands() {
		for _, n := range names {
			if sub.Name() == n {
				sub.ValidArgsFunction = f
			}
		}
	}
}

// completeFlag offers fixed values for a flag of cmd.
func completeFlag(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}
