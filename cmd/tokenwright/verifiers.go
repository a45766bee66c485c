package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// What third-party verifiers do with tokenwright's signing keys, for the
// warnings of `keys rotate`. docs/signing-keys.md says the same, and a test
// keeps the two in step. The figures are each library's defaults, read in
// its source at the version named.

// unknownKIDRow says how one verifier meets a token signed by a key it has
// not fetched yet, which is what `keys rotate --now` produces.
type unknownKIDRow struct {
	Verifier string // name, and the version whose source was read
	Rejects  string // for how long it rejects tokens of the new key
	Remedy   string // what an operator can do
}

// unknownKID lists the verifiers that reject tokens of a key that signs
// before they fetched it, then, for contrast, those that do not.
var unknownKID = []unknownKIDRow{
	{"lestrrat-go/jwx v2, v3 (jwk.Cache)",
		"until its next scheduled refresh (no refetch on an unknown kid): up to signing.jwksMaxAge (default 1h), " +
			"at least 15 min; v2 up to 15 min more",
		"restart it, or call Cache.Refresh"},
	{"MicahParks/keyfunc v3.7 (NewDefault)",
		"up to 5 min: it refetches on an unknown kid at most once per 5 min",
		"wait, or restart it"},
	{"Domino REST API, jwt mode",
		"until restarted: it loads the JWKS once, at start",
		"restart restapi"},
	{"Domino server (idpcat)",
		"up to 30 s: it refetches on an unknown kid at most every 30 s",
		"if tokens are still refused (ERR_BSAFE_BAD_SIGNATURE): restart task http"},
	{"panva/jose createRemoteJWKSet",
		"up to 30 s: it refetches on an unknown kid unless it fetched in the last 30 s (cooldownDuration)",
		"-"},
	{"go-oidc RemoteKeySet, PyJWT PyJWKClient, mod_auth_openidc",
		"no rejection: they refetch on an unknown kid",
		"-"},
}

// unsupportedBy names the verifiers that refuse every token of an
// algorithm (issue 15's trial: Apache mod_auth_openidc and mod_oauth2 from
// Debian 12, jwks-rsa 3, HAProxy 2.6; Domino per docs/domino.md).
var unsupportedBy = map[string][]string{
	"EdDSA": {"Apache mod_auth_openidc", "Apache mod_oauth2", "jwks-rsa (so express-jwt and passport-jwt)", "HAProxy 2.6",
		"the Domino REST API in jwt mode (RS256 only)"},
	"PS256": {"HAProxy 2.6", "Domino (ERR_BSAFE_BAD_OPCODE)", "the Domino REST API in jwt mode (RS256 only)"},
	"RS384": {"the Domino REST API in jwt mode (RS256 only)"},
	"RS512": {"the Domino REST API in jwt mode (RS256 only)"},
	"ES256": {"the Domino REST API in jwt mode (RS256 only)"},
	"ES384": {"the Domino REST API in jwt mode (RS256 only)"},
}

// warnUnsupported tells which verifiers will refuse every token of alg.
func warnUnsupported(w io.Writer, alg string) {
	if names := unsupportedBy[alg]; len(names) > 0 {
		fmt.Fprintf(w, "warning: %s is not supported by %s: they will refuse every token from the moment a %s key signs "+
			"(docs/signing-keys.md, \"Algorithms and verifiers\").\n", alg, strings.Join(names, ", "), alg)
	}
}

// printUnknownKIDTable prints what `keys rotate --now` does to verifiers.
func printUnknownKIDTable(w io.Writer) {
	fmt.Fprintln(w, "keys rotate --now: the new key signs at once, before any verifier has fetched it.")
	fmt.Fprintln(w, "Verifiers that cache the JWKS reject its tokens until they refetch (library defaults):")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERIFIER\tREJECTS NEW TOKENS\tWHAT TO DO")
	for _, r := range unknownKID {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Verifier, r.Rejects, r.Remedy)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Without --now the new key is published first and nobody notices the rotation.")
}
