// Package federation lets a workload prove who it is with a token its own
// platform gave it (GitHub Actions, GitLab CI, a Kubernetes projected
// service-account token, a SPIFFE JWT-SVID, another OpenID issuer) instead
// of a secret stored for tokenwright: an administrator puts federation
// rules on a service account (which issuer, which audience, which claims),
// and the token endpoint exchanges a foreign token that verifies and
// matches a rule for a token of that account.
//
// Two questions, two homes:
//   - Is the foreign token genuine? issuers.go, fetch.go and verify.go:
//     Issuers.Verify checks the signature against the issuer's published
//     keys (discovery and JWKS fetched over https only, with timeouts, size
//     caps, no redirects, and a cache bounded below and above whatever
//     Cache-Control says, refetched for an unknown kid at most once per 30
//     s), an asymmetric algorithm allow-list, and iss, aud, exp, nbf, iat.
//     A failure is an *Invalid with a Reason (errors.Is ErrInvalidToken).
//   - Does the genuine token's claim set satisfy a rule? rule.go, match.go
//     and cel.go: ValidateRule and Match (subject, exact claims, a CEL
//     condition, the token's age and jti).
//
// The replay record of accepted jtis lives in the store
// (store.ConsumeForeignToken) so that it holds across replicas and restarts.
package federation
