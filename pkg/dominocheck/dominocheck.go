// Package dominocheck is `tokenwright domino check`: it obtains a token the
// way a script would and inspects the issuer the way HCL Domino does
// (discovery, JWKS, header and claims), reporting one result per rule with
// the fix for each failure. It talks to tokenwright only over HTTP, so it
// checks what Domino will actually see, proxies and certificates included.
package dominocheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// Options say what to check.
type Options struct {
	// Server is tokenwright's URL as entered in idpcat (the Base URL),
	// compared byte for byte with the issuer.
	Server string
	// Site is the Domino Internet Site URL that must be in "aud".
	Site         string
	ClientID     string
	ClientSecret string
	// HTTPClient should trust what Domino trusts (its cacert.pem).
	HTTPClient *http.Client
	// Admin, if set, explains a refused credential (expired, revoked,
	// deactivated, wrong secret) and dates the next signing-key rotation.
	Admin Admin
	// RESTAPI adds the rules of that Domino REST API mode.
	RESTAPI RESTAPIMode
	// RESTScope is the scope keepconfig.d requires (default $DATA).
	RESTScope string
	Now       func() time.Time
}

// Status of one rule.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Warn Status = "WARN" // the REST API or an uncertain rule; not fatal
)

// Result is the outcome of one rule.
type Result struct {
	Status Status
	Rule   string
	Detail string
	Fix    string // set when Status is not Pass
}

// Failed reports whether any result is a FAIL.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return r.Status == Fail })
}

// Write prints one line per rule (and the fix under each failure).
func Write(w io.Writer, rs []Result) error {
	for _, r := range rs {
		if _, err := fmt.Fprintf(w, "%s  %s: %s\n", r.Status, r.Rule, r.Detail); err != nil {
			return err
		}
		if r.Status != Pass && r.Fix != "" {
			if _, err := fmt.Fprintf(w, "      fix: %s\n", r.Fix); err != nil {
				return err
			}
		}
	}
	return nil
}

// domino's accepted signature algorithms (core bearer validation).
var dominoAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}

// Every JWS algorithm go-jose knows, so that a wrong one can be named.
var anyAlg = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA, jose.PS256, jose.PS384, jose.PS512, jose.HS256, jose.HS384, jose.HS512}

type checker struct {
	opts Options
	out  []Result
	now  time.Time
}

func (c *checker) pass(rule, detail string) { c.out = append(c.out, Result{Pass, rule, detail, ""}) }
func (c *checker) fail(rule, detail, fix string) {
	c.out = append(c.out, Result{Fail, rule, detail, fix})
}
func (c *checker) warn(rule, detail, fix string) {
	c.out = append(c.out, Result{Warn, rule, detail, fix})
}

// Run performs every check it can; later checks that depend on a failed
// one are reported as failed with the reason.
func Run(ctx context.Context, o Options) []Result {
	// A copy whose requests say User-Agent: tokenwright/VERSION.
	o.HTTPClient = buildinfo.Client(o.HTTPClient, 15*time.Second)
	if o.RESTScope == "" {
		o.RESTScope = DefaultRESTScope
	}
	c := &checker{opts: o, now: time.Now()}
	if o.Now != nil {
		c.now = o.Now()
	}
	c.checkSite()
	disc, ok := c.checkDiscovery(ctx)
	if !ok {
		return c.out
	}
	keys, ok := c.checkJWKS(ctx, disc.JWKSURI)
	if !ok {
		return c.out
	}
	token, ok := c.obtainToken(ctx, disc.TokenEndpoint)
	if !ok {
		return c.out
	}
	kid := c.checkToken(token, disc.Issuer, keys)
	c.checkRESTAPIKeys(ctx, keys, kid)
	return c.out
}

func (c *checker) checkSite() {
	const rule = "site URL"
	u, err := url.Parse(c.opts.Site)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		c.fail(rule, fmt.Sprintf("%q is not an https URL", c.opts.Site), "pass the Internet Site as Domino names it, e.g. --site https://domino.example.com")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		c.fail(rule, fmt.Sprintf("%q has a path or a trailing slash", c.opts.Site), "use https://host[:port] only: Domino compares aud with the site URL")
	default:
		c.pass(rule, c.opts.Site)
	}
}

type discovery struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint"`
}

// get fetches u and explains TLS problems in Domino's terms.
func (c *checker) get(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

func (c *checker) checkDiscovery(ctx context.Context) (discovery, bool) {
	base := c.opts.Server
	u := fetchBase(base) + wellKnown
	var d discovery
	if !strings.HasPrefix(base, "https://") {
		c.fail("discovery over https", base+" is not https",
			"Domino fetches discovery and keys over TLS only: configure tls (or a TLS proxy) and an https issuer")
	}
	resp, body, err := c.get(ctx, u)
	if err != nil {
		c.transportFailure("discovery reachable", err)
		return d, false
	}
	c.certificateResult(resp.TLS)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
		c.fail("discovery reachable", fmt.Sprintf("GET %s: HTTP %d", u, resp.StatusCode), "check --server: it must be the issuer URL")
		return d, false
	}
	if strings.HasPrefix(base, "https://") {
		c.pass("discovery over https", u+" (trusted chain)")
	}
	if diff := baseURLDifference(base, d.Issuer); diff != "" {
		c.fail("issuer equals the idpcat Base URL", diff+"; Domino compares them byte for byte",
			fmt.Sprintf("enter exactly %q as the idpcat Base URL (and as --server), or set tokenwright's issuer to the Base URL", d.Issuer))
	} else {
		c.pass("issuer equals the idpcat Base URL", d.Issuer)
	}
	if d.JWKSURI == "" || d.TokenEndpoint == "" {
		c.fail("discovery complete", "jwks_uri or token_endpoint missing", "upgrade tokenwright")
		return d, false
	}
	return d, true
}

func (c *checker) checkJWKS(ctx context.Context, jwksURI string) (jose.JSONWebKeySet, bool) {
	var set jose.JSONWebKeySet
	if !strings.HasPrefix(jwksURI, "https://") {
		c.fail("JWKS over https", jwksURI+" is not https", "configure tls and an https issuer; Domino will not fetch keys over plain HTTP")
	}
	resp, body, err := c.get(ctx, jwksURI)
	if err != nil {
		c.transportFailure("JWKS reachable", err)
		return set, false
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &set) != nil || len(set.Keys) == 0 {
		c.fail("JWKS reachable", fmt.Sprintf("GET %s: HTTP %d, %d keys", jwksURI, resp.StatusCode, len(set.Keys)), "check the server log")
		return set, false
	}
	if strings.HasPrefix(jwksURI, "https://") {
		c.pass("JWKS over https", fmt.Sprintf("%s (%d keys, trusted chain)", jwksURI, len(set.Keys)))
	}
	if age, ok := maxAge(resp.Header.Get("Cache-Control")); ok && age > 0 {
		c.pass("JWKS Cache-Control max-age", strconv.Itoa(age)+"s")
	} else {
		c.fail("JWKS Cache-Control max-age", fmt.Sprintf("Cache-Control %q", resp.Header.Get("Cache-Control")),
			"a proxy strips the header: Domino then refetches keys on its own schedule (15-30 min); pass Cache-Control through")
	}
	var bad []string
	for _, k := range set.Keys {
		if k.KeyID == "" || k.Algorithm == "" || k.Use != "sig" {
			bad = append(bad, fmt.Sprintf("kid=%q alg=%q use=%q", k.KeyID, k.Algorithm, k.Use))
		}
	}
	if len(bad) > 0 {
		c.fail("JWKs have kid, alg and use", strings.Join(bad, "; "), "every key needs kid, alg and use=sig (the REST API needs alg)")
	} else {
		c.pass("JWKs have kid, alg and use", "all keys")
	}
	return set, true
}

func maxAge(cc string) (int, bool) {
	for _, part := range strings.Split(cc, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(strings.ToLower(part)), "max-age="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

func (c *checker) obtainToken(ctx context.Context, tokenURL string) (string, bool) {
	cc := clientcredentials.Config{ClientID: c.opts.ClientID, ClientSecret: c.opts.ClientSecret, TokenURL: tokenURL,
		AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.opts.HTTPClient))
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			c.transportFailure("token obtained", err)
			return "", false
		}
		c.fail("token obtained", fmt.Sprintf("%s: %s", re.ErrorCode, re.ErrorDescription), "")
		if re.ErrorCode == "invalid_client" {
			detail, fix := c.refusal(ctx)
			c.fail("credentials", detail, fix)
		}
		return "", false
	}
	c.pass("token obtained", "client credentials grant for "+c.opts.ClientID)
	return tok.AccessToken, true
}

// checkToken checks the token and returns its kid.
func (c *checker) checkToken(token, issuer string, keys jose.JSONWebKeySet) string {
	jws, err := jose.ParseSignedCompact(token, anyAlg)
	if err != nil || len(jws.Signatures) != 1 {
		c.fail("token is a signed JWT", fmt.Sprint(err), "Domino accepts signed JWTs only")
		return ""
	}
	h := jws.Signatures[0].Header
	if slices.Contains(dominoAlgs, h.Algorithm) {
		c.pass("alg accepted by Domino", h.Algorithm)
	} else {
		c.fail("alg accepted by Domino", h.Algorithm, "set signing.algorithm to RS256 (or ES256/EdDSA for core Domino only)")
	}
	c.checkRESTAPIAlg(h.Algorithm)
	var payload []byte
	switch matches := keys.Key(h.KeyID); {
	case h.KeyID == "":
		c.fail("kid present in JWKS", "the header has no kid", "tokenwright always sets kid: is something re-signing tokens?")
	case len(matches) == 0:
		c.fail("kid present in JWKS", "kid "+h.KeyID+" is not in the JWKS", "a key was removed too early, or a cache serves an old JWKS")
	default:
		payload, err = jws.Verify(matches[0].Key)
		if err != nil {
			c.fail("kid present in JWKS", "signature does not verify with kid "+h.KeyID, "the JWKS and the signing key disagree")
		} else {
			c.pass("kid present in JWKS", h.KeyID+" (signature verified)")
		}
	}
	if payload == nil {
		payload = jws.UnsafePayloadWithoutVerification()
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		c.warn("typ", fmt.Sprintf("%q (Domino's examples use JWT)", typ), "use the domino profile (tokenwright sa update NAME --profile domino)")
	}
	var cl map[string]any
	if err := json.Unmarshal(payload, &cl); err != nil {
		c.fail("claims", "payload is not JSON", "")
		return h.KeyID
	}
	c.checkClaims(cl, issuer)
	return h.KeyID
}

func (c *checker) checkClaims(cl map[string]any, issuer string) {
	id := c.opts.ClientID
	if iss, _ := cl["iss"].(string); iss == issuer {
		c.pass("iss equals the discovery issuer", iss)
	} else {
		c.fail("iss equals the discovery issuer", fmt.Sprintf("iss %v, issuer %q", cl["iss"], issuer), "restart tokenwright after changing issuer; check proxies")
	}
	aud := strs(cl["aud"])
	if slices.Contains(aud, c.opts.Site) {
		c.pass("aud contains the site", strings.Join(aud, " "))
	} else {
		c.fail("aud contains the site", fmt.Sprintf("aud [%s] lacks %s", strings.Join(aud, " "), c.opts.Site),
			fmt.Sprintf("add the site to domino.sites, or: tokenwright sa update %s --audience %s (plus its other audiences)", id, c.opts.Site))
	}
	scope, isString := cl["scope"].(string)
	switch {
	case !isString:
		c.fail("scope has Domino.user.all", fmt.Sprintf("scope is %T, not a string", cl["scope"]), "use the domino profile")
	case slices.Contains(strings.Fields(scope), "Domino.user.all"):
		c.pass("scope has Domino.user.all", scope)
	default:
		c.fail("scope has Domino.user.all", fmt.Sprintf("scope %q", scope),
			fmt.Sprintf("use the domino profile, which always adds it: tokenwright sa update %s --profile domino", id))
	}
	// Judge the times as Domino would on receipt: now, after the token was
	// issued (the time taken at the start can precede iat's second).
	c.now = time.Now()
	if c.opts.Now != nil {
		c.now = c.opts.Now()
	}
	iat, hasIat := num(cl["iat"])
	exp, hasExp := num(cl["exp"])
	switch {
	case !hasIat || !hasExp:
		c.fail("iat and exp sane", "iat or exp missing", "use the domino profile")
	case time.Unix(iat, 0).After(c.now):
		c.fail("iat and exp sane", fmt.Sprintf("iat is %s in the future", time.Unix(iat, 0).Sub(c.now)),
			"synchronise clocks (NTP) on tokenwright and Domino: Domino refuses future tokens (ERR_BSAFE_CERT_VALIDITY)")
	case !time.Unix(exp, 0).After(c.now):
		c.fail("iat and exp sane", "already expired", "synchronise clocks (NTP)")
	case exp-iat > 3600:
		c.fail("iat and exp sane", fmt.Sprintf("lifetime %ds exceeds 1h", exp-iat), "lower tokens.lifetime or the account's token lifetime to at most 1h (REST API maxJwtDuration)")
	default:
		c.pass("iat and exp sane", fmt.Sprintf("lifetime %ds", exp-iat))
	}
	if email, _ := cl["email"].(string); email != "" {
		c.pass("email present", email+" (must be exactly one Person's Internet address)")
	} else {
		c.fail("email present", "no email claim", "Domino maps the token to a Person by email; set the account's email")
	}
	if azp, _ := cl["azp"].(string); azp == id {
		c.pass("azp equals the client ID", azp)
	} else {
		c.fail("azp equals the client ID", fmt.Sprintf("azp %v", cl["azp"]), "use the domino profile")
	}
	c.checkRESTAPIClaims(cl)
}

func strs(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, e := range a {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func num(v any) (int64, bool) {
	f, ok := v.(float64)
	return int64(f), ok
}
