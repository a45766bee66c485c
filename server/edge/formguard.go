package edge

import (
	"errors"
	"mime"
	"net/http"

	"github.com/tokenwright/tokenwright/server/oauth"
)

const (
	// maxTokenRequest bounds the token endpoint body: a form with a client
	// id, a 70-byte secret, scopes and a few audiences fits many times over.
	maxTokenRequest = 8 << 10
)

// tokenEndpointGuard closes, for the token, introspection and revocation
// endpoints, the gaps the op layer leaves open (see the
// zitadel notes): GET with secrets in the query string, oversized bodies,
// non-form bodies, a body client_id that contradicts the Basic user; and
// adds WWW-Authenticate to 401 answers (RFC 6749 §5.2).
func tokenEndpointGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "this endpoint accepts POST only")
			return
		}
		if r.URL.RawQuery != "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "parameters must be sent in the form body, not the URL")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
			return
		}
		if r.ContentLength > maxTokenRequest {
			oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
		if _, err := oauth.ClaimedClient(r); errors.Is(err, oauth.ErrClientIDMismatch) {
			oauthError(w, http.StatusBadRequest, "invalid_request", oauth.ErrClientIDMismatch.Error())
			return
		} else if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
			return
		} else if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the form body could not be parsed")
			return
		}
		next.ServeHTTP(&challengeWriter{ResponseWriter: w}, r)
	})
}

// challengeWriter adds the Basic challenge to 401 responses.
type challengeWriter struct{ http.ResponseWriter }

func (c *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Basic realm="tokenwright"`)
	}
	c.ResponseWriter.WriteHeader(status)
}
