package proxy

import (
	"net/http"
	"strings"

	"github.com/tokenwright/tokenwright/pkg/urlpath"
)

// requestPath returns the request's path exactly as the caller sent it
// (still percent-encoded, without the query), or a *urlpath.Error. It reads the
// raw request target, not Go's decoded r.URL.Path, and requires that what
// the reverse proxy will send (r.URL.EscapedPath) is that same text, so
// the path authorised is byte for byte the path forwarded.
func requestPath(r *http.Request) (string, error) {
	raw := r.RequestURI
	if !strings.HasPrefix(raw, "/") {
		// "*" or an absolute URL ("GET http://host/path"): a gateway is
		// not a forward proxy.
		return "", &urlpath.Error{Reason: "must be an absolute path (origin form)"}
	}
	raw, _, _ = strings.Cut(raw, "?")
	if err := urlpath.Check(raw); err != nil {
		return "", err
	}
	if r.URL.EscapedPath() != raw {
		return "", &urlpath.Error{Reason: "is not in canonical form"}
	}
	return raw, nil
}
