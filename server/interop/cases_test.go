package interop

import (
	"context"
	"testing"
)

// This file is the one table: it drives the tests (interop_test.go) and is
// rendered into docs/verifiers.md (docs_test.go). A row with an Obtain or a
// NewVerifier is run by the suite; a row without is what issue 15 reported
// and is marked as not tested here.

// suiteAlgorithms are the signing algorithms every run row is tested with:
// one server per algorithm.
var suiteAlgorithms = []string{"RS256", "ES256"}

type role int

const (
	roleClient role = iota
	roleVerifier
)

// authMethod is a token-endpoint client authentication method.
type authMethod string

const (
	basic         authMethod = "client_secret_basic"
	post          authMethod = "client_secret_post"
	privateKeyJWT authMethod = "private_key_jwt"
)

// versionSource says where a version is pinned, and so where the suite
// probes it.
type versionSource int

const (
	goModule      versionSource = iota + 1 // go.mod, probed in the test binary's build info
	npmPackage                             // testdata/node/package-lock.json, probed in node_modules
	debianPackage                          // a Debian bookworm package, probed with dpkg-query -W (upstream part)
)

// pin is one pinned dependency of a row.
type pin struct {
	Source  versionSource
	Package string // module path, npm name or Debian package name
	Version string // as pinned; for Debian the upstream version
}

// clientCase is one way a client obtains a token. Works false records a
// limit the suite proves: the server refuses what the client sends.
type clientCase struct {
	Name   string // unique within the row; names the case in test output
	Method authMethod
	Works  bool
	Note   string // how, or why it is refused (markdown, rendered)
	// Refused is, for a case that does not work, the OAuth error the
	// client must report.
	Refused string
	// Sends is a form pair "name=value" the request must carry, checked
	// where the obtainer records the request.
	Sends string
}

// obtained is the outcome of one clientCase: a token, or the error the
// client reported. Sent records what went over the wire where the case is
// about the request itself (the zitadel client's empty scope).
type obtained struct {
	Token string
	Err   string
	Sent  string
}

// obtainer runs a client's cases against e and returns outcomes by case
// name. It runs after the signing-key rotation, on real time.
type obtainer func(t *testing.T, e *env, cases []clientCase) map[string]obtained

// verdict is a verifier's answer. Reason classifies a rejection as one of
// the reason* constants when the verifier can tell, and is empty when it
// cannot (then only OK is checked).
type verdict struct {
	OK     bool
	Reason string
	Detail string
}

const (
	reasonSignature = "signature"
	reasonExpired   = "expired"
	reasonAudience  = "audience"
	reasonOther     = "other"
)

// verifier checks tokens for e.Audience and e.Issuer. An error means the
// harness broke (a dead process), not that the token was rejected.
type verifier interface {
	Verify(ctx context.Context, token string) (verdict, error)
	Close()
}

// cacheExpirer is a verifier whose JWK Set cache also refreshes on a timer
// shorter than the shortest pre-publication window (jwksMaxAge + 30 m =
// 31 m) with its default settings, not only on an unknown kid. The
// scenario calls ExpireCache once the new key is published, standing in
// for the minutes that pass before it signs; verifiers without a timer
// that short meet the new key through their unknown-kid refresh, as they
// would in production.
type cacheExpirer interface {
	ExpireCache(ctx context.Context) error
}

// verifierFactory creates a verifier that fetches discovery and JWKS from
// e's server over TLS. It is called once per server, before the rotation.
type verifierFactory func(ctx context.Context, e *env) (verifier, error)

// requirement reports why a row cannot run here ("" when it can).
type requirement func() string

// component is one row of the compatibility table.
type component struct {
	Name     string // product, as users know it
	API      string // the entry point used (markdown)
	Role     role
	Language string
	Pins     []pin // empty: not pinned (not run by the suite)
	// Configure is what a deployment sets for this product (markdown).
	Configure string
	// Algorithms, for rows the suite does not run, is what issue 15
	// reported; for run rows it is appended to the tested algorithms.
	Algorithms string
	// Works, for rows the suite does not run, is what issue 15 reported.
	// For run rows it is generated from Cases or from the verifier checks.
	Works string
	Needs []requirement
	// FrozenAlgorithms: the verifier accepts only the algorithms the
	// discovery document listed when it was created (TestAlgorithmChange).
	FrozenAlgorithms bool

	// ProvenBy, for rows proven by their own tests rather than the common
	// scenario, says which tests and what they prove.
	ProvenBy string

	// Run by the suite when set:
	Cases       []clientCase
	Obtain      obtainer
	NewVerifier verifierFactory
}

func (c component) tested() bool { return c.Obtain != nil || c.NewVerifier != nil }

// unmet returns the first unmet requirement, or "".
func (c component) unmet() string {
	for _, need := range c.Needs {
		if why := need(); why != "" {
			return why
		}
	}
	return ""
}

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// secretCases are the two client-secret methods.
func secretCases(basicNote, postNote string) []clientCase {
	return []clientCase{
		{Name: "basic", Method: basic, Works: true, Note: basicNote},
		{Name: "post", Method: post, Works: true, Note: postNote},
	}
}

// components is the table, in the order the document lists it.
func components() []component {
	return []component{
		// Clients the suite runs.
		{
			Name: "golang.org/x/oauth2", API: "`clientcredentials.Config`", Role: roleClient, Language: "Go",
			Pins: []pin{{goModule, "golang.org/x/oauth2", "v0.37.0"}},
			Cases: append(secretCases("`AuthStyle: oauth2.AuthStyleInHeader`", "`AuthStyle: oauth2.AuthStyleInParams`"),
				clientCase{Name: "assertion", Method: privateKeyJWT, Works: true,
					Note: "assertion signed by the caller, sent as `EndpointParams` (`client_assertion`, `client_assertion_type`) with `AuthStyleInParams`"}),
			Configure: "`TokenURL` = the discovery document's `token_endpoint`; a private CA through the `*http.Client` in the context (`oauth2.HTTPClient`)",
			Obtain:    obtainXOAuth2,
		},
		{
			Name: "zitadel/oidc client", API: "`client.CallTokenEndpointWithAuthFn` with `oidc.ClientCredentialsRequest`", Role: roleClient, Language: "Go",
			Pins: []pin{{goModule, "github.com/zitadel/oidc/v3", "v3.49.2"}},
			Cases: []clientCase{
				{Name: "basic", Method: basic, Works: true, Note: "auth function `httphelper.AuthorizeBasic`"},
				{Name: "post", Method: post, Works: true, Note: "`ClientID`/`ClientSecret` in the request"},
				{Name: "no scope", Method: post, Works: true, Sends: "scope=", Note: "no scope asked: the client sends `scope=`, which tokenwright reads as none (issue 15, finding 1)"},
				{Name: "assertion", Method: privateKeyJWT, Works: true, Note: "`ClientAssertion` signed by the caller with a `jti`"},
				{Name: "profile assertion", Method: privateKeyJWT, Works: false, Refused: "invalid_client",
					Note: "`client.SignedJWTProfileAssertion` builds no `jti`, which tokenwright requires (OpenID Connect Core §9) to refuse replays: refused with `invalid_client`"},
				{Name: "profile token source", Method: privateKeyJWT, Works: false, Refused: "invalid_request", Sends: "grant_type=" + jwtBearerGrant,
					Note: "`profile.NewJWTProfileTokenSource` asks for the JWT bearer grant (RFC 7523 §2.1) with an assertion of the account's own key and no `client_id`; tokenwright's JWT bearer grant exchanges foreign tokens only (workload identity federation) for the account `client_id` names: refused with `invalid_request`"},
			},
			Configure: "the token endpoint from `client.Discover`",
			Obtain:    obtainZitadel,
		},
		{
			Name: "Authlib", API: "`OAuth2Session.fetch_token(grant_type='client_credentials')`", Role: roleClient, Language: "Python",
			Pins: []pin{{debianPackage, "python3-authlib", "1.2.0"}, {debianPackage, "python3-requests", "2.28.1"}},
			Cases: append(secretCases("`token_endpoint_auth_method='client_secret_basic'`", "`token_endpoint_auth_method='client_secret_post'`"),
				clientCase{Name: "assertion", Method: privateKeyJWT, Works: true,
					Note: "`PrivateKeyJWT(token_endpoint, alg=...)` registered with `register_client_auth_method`, the PEM private key as the client secret"}),
			Configure: "a private CA through `verify=` on `fetch_token` (requests lets `REQUESTS_CA_BUNDLE` and `CURL_CA_BUNDLE` override `session.verify`); " +
				"`alg` of `PrivateKeyJWT` when the key is not RSA",
			Needs:  []requirement{pythonModules("python3-authlib python3-requests", "authlib", "requests")},
			Obtain: obtainAuthlib,
		},
		{
			Name: "openid-client", API: "`discovery` + `clientCredentialsGrant`", Role: roleClient, Language: "Node.js",
			Pins: []pin{{npmPackage, "openid-client", "6.9.0"}},
			Cases: append(secretCases("`ClientSecretBasic(secret)`", "`ClientSecretPost(secret)`"),
				clientCase{Name: "assertion", Method: privateKeyJWT, Works: true, Note: "`PrivateKeyJwt(key)` with a key from jose `importPKCS8`"}),
			Configure: "a private CA through `NODE_EXTRA_CA_CERTS`",
			Needs:     []requirement{nodePackages},
			Obtain:    obtainOpenIDClient,
		},
		// Verifiers the suite runs.
		{
			Name: "go-oidc", API: "`oidc.NewProvider` + `Provider.Verifier`", Role: roleVerifier, Language: "Go",
			Pins: []pin{{goModule, "github.com/coreos/go-oidc/v3", "v3.21.0"}},
			Configure: "`oidc.Config{ClientID: <audience>}`; the HTTP client for a private CA through `oidc.ClientContext`. " +
				"`SupportedSigningAlgs` is not needed: discovery lists every algorithm tokenwright can sign with, so a change of " +
				"`signing.algorithm` (or `keys rotate --algorithm`) strands no verifier that read it at start (issue 15, finding 3)",
			FrozenAlgorithms: true,
			NewVerifier:      newGoOIDC,
		},
		{
			Name: "keyfunc", API: "`keyfunc.NewDefaultOverrideCtx` + golang-jwt `jwt.Parse`", Role: roleVerifier, Language: "Go",
			Pins: []pin{{goModule, "github.com/MicahParks/keyfunc/v3", "v3.9.2"}, {goModule, "github.com/golang-jwt/jwt/v5", "v5.3.1"}},
			Configure: "the `jwks_uri` (no discovery); `jwt.WithAudience`, `jwt.WithIssuer`, `jwt.WithValidMethods` naming the server's algorithm " +
				"(and the new one before a change of `signing.algorithm`); a private CA through `Override.Client`. " +
				"By default it refreshes the set hourly and on an unknown `kid` at most once per 5 minutes: rotate with the pre-published `keys rotate`, not `--now` (issue 15, finding 4)",
			NewVerifier: newKeyfunc,
		},
		{
			Name: "PyJWT", API: "`PyJWKClient` + `jwt.decode`", Role: roleVerifier, Language: "Python",
			Pins: []pin{{debianPackage, "python3-jwt", "2.6.0"}},
			Configure: "the `jwks_uri`; `algorithms=` naming the server's algorithm (and the new one before a change of `signing.algorithm`); `audience=`, `issuer=`. " +
				"This version's `PyJWKClient` takes no TLS context: a private CA through `SSL_CERT_FILE`",
			Needs:       []requirement{pythonModules("python3-jwt", "jwt", "cryptography")},
			NewVerifier: newPyJWT,
		},
		{
			Name: "jose", API: "`createRemoteJWKSet` + `jwtVerify`", Role: roleVerifier, Language: "Node.js",
			Pins:        []pin{{npmPackage, "jose", "6.2.18"}},
			Configure:   "the `jwks_uri`; `issuer`, `audience`; a private CA through `NODE_EXTRA_CA_CERTS`",
			Needs:       []requirement{nodePackages},
			NewVerifier: newJose,
		},
		{
			Name: "zitadel/oidc verifier", API: "`op.NewAccessTokenVerifier` + `op.VerifyAccessToken` with `rp.NewRemoteKeySet`", Role: roleVerifier, Language: "Go",
			Pins: []pin{{goModule, "github.com/zitadel/oidc/v3", "v3.49.2"}},
			Configure: "issuer and `jwks_uri` from `client.Discover`; compare `aud` yourself: `VerifyAccessToken` checks issuer, signature and expiry only. " +
				"Its default algorithms are RS256, ES256 and PS256 (others through `WithSupportedAccessTokenSigningAlgorithms`)",
			NewVerifier: newZitadelVerifier,
		},

		// Proven by its own tests (apache_test.go): Apache is a server in
		// front of an application, not a library the common scenario calls.
		{
			Name: "Apache httpd mod_auth_openidc", API: "`AuthType oauth20` (resource server)", Role: roleVerifier,
			Language: "C, Debian package",
			// apache2 itself is not pinned: its upstream version moves with
			// Debian's security updates; the module's does not.
			Pins: []pin{{debianPackage, "libapache2-mod-auth-openidc", "2.4.12.3"}},
			Works: "accepts a fresh token over a TLS-fetched JWKS (`REMOTE_USER` = `sub`); rejects a tampered one, an expired one, " +
				"one for another audience (only when required by `Require claim`); the same process accepts the new key's tokens " +
				"after a pre-published `keys rotate` and after `keys rotate --now` (it refetches the JWKS on an unknown `kid`, " +
				"not rate-limited); introspection results cannot be cached (\"cache key size is too large (868 >= 512)\", issue 15)",
			Configure: "`OIDCOAuthVerifyJwksUri` = the `jwks_uri`; `Require claim \"aud:…\"` and `Require claim \"iss:…\"` " +
				"(the module checks only signature and `exp`); `OIDCCABundlePath` for a private CA; validate JWTs against the " +
				"`jwks_uri` rather than by introspection. See the Apache section below",
			Algorithms: "RS256, ES256; EdDSA refused (its JOSE library has none)",
			ProvenBy:   "yes, over TLS, for RS256 and ES256 (EdDSA refused), by `TestApacheModAuthOpenIDC…` in `apache_test.go`",
		},
		// What issue 15 reported and the suite does not run.
		{
			Name: "Apache httpd mod_oauth2", Role: roleVerifier, Language: "C, Debian package",
			Works:      "RS256 and ES256 tokens accepted",
			Algorithms: "RS256, ES256; not EdDSA",
		},
		{
			Name: "HAProxy 2.6", API: "`jwt_verify`", Role: roleVerifier, Language: "C",
			Works: "RS256 and ES256 signatures verified; `aud` is always an array, so the documented " +
				"`jwt_payload_query('$.aud')` check reads nothing",
			Configure:  "an account with one audience and `audienceFormat: string`",
			Algorithms: "RS256, ES256; not EdDSA, not PS256",
		},
		{
			Name: "lestrrat-go/jwx", Role: roleVerifier, Language: "Go",
			Works: "pre-published `keys rotate` transparent; it never refetches the set on an unknown `kid`, so after " +
				"`keys rotate --now` every fresh token was rejected until its cache expired (7 minutes in the trial)",
			Configure:  "rotate with the pre-published `keys rotate`",
			Algorithms: "RS256, ES256",
		},
		{
			Name: "oauth2-proxy", Role: roleVerifier, Language: "Go",
			Works: "pre-published `keys rotate` transparent; the accepted algorithms are frozen at start, so a " +
				"change of `signing.algorithm` rejected every token from the moment the new key signed",
			Configure: "it uses go-oidc, which accepts what discovery listed at its start; discovery now lists every algorithm " +
				"tokenwright can sign with (proven with go-oidc above), so no restart should be needed; not re-run here",
			Algorithms: "RS256, ES256",
		},
		{
			Name: "oauth4webapi", API: "`validateJwtAccessToken`", Role: roleVerifier, Language: "Node.js",
			Works:      "rejects `typ: JWT` (RFC 9068 wants `at+jwt`)",
			Configure:  "an account with `tokenType: at+jwt`",
			Algorithms: "RS256, ES256",
		},
		{
			Name: "express-oauth2-jwt-bearer", Role: roleVerifier, Language: "Node.js",
			Works:      "works by default; with `strict: true` rejects `typ: JWT`",
			Configure:  "with `strict: true`, an account with `tokenType: at+jwt`",
			Algorithms: "RS256, ES256",
		},
		{
			Name: "jwks-rsa (express-jwt, passport-jwt)", Role: roleVerifier, Language: "Node.js",
			Works:      "RS256 and ES256 tokens accepted",
			Algorithms: "RS256, ES256; not EdDSA",
		},
		{
			Name: "jwcrypto", Role: roleVerifier, Language: "Python",
			Works:      "RS256 and ES256 tokens accepted",
			Algorithms: "RS256, ES256",
		},
		{
			Name: "oauth2c", Role: roleClient, Language: "Go, command line",
			Works: "client credentials with `client_secret_basic`, `client_secret_post`",
		},
		{
			Name: "oauth4webapi", API: "`clientCredentialsGrantRequest`", Role: roleClient, Language: "Node.js",
			Works: "client credentials",
		},
	}
}
