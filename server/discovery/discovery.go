// Package discovery serves the provider's public documents: the OAuth 2.0
// Authorization Server Metadata and OpenID Provider Metadata (one document
// for both /.well-known paths) and the JSON Web Key Set, each from
// pre-serialised bytes with Cache-Control (and, for the key set, a strong
// ETag), so that they advertise exactly what works (docs/discovery.md).
package discovery

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/claimnames"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/server/signing"
)

// Documents serves the metadata and the key set of one issuer.
type Documents struct {
	issuer string
	// scopes are the scopes an account without its own list may ask for
	// (accounts.Service.AdvertisedScopes).
	scopes func() []string
	keys   *signing.Manager
	now    func() time.Time
	// metadata caches the serialised metadata for one key set.
	metadata atomic.Pointer[entry]
}

// New returns the documents of issuer, whose keys are held by keys.
func New(issuer string, scopes func() []string, keys *signing.Manager, now func() time.Time) *Documents {
	return &Documents{issuer: issuer, scopes: scopes, keys: keys, now: now}
}

// metadata is the OAuth 2.0 Authorization Server Metadata (RFC
// 8414) and the OpenID Provider Metadata (OpenID Connect Discovery 1.0).
// Both paths serve the same document: every member below is either
// defined by one specification and registered for the other (RFC 8414
// §7.1.2 registers OpenID's), or defined by both, and no member's honest
// value differs between them; so a verifier reads the same answer
// whichever document it fetches. It is our own type rather than
// oidc.DiscoveryConfiguration so that it advertises exactly what works.
// Members with zero elements are omitted (RFC 8414 §3.2). Why each member
// is what it is (docs/discovery.md has the table):
//   - authorization_endpoint, response_types_supported ["code"]: required
//     by OpenID Discovery (the endpoint) and by RFC 8414 (a non-empty
//     list). This server's grants (oauth.GrantTypesSupported: client
//     credentials, and token exchange and jwt-bearer for foreign tokens)
//     all work at the token endpoint alone, so the endpoint exists to refuse: oauth.Authorize answers every request
//     with an RFC 6749 error and never redirects. authorization_code is
//     not in grant_types_supported.
//   - *_endpoint_auth_signing_alg_values_supported: RFC 8414 makes them
//     MUST when private_key_jwt is listed for that endpoint; it is for all
//     three, with the one list of accepted assertion algorithms.
//   - scopes_supported (RECOMMENDED): accounts.AdvertisedScopes, the
//     scopes an account without its own list may ask for; accounts' own
//     lists are not published (RFC 8414 lets a server omit some).
//     "openid" is absent because no ID token is ever issued.
//   - id_token_signing_alg_values_supported: OpenID Discovery requires it
//     and requires RS256 in it. No ID token is issued; verifiers (go-oidc,
//     oauth2-proxy) read it as the algorithms of the issuer's tokens, so it
//     lists the published keys' algorithms, plus RS256 when no key uses it
//     (harmless: a token is only accepted with a key from jwks_uri).
//   - subject_types_supported ["public"] (OpenID, required): sub is the
//     client id for every verifier.
//   - request_uri_parameter_supported false: OpenID's default is true,
//     which would claim support for request_uri.
type metadata struct {
	Issuer                                             string   `json:"issuer"`
	AuthorizationEndpoint                              string   `json:"authorization_endpoint"`
	TokenEndpoint                                      string   `json:"token_endpoint"`
	IntrospectionEndpoint                              string   `json:"introspection_endpoint"`
	RevocationEndpoint                                 string   `json:"revocation_endpoint"`
	JWKSURI                                            string   `json:"jwks_uri"`
	ScopesSupported                                    []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                             []string `json:"response_types_supported"`
	GrantTypesSupported                                []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported                  []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported          []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported             []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	SubjectTypesSupported                              []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported                   []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                                    []string `json:"claims_supported"`
	RequestURIParameterSupported                       bool     `json:"request_uri_parameter_supported"`
	ServiceDocumentation                               string   `json:"service_documentation,omitempty"`
}

func (d *Documents) document() []byte {
	// Every endpoint that authenticates clients accepts the same methods
	// and the same assertion algorithms (oauth.Server.authenticate).
	authMethods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	assertionAlgs := accounts.AssertionAlgorithms()
	md := metadata{
		Issuer:                            d.issuer,
		AuthorizationEndpoint:             d.issuer + oauth.AuthorizePath,
		TokenEndpoint:                     d.issuer + oauth.TokenPath,
		IntrospectionEndpoint:             d.issuer + oauth.IntrospectPath,
		RevocationEndpoint:                d.issuer + oauth.RevokePath,
		JWKSURI:                           d.issuer + oauth.KeysPath,
		ScopesSupported:                   d.scopes(),
		ResponseTypesSupported:            oauth.ResponseTypesSupported,
		GrantTypesSupported:               oauth.GrantTypesSupported,
		TokenEndpointAuthMethodsSupported: authMethods,
		TokenEndpointAuthSigningAlgValuesSupported:         assertionAlgs,
		IntrospectionEndpointAuthMethodsSupported:          authMethods,
		IntrospectionEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		RevocationEndpointAuthMethodsSupported:             authMethods,
		RevocationEndpointAuthSigningAlgValuesSupported:    assertionAlgs,
		SubjectTypesSupported:                              []string{"public"},
		IDTokenSigningAlgValuesSupported:                   signing.Advertised(), // fixed, so that a switch of algorithm strands no verifier: see there
		ClaimsSupported:                                    claimnames.Issued(),
	}
	data, _ := json.Marshal(md)
	return data
}

// entry is the serialised metadata for one key set (rebuilt when the set
// changes, though nothing in it depends on the set since its algorithm
// list is fixed: see signing.Advertised).
type entry struct {
	state *signing.State
	body  []byte
}

// ServeMetadata serves the metadata (both /.well-known paths),
// re-serialised only when the key set changes.
func (d *Documents) ServeMetadata(w http.ResponseWriter, _ *http.Request) {
	st := d.keys.Current()
	e := d.metadata.Load()
	if e == nil || e.state != st {
		e = &entry{state: st, body: d.document()}
		d.metadata.Store(e)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", d.cacheControl(st))
	_, _ = w.Write(e.body)
}

// cacheControl lets verifiers cache for the configured max-age, cut short
// by the next planned change of the key set, so no cached copy outlives it.
func (d *Documents) cacheControl(st *signing.State) string {
	age := st.CacheMaxAge(d.now(), d.keys.Options().MaxAge)
	return "public, max-age=" + strconv.Itoa(int(age/time.Second))
}

// ServeJWKS serves the pre-serialised public key set with a strong ETag.
func (d *Documents) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	st := d.keys.Current()
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", d.cacheControl(st))
	h.Set("ETag", st.ETag)
	if etagMatches(r.Header.Get("If-None-Match"), st.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(st.JWKS)
}

// etagMatches implements If-None-Match with strong comparison over a
// comma-separated list (RFC 9110 §13.1.2), including "*".
func etagMatches(header, etag string) bool {
	for _, c := range strings.Split(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || c == etag {
			return true
		}
	}
	return false
}
