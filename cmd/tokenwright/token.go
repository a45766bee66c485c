package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/tokencache"
)

func newTokenCommand(getenv env) *cobra.Command {
	var ep endpoint
	var clientID, clientSecret, secretFile, format string
	var scopes, audiences []string
	var noCache bool
	var federated federatedFlags
	cmd := &cobra.Command{
		Use:   "token --client-id ID [--scope S]... [--audience A]...",
		Short: "Exchange an API key for a JWT and print it",
		Long: `Exchange an API key for a short-lived JWT (OAuth 2.0 client credentials) and
print the access token, for use as: curl -H "Authorization: Bearer $(tokenwright token ...)".
The secret comes from --client-secret-file, TOKENWRIGHT_CLIENT_SECRET or
--client-secret (which other users can read in ps).

The token is cached (0600, in the user cache directory, e.g.
~/.cache/tokenwright) per server, client, secret, scopes and audiences, and
reused until shortly before it expires, so a loop that calls this command
makes one token request. The secret itself is never written. --no-cache
bypasses the cache.

With --github-actions, --gitlab-ci or --federated-token-file there is no
secret: the job's or workload's own OIDC token is exchanged (RFC 8693) for a
token of the service account --client-id, which must have a federation rule
that the token matches (tokenwright sa federation add; docs/federation.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("format") {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: --format is deprecated; use -o (--output)")
			}
			if !slices.Contains(tokenFormats, format) {
				return usageErrorf("-o must be raw, header, json or yaml, got %q", format)
			}
			issuer := ep.serverURL(getenv)
			hc, err := ep.httpClient()
			if err != nil {
				return err
			}
			subject, err := federated.source(getenv, hc, issuer)
			if err != nil {
				return err
			}
			if subject != nil {
				if clientSecret != "" || secretFile != "" {
					return usageErrorf("a federated token replaces the API key: give --client-secret(-file) or a federated token, not both")
				}
				return federatedToken(cmd, firstOf(clientID, getenv.Get("TOKENWRIGHT_CLIENT_ID")), issuer, hc, subject, scopes, audiences, noCache, format)
			}
			if secretFile != "" {
				if clientSecret != "" {
					return usageErrorf("--client-secret and --client-secret-file: give one")
				}
				s, err := proxySecret(getenv, secretFile)
				if err != nil {
					return err
				}
				clientSecret = s
			}
			clientSecret = firstOf(clientSecret, getenv.Get("TOKENWRIGHT_CLIENT_SECRET"))
			clientID = firstOf(clientID, getenv.Get("TOKENWRIGHT_CLIENT_ID"))
			if clientID == "" || clientSecret == "" {
				return usageErrorf("--client-id and a secret (--client-secret-file, TOKENWRIGHT_CLIENT_SECRET or --client-secret) are required")
			}
			ts := client.TokenSource(cmd.Context(), client.TokenConfig{
				Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret, Scopes: scopes, Audiences: audiences, HTTPClient: hc,
			})
			tok, err := cachedToken(cmd, noCache, tokencache.Key{TokenURL: client.TokenURL(issuer), ClientID: clientID,
				ClientSecret: clientSecret, Scopes: scopes, Audiences: audiences}, ts.Token)
			return printToken(cmd, tok, err, format)
		},
	}
	f := cmd.Flags()
	ep.registerEndpoint(f, serverUsage)
	f.StringVar(&clientID, "client-id", "", "service account (or user) name (env TOKENWRIGHT_CLIENT_ID)")
	f.StringVar(&clientSecret, "client-secret", "", "API key; prefer --client-secret-file or env TOKENWRIGHT_CLIENT_SECRET (flags show in ps)")
	f.StringVar(&secretFile, "client-secret-file", "", "file holding the API key")
	f.StringArrayVar(&scopes, "scope", nil, "scope to request (repeatable; default: all the key allows)")
	f.StringArrayVar(&audiences, "audience", nil, "audience to request (repeatable; default: the account's)")
	f.StringVarP(&format, "output", "o", "raw", "output: raw (the JWT), header, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(tokenFormats, cobra.ShellCompDirectiveNoFileComp))
	// --format was this command's name for -o; scripts that use it keep
	// working. Hidden rather than MarkDeprecated: cobra would print its
	// notice on stdout, into the script's $(...).
	f.StringVar(&format, "format", "raw", "deprecated: use -o")
	_ = f.MarkHidden("format")
	f.BoolVar(&noCache, "no-cache", false, "always request a new token (and do not store it)")
	federated.register(f)
	return cmd
}

// tokenFormats are the values of token's -o.
var tokenFormats = []string{"raw", "header", "json", "yaml"}

// cachedToken serves the token from the user's token cache when it can. The
// cache never stops the command from working: without a cache directory,
// or when writing fails, it warns and uses the fresh token.
func cachedToken(cmd *cobra.Command, noCache bool, key tokencache.Key, fetch func() (*oauth2.Token, error)) (*oauth2.Token, error) {
	if noCache {
		return fetch()
	}
	dir, err := tokencache.DefaultDir()
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v (not caching)\n", err)
		return fetch()
	}
	cache := &tokencache.Cache{Dir: dir, WriteError: func(err error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
	}}
	tok, _, err := cache.Token(key, fetch)
	return tok, err
}

// federatedToken exchanges a federated token for a token of the service
// account --client-id. The cache key is the federated token itself
// (hashed, never stored): the same job's token is exchanged once, which
// also keeps a token with a jti from being presented twice.
func federatedToken(cmd *cobra.Command, clientID, issuer string, hc *http.Client, subject func(context.Context) (string, error), scopes, audiences []string, noCache bool, format string) error {
	if clientID == "" {
		return usageErrorf("--client-id (the service account whose federation rule the token matches) is required")
	}
	token, err := subject(cmd.Context())
	if err != nil {
		return err
	}
	ts := client.TokenSource(cmd.Context(), client.TokenConfig{Issuer: issuer, ClientID: clientID, Scopes: scopes, Audiences: audiences, HTTPClient: hc,
		FederatedToken: func(context.Context) (string, error) { return token, nil }})
	tok, err := cachedToken(cmd, noCache, tokencache.Key{TokenURL: client.TokenURL(issuer), ClientID: clientID,
		ClientSecret: "federated:" + token, Scopes: scopes, Audiences: audiences}, ts.Token)
	return printToken(cmd, tok, err, format)
}

// printToken prints a token as -o asks, or the refusal.
func printToken(cmd *cobra.Command, tok *oauth2.Token, err error, format string) error {
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return fmt.Errorf("token request refused: %s: %s", re.ErrorCode, re.ErrorDescription)
		}
		return err
	}
	out := cmd.OutOrStdout()
	switch format {
	case "raw":
		_, err = fmt.Fprintln(out, tok.AccessToken)
	case "header":
		_, err = fmt.Fprintf(out, "Authorization: Bearer %s\n", tok.AccessToken)
	case "json", "yaml":
		v := map[string]any{"access_token": tok.AccessToken, "token_type": tok.TokenType,
			"expires_at": tok.Expiry, "scope": tok.Extra("scope")}
		if format == "yaml" {
			return writeYAML(out, v)
		}
		err = json.NewEncoder(out).Encode(v)
	}
	return err
}
