package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/dominocheck"
	"github.com/tokenwright/tokenwright/server/domino"
)

func newDominoCommand(getenv env) *cobra.Command {
	cmd := &cobra.Command{Use: "domino", Short: "Set up and check HCL Domino's trust in tokenwright"}
	cmd.AddCommand(newDominoConfigCommand(getenv), newDominoCheckCommand(getenv))
	return cmd
}

func newDominoConfigCommand(getenv env) *cobra.Command {
	var c conn
	var site, account string
	cmd := &cobra.Command{
		Use:   "config --site URL [--account NAME]",
		Short: "Print what the Domino administrator enters (idpcat, notes.ini, keepconfig.d, Person documents)",
		Long: `Print, ready to paste, the Domino configuration that makes Domino 12.0.2/14.x and
the Domino REST API trust this tokenwright: the idpcat.nsf OIDC provider fields,
the notes.ini lines for 12.0.2, the REST API's keepconfig.d JSON and the Person
document fields of each service account (or only --account). Problems that would
make Domino refuse an account's tokens are listed with their fix.`,
		Args: cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			setup, err := cl.DominoSetup(cmd.Context(), site, account)
			return view{setup, func(tw *tabwriter.Writer) {
				// The sections are preformatted text; no columns.
				fmt.Fprint(tw, domino.Render(setup))
			}}, err
		}),
	}
	c.register(cmd)
	cmd.Flags().StringVar(&site, "site", "", "Domino Internet Site URL, e.g. https://domino.example.com (default: the server's first domino.sites)")
	cmd.Flags().StringVar(&account, "account", "", "describe only this service account")
	return cmd
}

func newDominoCheckCommand(getenv env) *cobra.Command {
	var c conn
	var site, clientID, secretFile, restAPI, restScope string
	cmd := &cobra.Command{
		Use:   "check --server BASE-URL --site URL --client-id ID [--rest-api jwt|oidc-idpcat]",
		Short: "Obtain a token and validate it as Domino would, one PASS/FAIL line per rule",
		Long: `Obtain a token for --client-id (secret from TOKENWRIGHT_CLIENT_SECRET or --secret-file)
and check it, discovery and the JWKS the way Domino does: https with a trusted and
valid certificate, --server (the idpcat Base URL) equal to the issuer byte for byte,
kid in the JWKS, allowed alg, aud containing the site, scope with Domino.user.all,
sane iat/exp, email, azp, and a JWKS Cache-Control max-age.
Each failure comes with its fix; the exit status is 1 if any rule fails.

--cacert trusts a CA file as Domino's cacert.pem does (default: the system roots).
--rest-api jwt|oidc-idpcat adds the Domino REST API's rules for that keepconfig.d
mode (jwt: RS256 only, and keys read once at start, so each signing-key rotation
needs restapi restarted: the check warns with the date of the next one).
With an administrator's token (--token-file, TOKENWRIGHT_TOKEN) a refused key is
looked up to say why (expired, revoked, account deactivated, wrong secret); the
token endpoint itself never says.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret := getenv.Get("TOKENWRIGHT_CLIENT_SECRET")
			if secretFile != "" {
				data, err := os.ReadFile(secretFile)
				if err != nil {
					return fmt.Errorf("--secret-file: %w", err)
				}
				secret = strings.TrimSpace(string(data))
			}
			clientID = firstOf(clientID, getenv.Get("TOKENWRIGHT_CLIENT_ID"))
			if site == "" || clientID == "" || secret == "" {
				return usageErrorf("--site, --client-id and a secret (TOKENWRIGHT_CLIENT_SECRET or --secret-file) are required")
			}
			mode, err := dominocheck.ParseRESTAPIMode(restAPI)
			if err != nil {
				return err
			}
			hc, err := c.httpClient()
			if err != nil {
				return err
			}
			opts := dominocheck.Options{Server: c.serverURL(getenv), Site: site, ClientID: clientID, ClientSecret: secret,
				HTTPClient: hc, RESTAPI: mode, RESTScope: restScope}
			admin, err := c.optionalClient(getenv)
			if err != nil {
				return err
			}
			if admin != nil {
				opts.Admin = admin
			}
			results := dominocheck.Run(cmd.Context(), opts)
			if err := dominocheck.Write(cmd.OutOrStdout(), results); err != nil {
				return err
			}
			if dominocheck.Failed(results) {
				fmt.Fprintln(cmd.ErrOrStderr(), "Domino would not accept these tokens: fix the FAIL lines above.")
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	c.registerConnection(f, "tokenwright URL exactly as entered as idpcat Base URL (env TOKENWRIGHT_SERVER; default "+defaultServer+")")
	f.StringVar(&site, "site", "", "Domino Internet Site URL that must be in aud, e.g. https://domino.example.com")
	f.StringVar(&clientID, "client-id", "", "service account name (env TOKENWRIGHT_CLIENT_ID)")
	f.StringVar(&secretFile, "secret-file", "", "file holding the API key (default: env TOKENWRIGHT_CLIENT_SECRET)")
	f.StringVar(&restAPI, "rest-api", "", "also check the Domino REST API's rules for this keepconfig.d mode: jwt or oidc-idpcat")
	f.StringVar(&restScope, "rest-api-scope", dominocheck.DefaultRESTScope, "the scope the REST API's keepconfig.d requires (with --rest-api)")
	return cmd
}
