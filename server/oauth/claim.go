package oauth

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenwright/tokenwright/server/ratelimit"
)

// ErrClientIDMismatch: the body names a client_id other than the client
// the request authenticates as (HTTP Basic), or names several. The op layer
// would silently let Basic win; we refuse the request (invalid_request), so
// that what a request claims to be and what it is authenticated as never
// differ.
var ErrClientIDMismatch = errors.New("the body's client_id differs from the HTTP Basic user or from another client_id")

// ClaimedClient returns the client id an OAuth request claims, before any
// verification: the HTTP Basic user name (form-decoded, RFC 6749 §2.3.1)
// or else the client_id form field; "" if neither (a client assertion
// without client_id). Every non-empty client_id in the body must agree with
// it (ErrClientIDMismatch); an empty one means "not given". r's body must
// already be bounded and known to be a form; ParseForm fills r.PostForm,
// which the op layer then reuses. The rate limiter keys its pre-verification
// buckets by this same value.
func ClaimedClient(r *http.Request) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", err
	}
	claimed := ""
	user, _, basic := r.BasicAuth()
	if basic {
		claimed = user
		if u, err := url.QueryUnescape(user); err == nil {
			claimed = u
		}
	}
	for _, id := range r.PostForm["client_id"] {
		switch {
		case id == "":
		case claimed == "" && !basic:
			claimed = id
		case id != claimed:
			return claimed, ErrClientIDMismatch
		}
	}
	return claimed, nil
}

// errSlowDown answers a verified client that has spent its own budget
// (reqctx.ErrThrottled); the rate limiter has set Retry-After.
func errSlowDown() error {
	return op.NewStatusError(oidc.ErrSlowDown().WithDescription(ratelimit.RefusalMessage), http.StatusTooManyRequests)
}
