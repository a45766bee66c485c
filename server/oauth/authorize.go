package oauth

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
)

// AuthorizePath is the authorization endpoint the metadata advertises.
const AuthorizePath = "/oauth/authorize"

// maxAuthorizeForm bounds a POSTed authorization request (RFC 6749 §3.1
// lets clients POST the same parameters as the query string).
const maxAuthorizeForm = 8 << 10

// ResponseTypesSupported is what the metadata's response_types_supported
// lists: the authorization endpoint understands response_type=code (and
// refuses it for every client, see Authorize). RFC 8414 §2 and OpenID
// Connect Discovery §3 both require the member, and RFC 8414 §3.2 forbids
// an empty array.
var ResponseTypesSupported = []string{"code"}

// Authorize is the authorization endpoint of a server whose only grant is
// client credentials. It exists because both metadata documents must name
// one (OpenID Connect Discovery requires authorization_endpoint; RFC 8414
// requires a non-empty response_types_supported, which only means
// something with one), and a URL that was advertised must answer as the
// protocol says rather than 404.
//
// Every request is refused with an RFC 6749 §4.1.2.1 error code, answered
// to the caller as JSON and never by redirection: no client has a
// registered redirect URI, so any redirect_uri is unverified and
// redirecting to it would make this an open redirector (§3.1.2.4, §10.15).
// The answer does not depend on client_id, so it tells nobody which
// accounts exist.
func Authorize(w http.ResponseWriter, r *http.Request) {
	var params url.Values
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		params = r.URL.Query()
	case http.MethodPost:
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			authorizeError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAuthorizeForm)
		if err := r.ParseForm(); err != nil {
			authorizeError(w, http.StatusBadRequest, "invalid_request", "the form body could not be parsed")
			return
		}
		params = r.PostForm
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		authorizeError(w, http.StatusMethodNotAllowed, "invalid_request", "the authorization endpoint accepts GET and POST only")
		return
	}
	for name, values := range params {
		if len(values) > 1 {
			// RFC 6749 §3.1: parameters MUST NOT be included more than once.
			authorizeError(w, http.StatusBadRequest, "invalid_request", "parameter "+name+" is repeated")
			return
		}
	}
	switch params.Get("response_type") {
	case "":
		authorizeError(w, http.StatusBadRequest, "invalid_request", "response_type is required")
	case "code":
		authorizeError(w, http.StatusBadRequest, "unauthorized_client",
			"no client of this server may use the authorization code grant: service accounts obtain tokens "+
				"with the client credentials grant at the token endpoint")
	default:
		authorizeError(w, http.StatusBadRequest, "unsupported_response_type",
			"this server supports response_type code only, and issues no tokens from the authorization endpoint")
	}
}

func authorizeError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
