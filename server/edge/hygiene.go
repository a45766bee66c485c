package edge

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// maxRequestBody bounds every request body; endpoints set tighter limits
// of their own (token endpoint 8 KiB, admin JSON 64 KiB).
const maxRequestBody = 1 << 20

// secretQueryParams are parameters that carry credentials. In a URL they
// end up in proxy logs, browser history and Referer headers, so a request
// carrying one is refused everywhere, even where it would be ignored.
var secretQueryParams = []string{"client_secret", "access_token", "api_key", "client_assertion", "token", "refresh_token", "password"}

var (
	nosniff    = []string{"nosniff"}
	frameDeny  = []string{"DENY"}
	noReferrer = []string{"no-referrer"}
	strictCSP  = []string{"default-src 'none'; frame-ancestors 'none'"}
)

// hygiene applies the rules every response shares: bounded bodies, no
// secrets in URLs and the security headers; p says which policy and error
// format the route has.
func hygiene(p Props, next http.Handler) http.Handler {
	strict := p.CSP == CSPStrict
	oauthErrors := p.Errors == ErrorsOAuth
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Shared, read-only value slices: Header.Set would allocate one per
		// header per request on the token hot path. (Header.Add appends
		// past len == cap, so it copies rather than writing into them.)
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["X-Frame-Options"] = frameDeny
		h["Referrer-Policy"] = noReferrer
		if strict {
			h["Content-Security-Policy"] = strictCSP
		}
		if r.URL.RawQuery != "" && hasSecretParam(r.URL.RawQuery) {
			h.Set("Cache-Control", "no-store")
			const msg = "credentials must not be sent in the URL; use the Authorization header or the form body"
			if oauthErrors {
				oauthError(w, http.StatusBadRequest, "invalid_request", msg)
			} else {
				WriteJSON(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Message: msg})
			}
			return
		}
		if r.ContentLength > maxRequestBody {
			h.Set("Cache-Control", "no-store")
			WriteJSON(w, http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge, Message: "the request body is too large"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		next.ServeHTTP(w, r)
	})
}

// hasSecretParam looks for a secret parameter name without trusting the
// query to parse: a malformed query that still names client_secret is
// refused too. Names are compared case-insensitively after decoding.
func hasSecretParam(rawQuery string) bool {
	for part := range strings.SplitSeq(rawQuery, "&") {
		for sub := range strings.SplitSeq(part, ";") {
			name, _, _ := strings.Cut(sub, "=")
			if un, err := unescapeQuery(name); err == nil {
				name = un
			}
			name = strings.ToLower(strings.TrimSpace(name))
			for _, s := range secretQueryParams {
				if name == s {
					return true
				}
			}
		}
	}
	return false
}

func unescapeQuery(s string) (string, error) { return url.QueryUnescape(s) }
