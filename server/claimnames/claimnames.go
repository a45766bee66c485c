// Package claimnames is the one list of the JWT claim names tokenwright
// writes into access tokens and of the names a custom claim may never take.
// The issuer (its test holds its claims struct to Issued), discovery's
// claims_supported and the validation of administrators' custom claims all
// read it, so they cannot drift apart.
package claimnames

import (
	"slices"
	"strings"
)

// issued are the claims the issuer writes, in the order Domino's
// documentation lists them ("CN" under the Domino profile only), then
// "act" (RFC 8693 §4.1), which names the external subject and issuer of a
// token obtained by exchanging a foreign token (federation) and is absent
// from every other token.
var issued = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "azp",
	"scope", "email", "CN", "roles", "act"}

// verifierMeaningful are claims tokenwright does not write but that
// verifiers give a meaning to (authorisation lists, delegation, proof of
// possession, token typing), so a custom claim must not fake them.
var verifierMeaningful = []string{"scp", "groups", "roles", "permissions", "cnf", "auth_time", "typ"}

// Issued returns the claim names the issuer writes.
func Issued() []string { return slices.Clone(issued) }

// Reserved reports whether name cannot be a custom claim: it is one of the
// issued claims or of the claims verifiers interpret, compared without
// regard to case ("Email", "ROLES" and "cn" are reserved too: verifiers
// and people differ in whether claim names are case-sensitive).
func Reserved(name string) bool {
	match := func(r string) bool { return strings.EqualFold(r, name) }
	return slices.ContainsFunc(issued, match) || slices.ContainsFunc(verifierMeaningful, match)
}
