// Package ssocheck is `tokenwright sso check`: it checks, from the
// configuration, that the single sign-on provider will work with this
// tokenwright before anyone signs in — the provider's discovery, the
// client's credentials, and the redirect URI — reporting one result per
// rule with its fix, in `tokenwright domino check`'s format
// (dominocheck.Write). The claims of a real sign-in are checked in the
// browser (sso.CheckSignInURL): they need a person at the provider.
package ssocheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/pkg/dominocheck"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/sso"
)

// Options say what to check.
type Options struct {
	SSO config.SSO
	// PublicURL is tokenwright's issuer (the redirect URI is
	// PublicURL/ui/callback).
	PublicURL string
	Client    sso.ClientAuth
	// HTTPClient reaches the provider (default: 15 s timeout). Redirects
	// are never followed.
	HTTPClient *http.Client
	Now        func() time.Time
}

// The result type and its output are domino check's.
type (
	Result = dominocheck.Result
	Status = dominocheck.Status
)

type checker struct {
	opts Options
	hc   *http.Client
	out  []Result
}

// add records a result; fix (for a FAIL or WARN) is at most one string.
func (c *checker) add(s Status, rule, detail string, fix ...string) {
	c.out = append(c.out, Result{Status: s, Rule: rule, Detail: detail, Fix: strings.Join(fix, "")})
}

// Run performs every check it can; a check that depends on a failed one
// is not run.
func Run(ctx context.Context, o Options) []Result {
	hc := buildinfo.Client(o.HTTPClient, 15*time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &checker{opts: o, hc: hc}
	d, ok := c.discovery(ctx)
	if !ok {
		return c.out
	}
	c.jwks(ctx, d.JwksURI)
	c.clientAuth(ctx, d)
	c.redirectURI(ctx, d)
	return c.out
}

func (c *checker) redirect() string {
	return strings.TrimSuffix(c.opts.PublicURL, "/") + sso.CallbackPath
}

func (c *checker) get(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	return c.do(req)
}

func (c *checker) do(req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

// discovery checks the provider's discovery document as the sign-in
// reads it (the URL built without doubling a trailing slash, the issuer
// compared exactly).
func (c *checker) discovery(ctx context.Context) (oidc.DiscoveryConfiguration, bool) {
	s := c.opts.SSO
	var d oidc.DiscoveryConfiguration
	u := strings.TrimSuffix(s.Issuer, "/") + oidc.DiscoveryEndpoint
	resp, body, err := c.get(ctx, u)
	if err != nil {
		c.add(dominocheck.Fail, "discovery reachable", fmt.Sprintf("GET %s: %v", u, err),
			"check sso.issuer and that this machine reaches the provider (proxy, firewall, certificate)")
		return d, false
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
		c.add(dominocheck.Fail, "discovery reachable", fmt.Sprintf("GET %s: HTTP %d, not a discovery document", u, resp.StatusCode),
			"set sso.issuer to the provider's issuer URL (its discovery document is at ISSUER/.well-known/openid-configuration)")
		return d, false
	}
	c.add(dominocheck.Pass, "discovery reachable", u)
	if d.Issuer != s.Issuer {
		c.add(dominocheck.Fail, "issuer matches sso.issuer exactly", fmt.Sprintf("the provider publishes %q, sso.issuer is %q", d.Issuer, s.Issuer),
			fmt.Sprintf("set sso.issuer to %q, character for character (a trailing slash included)", d.Issuer))
		return d, false
	}
	c.add(dominocheck.Pass, "issuer matches sso.issuer exactly", d.Issuer)
	var missing []string
	for name, v := range map[string]string{"authorization_endpoint": d.AuthorizationEndpoint, "token_endpoint": d.TokenEndpoint, "jwks_uri": d.JwksURI} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		c.add(dominocheck.Fail, "endpoints", "the discovery document has no "+strings.Join(missing, ", "), "use an OpenID Connect provider's issuer, not an OAuth-only server's")
		return d, false
	}
	c.add(dominocheck.Pass, "endpoints", fmt.Sprintf("authorization %s, token %s, jwks %s", d.AuthorizationEndpoint, d.TokenEndpoint, d.JwksURI))
	c.listed("authorization code flow", "response_types_supported", d.ResponseTypesSupported, []string{"code"}, required,
		"enable the authorization code flow for the client at the provider")
	c.listed("PKCE S256", "code_challenge_methods_supported", strs(d.CodeChallengeMethodsSupported), []string{"S256"}, requiredIfListed,
		"the sign-in always sends a S256 code challenge: enable PKCE (S256) at the provider")
	c.listed("scopes", "scopes_supported", d.ScopesSupported, s.Scopes, advisory,
		"a scope the provider does not list may be refused at sign-in: check sso.scopes")
	c.listed("claims", "claims_supported", d.ClaimsSupported, []string{s.UsernameClaim, s.EmailClaim, s.GroupsClaim}, advisory,
		"the provider may not send this claim: check sso.usernameClaim, sso.emailClaim and sso.groupsClaim (tokenwright sso check --sign-in shows the claims of a real sign-in)")
	methods := strs(d.TokenEndpointAuthMethodsSupported)
	if len(methods) == 0 {
		methods = []string{"client_secret_basic"} // the specification's default
	}
	if want := c.opts.Client.Method(); slices.Contains(methods, want) {
		c.add(dominocheck.Pass, "client authentication method", want)
	} else {
		c.add(dominocheck.Fail, "client authentication method", fmt.Sprintf("the provider offers %s, not %s", strings.Join(methods, ", "), want),
			"use the method the provider offers: a client secret (sso.clientSecretFile or TOKENWRIGHT_SSO_CLIENT_SECRET) for client_secret_basic, sso.clientKeyFile for private_key_jwt")
	}
	if d.EndSessionEndpoint != "" {
		c.add(dominocheck.Pass, "sign-out at the provider", fmt.Sprintf("end_session_endpoint %s: register %s as a post-logout redirect URI",
			d.EndSessionEndpoint, strings.TrimSuffix(c.opts.PublicURL, "/")+"/ui/"))
	} else {
		c.add(dominocheck.Pass, "sign-out at the provider", "no end_session_endpoint: signing out ends the tokenwright session only")
	}
	return d, true
}

// How much a discovery list matters (listed).
type need int

const (
	required         need = iota // the field must list the values
	requiredIfListed             // a field that is listed must list them
	advisory                     // a value missing from a listed field is a warning
)

// listed checks that the provider lists every value of want in its
// field, as n says.
func (c *checker) listed(rule, field string, have, want []string, n need, fix string) {
	if len(have) == 0 {
		if n == required {
			c.add(dominocheck.Fail, rule, field+" is not in the discovery document", fix)
		} else {
			c.add(dominocheck.Pass, rule, field+" not listed by the provider (nothing to compare)")
		}
		return
	}
	var missing []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	switch {
	case len(missing) == 0:
		c.add(dominocheck.Pass, rule, strings.Join(want, ", ")+" listed")
	case n != advisory:
		c.add(dominocheck.Fail, rule, fmt.Sprintf("%s not in %s %v", strings.Join(missing, ", "), field, have), fix)
	default:
		c.add(dominocheck.Warn, rule, fmt.Sprintf("%s not in %s %v", strings.Join(missing, ", "), field, have), fix)
	}
}

func (c *checker) jwks(ctx context.Context, u string) {
	resp, body, err := c.get(ctx, u)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	switch {
	case err != nil:
		c.add(dominocheck.Fail, "signing keys", fmt.Sprintf("GET %s: %v", u, err), "the ID tokens cannot be verified without the provider's keys")
	case resp.StatusCode != http.StatusOK || json.Unmarshal(body, &set) != nil || len(set.Keys) == 0:
		c.add(dominocheck.Fail, "signing keys", fmt.Sprintf("GET %s: HTTP %d, no key set with keys", u, resp.StatusCode), "the ID tokens cannot be verified without the provider's keys")
	default:
		c.add(dominocheck.Pass, "signing keys", fmt.Sprintf("%d keys at %s", len(set.Keys), u))
	}
}

func strs[S ~string](v []S) []string {
	out := make([]string, len(v))
	for i, m := range v {
		out[i] = string(m)
	}
	return out
}

// oauthError is a token endpoint's error answer (RFC 6749 section 5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// clientAuth sends the token endpoint a code exchange with a made-up code
// and the configured credentials: invalid_client means the credentials
// are refused, invalid_grant that they were accepted and only the code
// was not (providers authenticate the client before they look at the
// grant, as RFC 6749 section 5.2 lists it).
func (c *checker) clientAuth(ctx context.Context, d oidc.DiscoveryConfiguration) {
	const rule = "client credentials accepted"
	s := c.opts.SSO
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"tokenwright-sso-check-not-a-code"},
		"redirect_uri": {c.redirect()}, "code_verifier": {strings.Repeat("0", 43)}}
	auth := c.opts.Client
	if auth.Key != nil {
		assertion, err := auth.Assertion(s.ClientID, d.Issuer, d.TokenEndpoint, c.opts.Now())
		if err != nil {
			c.add(dominocheck.Fail, rule, "signing the client assertion: "+err.Error(), "check sso.clientKeyFile")
			return
		}
		form.Set("client_id", s.ClientID)
		form.Set("client_assertion_type", oidc.ClientAssertionTypeJWTAssertion)
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		c.add(dominocheck.Fail, rule, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth.Key == nil {
		// client_secret_basic, encoded as RFC 6749 section 2.3.1 says
		// (and as the sign-in's OAuth library sends it).
		req.SetBasicAuth(url.QueryEscape(s.ClientID), url.QueryEscape(auth.Secret))
	}
	resp, body, err := c.do(req)
	if err != nil {
		c.add(dominocheck.Fail, rule, fmt.Sprintf("POST %s: %v", d.TokenEndpoint, err), "check that this machine reaches the provider's token endpoint")
		return
	}
	var e oauthError
	_ = json.Unmarshal(body, &e)
	observed := fmt.Sprintf("a code exchange with a made-up code answered HTTP %d %s", resp.StatusCode, e.Error)
	if e.Description != "" {
		observed += fmt.Sprintf(" (%s)", e.Description)
	}
	switch e.Error {
	case "invalid_grant":
		c.add(dominocheck.Pass, rule, observed+": the provider accepted the "+auth.Method()+" credentials and refused only the code")
	case "invalid_client", "unauthorized_client":
		fix := "check sso.clientId and the client secret (sso.clientSecretFile or TOKENWRIGHT_SSO_CLIENT_SECRET) against the client registered at the provider"
		if auth.Key != nil {
			fix = "check sso.clientId, sso.clientKeyId and that the public key of sso.clientKeyFile is registered for the client at the provider"
		}
		c.add(dominocheck.Fail, rule, observed+": the provider refused tokenwright's client credentials", fix)
	default:
		c.add(dominocheck.Warn, rule, observed+": neither invalid_grant nor invalid_client, so the credentials could not be judged",
			"run tokenwright sso check --sign-in: a real sign-in exchanges a real code")
	}
}

// redirectURI starts an authorization request with the redirect URI,
// without following the answer: a provider redirects to its login page
// (or back to a registered redirect URI with an error), and answers an
// unregistered redirect URI with an error page of its own.
func (c *checker) redirectURI(ctx context.Context, d oidc.DiscoveryConfiguration) {
	const rule = "redirect URI registered"
	s := c.opts.SSO
	redirect := c.redirect()
	q := url.Values{"response_type": {"code"}, "client_id": {s.ClientID}, "redirect_uri": {redirect},
		"scope": {strings.Join(s.Scopes, " ")}, "state": {"tokenwright-sso-check"}, "nonce": {"tokenwright-sso-check"},
		"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	u, err := url.Parse(d.AuthorizationEndpoint)
	if err != nil {
		c.add(dominocheck.Fail, rule, "authorization_endpoint is not a URL: "+err.Error())
		return
	}
	query := u.Query()
	for k, v := range q {
		query[k] = v
	}
	u.RawQuery = query.Encode()
	resp, body, err := c.get(ctx, u.String())
	if err != nil {
		c.add(dominocheck.Fail, rule, fmt.Sprintf("GET %s: %v", d.AuthorizationEndpoint, err), "check that this machine reaches the provider")
		return
	}
	fix := fmt.Sprintf("register %s as a redirect URI of the client %s at the provider (exactly; tokenwright's issuer decides it)", redirect, s.ClientID)
	location := resp.Header.Get("Location")
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && location != "" {
		next, err := u.Parse(location)
		if err != nil {
			c.add(dominocheck.Warn, rule, fmt.Sprintf("HTTP %d to an unreadable Location %q", resp.StatusCode, location), fix)
			return
		}
		if back := next.Query(); strings.HasPrefix(next.String(), redirect) {
			if e := back.Get("error"); e != "" {
				c.add(dominocheck.Fail, rule, fmt.Sprintf("the provider redirected back to %s (so it is registered) with error=%s %s", redirect, e, back.Get("error_description")),
					"fix what the error names (often sso.scopes, or the code flow not enabled for the client)")
				return
			}
			c.add(dominocheck.Pass, rule, fmt.Sprintf("the provider redirected back to %s", redirect))
			return
		}
		shown := *next
		shown.RawQuery = ""
		c.add(dominocheck.Pass, rule, fmt.Sprintf("an authorization request with %s led to the provider's login: HTTP %d to %s", redirect, resp.StatusCode, shown.String()))
		return
	}
	text := pageText(body)
	if resp.StatusCode >= 400 {
		c.add(dominocheck.Fail, rule, fmt.Sprintf("an authorization request with %s was answered HTTP %d by the provider: %s", redirect, resp.StatusCode, text), fix)
		return
	}
	if l := strings.ToLower(text); strings.Contains(l, "redirect_uri") || strings.Contains(l, "redirect uri") || strings.Contains(l, "reply url") {
		c.add(dominocheck.Fail, rule, fmt.Sprintf("the provider answered HTTP %d with a page about the redirect URI: %s", resp.StatusCode, text), fix)
		return
	}
	c.add(dominocheck.Warn, rule, fmt.Sprintf("the provider answered HTTP %d with a page (its login page, or an error page): %s", resp.StatusCode, text),
		"run tokenwright sso check --sign-in to be sure")
}

// pageText is the start of a page's text, for a report line.
func pageText(body []byte) string {
	var b strings.Builder
	inTag := false
	for _, r := range string(body) {
		switch {
		case r == '<':
			inTag = true
		case r == '>':
			inTag = false
			b.WriteByte(' ')
		case !inTag:
			b.WriteRune(r)
		}
	}
	text := strings.Join(strings.Fields(b.String()), " ")
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return text
}
