package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/signing"
)

// newSigningKeysCommand manages the server's JWT signing keys. (API keys
// of service accounts are `tokenwright key`.)
func newSigningKeysCommand(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the JWT signing keys published in the JWKS (administrators)",
		Long: `Manage the JWT signing keys. A new key is published in the JWKS for the
JWKS max-age plus 30 minutes before it signs anything, and a retired key stays
published for the longest token lifetime plus the max-age plus 30 minutes, so
relying parties that cache the JWKS never meet an unknown kid.
(API keys of service accounts are managed with "tokenwright key".)`,
	}
	var c conn
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys: kid, algorithm, state and dates",
		Args:  cobra.NoArgs,
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			keys, err := cl.ListSigningKeys(cmd.Context())
			return view{api.List[api.SigningKey]{Items: keys}, rows(signingKeyColumns, keys)}, err
		}),
	}
	c.register(list)

	var rc conn
	var now bool
	var algorithm string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Publish a new signing key now; it signs after the pre-publication window",
		Long: `Publish a new signing key now. It starts signing after the JWKS max-age plus
30 minutes; the current key then retires and stays published until every token it
signed has expired.

--algorithm ALG makes the new key (and every later one) an ALG key, through the
same pre-published path. The choice stands across restarts and scheduled
rotations until signing.algorithm is changed in the configuration (the server
warns at start while the two differ). Verifiers with an algorithm allow-list
must allow ALG before the new key signs.

With --now the new key signs at once: use it only when the active key is
compromised, then remove the old key with "tokenwright keys remove KID". It
first prints which verifiers will reject tokens and for how long, and needs
--yes (or an answer on a terminal).`,
		Args: cobra.NoArgs,
		RunE: rc.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			if algorithm != "" {
				// Checked here too, so that nobody is asked to confirm an
				// --now that the server would refuse anyway.
				if _, err := signing.ParseAlgorithm(algorithm); err != nil {
					return view{}, &usageError{err}
				}
			}
			stderr := cmd.ErrOrStderr()
			warnUnsupported(stderr, algorithm)
			if now {
				printUnknownKIDTable(stderr)
				if err := confirmed(cmd, "Rotate now?",
					"Not rotated: pass --yes to rotate at once, or leave out --now for a rotation no verifier notices."); err != nil {
					return view{}, err
				}
			}
			before, err := cl.ListSigningKeys(cmd.Context())
			if err != nil {
				return view{}, err
			}
			k, err := cl.RotateSigningKey(cmd.Context(), api.RotateSigningKey{Immediate: now, Algorithm: algorithm})
			if err != nil {
				return view{}, err
			}
			if i := slices.IndexFunc(before, func(b api.SigningKey) bool { return b.State == "active" }); i >= 0 && before[i].Algorithm != k.Algorithm {
				fmt.Fprintf(stderr, "The signing algorithm changes from %s to %s at %s. Verifiers with an algorithm allow-list "+
					"(PyJWT algorithms=, go-oidc SupportedSigningAlgs, jose algorithms, golang-jwt WithValidMethods) must allow %s by then; "+
					"go-oidc and oauth2-proxy started against a tokenwright older than this one need a restart (docs/signing-keys.md).\n",
					before[i].Algorithm, k.Algorithm, stamp(firstTime(k.ActivatedAt, k.ActivateAt)), k.Algorithm)
			}
			if k.ConfiguredAlgorithm != "" {
				fmt.Fprintf(stderr, "signing.algorithm is %s; the key set keeps %s until it is changed.\n", k.ConfiguredAlgorithm, k.Algorithm)
			}
			return view{k, message("New signing key %s (%s), state %s, signs from %s\n", k.KID, k.Algorithm, k.State,
				stamp(firstTime(k.ActivatedAt, k.ActivateAt)))}, nil
		}),
	}
	rc.register(rotate)
	rotate.Flags().BoolVar(&now, "now", false, "sign with the new key at once (compromised key; prints which verifiers reject tokens, needs --yes)")
	addYes(rotate, "with --now: rotate without asking")
	rotate.Flags().StringVar(&algorithm, "algorithm", "", "algorithm of the new key and of later ones: RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA")

	var dc conn
	remove := &cobra.Command{
		Use:   "remove [--] KID",
		Short: "Remove a pending or retired key from the JWKS at once (tokens it signed stop verifying)",
		Long: `Remove a pending or retired key from the JWKS at once: tokens it signed stop
verifying. A kid is base64url and may start with "-": put "--" before it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := dc.client(getenv)
			if err != nil {
				return err
			}
			if err := cl.RemoveSigningKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed signing key %s\n", args[0])
			return nil
		},
	}
	dc.register(remove)
	cmd.AddCommand(list, rotate, remove)
	return cmd
}

// newKEKCommand manages the key-encryption key (offline: the server must
// be stopped).
func newKEKCommand(getenv env) *cobra.Command {
	cmd := &cobra.Command{Use: "kek", Short: "Manage the key-encryption key that protects the signing keys"}
	var configFile, dataDir, newFile string
	var generate bool
	rotate := &cobra.Command{
		Use:   "rotate --new-kek-file FILE",
		Short: "Re-encrypt every signing key under a new KEK in one transaction (server stopped)",
		Long: `Re-encrypt every signing key under a new key-encryption key, in one
transaction: afterwards all keys are under the new KEK, or (on any error) all
are still under the old one. The current KEK comes from the usual settings
(TOKENWRIGHT_KEK, TOKENWRIGHT_KEK_FILE, kek.file, DATA/kek). Stop the server
first; start it again with the new KEK configured.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, getenv, configFile, dataDir)
			if err != nil {
				return err
			}
			n, err := server.RotateKEK(cmd.Context(), cfg, getenv.Get, newFile, generate)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Re-encrypted %d signing keys under the KEK in %s.\n"+
				"Start the server with TOKENWRIGHT_KEK_FILE=%s (or kek.file), then destroy the old KEK.\n", n, newFile, newFile)
			return nil
		},
	}
	f := rotate.Flags()
	f.StringVar(&configFile, "config", "", "config file (env TOKENWRIGHT_CONFIG)")
	f.StringVar(&dataDir, "data", "", "data directory (env TOKENWRIGHT_DATA)")
	f.StringVar(&newFile, "new-kek-file", "", "file holding the new KEK (base64 of 32 bytes)")
	f.BoolVar(&generate, "generate", false, "create the new KEK file (owner-only: mode 0600, or an owner-only ACL on Windows); it must not exist")
	_ = rotate.MarkFlagRequired("new-kek-file")
	cmd.AddCommand(rotate)
	return cmd
}

// signingKeyColumns are the columns of `keys list`. A pending key signs
// from its activation date, a later one from when it was activated.
var signingKeyColumns = []column[api.SigningKey]{
	{"KID", func(k api.SigningKey) string { return k.KID }},
	{"ALG", func(k api.SigningKey) string { return k.Algorithm }},
	{"STATE", func(k api.SigningKey) string { return k.State }},
	{"CREATED", func(k api.SigningKey) string { return stamp(k.CreatedAt) }},
	{"SIGNS FROM", func(k api.SigningKey) string {
		if k.State == "pending" {
			return stamp(k.ActivateAt)
		}
		return stamp(k.ActivatedAt)
	}},
	{"RETIRED", func(k api.SigningKey) string { return stamp(k.RetiredAt) }},
	{"REMOVED AFTER", func(k api.SigningKey) string { return stamp(k.RemoveAfter) }},
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func firstTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}

// confirm asks a yes/no question on a terminal. Without one there is
// nobody to answer, which counts as no.
func confirm(cmd *cobra.Command, question string) (bool, error) {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !isTerminal(in) {
		return false, nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && answer == "" {
		return false, nil
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}
