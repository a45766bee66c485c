package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/dominocheck"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssocheck"
)

func newSSOCommand(getenv env) *cobra.Command {
	cmd := &cobra.Command{Use: "sso", Short: "Check the single sign-on provider's setup"}
	cmd.AddCommand(newSSOCheckCommand(getenv))
	return cmd
}

func newSSOCheckCommand(getenv env) *cobra.Command {
	var configFile string
	var signIn bool
	cmd := &cobra.Command{
		Use:   "check [--config FILE] [--sign-in]",
		Short: "Check the provider's discovery, the client credentials and the redirect URI, one PASS/FAIL line per rule",
		Long: `Read the configuration as serve does (--config or TOKENWRIGHT_CONFIG, the TOKENWRIGHT_*
environment, the client secret from TOKENWRIGHT_SSO_CLIENT_SECRET or sso.clientSecretFile, or
the key of sso.clientKeyFile) and check, against the provider, what single sign-on needs:

  discovery   the issuer equal to sso.issuer character for character; the authorization,
              token and JWKS endpoints; the code flow and PKCE S256; sso.scopes and the
              username, email and groups claims, where the provider lists what it supports;
              the client authentication method; end_session_endpoint (sign-out)
  credentials a code exchange with a made-up code and the configured credentials:
              invalid_grant means they were accepted, invalid_client that they were refused
  redirect    an authorization request with ISSUER/ui/callback, not followed: the
              provider's login page means it is registered, its error page that it is not

Each failure comes with its fix; the exit status is 1 if any rule fails. --sign-in also
prints the URL of a check sign-in at this tokenwright (the server must run with this
configuration): sign in there and the page shows the claims tokenwright reads and what it
would do (user name, email, groups, administrator, roles, allowed or refused and why),
changing nothing: no user is created or updated and no session is made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, getenv, configFile, "")
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if !cfg.SSO.Enabled() {
				return errors.New("sso.issuer is not set in the configuration: single sign-on is off")
			}
			client, err := sso.LoadClientAuth(cfg.SSO, getenv.Get)
			if err != nil {
				return err
			}
			results := ssocheck.Run(cmd.Context(), ssocheck.Options{SSO: cfg.SSO, PublicURL: cfg.Issuer, Client: client})
			if err := dominocheck.Write(cmd.OutOrStdout(), results); err != nil {
				return err
			}
			if signIn {
				fmt.Fprintf(cmd.OutOrStdout(), "\nSign in here to see the claims tokenwright reads and what it would do (nothing is changed):\n%s\n",
					sso.CheckSignInURL(cfg.Issuer))
			}
			if dominocheck.Failed(results) {
				fmt.Fprintln(cmd.ErrOrStderr(), "Single sign-on would not work: fix the FAIL lines above.")
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file (env TOKENWRIGHT_CONFIG)")
	cmd.Flags().BoolVar(&signIn, "sign-in", false, "also print the URL of a check sign-in that shows the claims of a real sign-in and changes nothing")
	return cmd
}
