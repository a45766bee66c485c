// Package proxy puts tokenwright tokens on requests that did not bring one.
//
// Two handlers share one reverse proxy (net/http/httputil.ReverseProxy):
//
//   - Injector, for scripts and notebooks on the same machine: it holds one
//     set of client credentials, keeps a token fresh through an
//     oauth2.TokenSource and adds "Authorization: Bearer" to every request
//     it forwards.
//   - Gateway, for third-party tools that can only send a static key: each
//     request brings a tokenwright key (X-Api-Key or the Basic-auth
//     password); the gateway exchanges it at the token endpoint for a JWT
//     whose audience includes the requested upstream URL, so the token
//     endpoint's own checks (status, expiry, CIDR, URL patterns) decide,
//     and forwards the request with that JWT instead of the key.
//
// Both strip any Authorization and X-Api-Key the caller sent, so neither a
// key nor a caller-chosen token ever reaches the upstream.
package proxy

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/pkg/httprec"
)

// CheckListen refuses addresses other than loopback unless allowRemote:
// whoever can reach the proxy acts with its credentials.
func CheckListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen must be host:port, got %q", addr)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address: anyone who can reach it could use the proxy's credentials; pass --allow-remote if that is intended", addr)
}

// ParseUpstream checks the upstream base URL.
func ParseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--upstream must be an absolute http(s) URL, got %q", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--upstream must not contain user info, a query or a fragment")
	}
	return u, nil
}

// credentialHeaders are removed from every incoming request.
var credentialHeaders = []string{"Authorization", "X-Api-Key"}

type bearerKey struct{}

// newReverseProxy forwards to upstream with the bearer token that the
// handler put in the request context. Rewrite (rather than Director) makes
// ReverseProxy drop hop-by-hop headers, including Proxy-Authorization,
// after our rewrite.
func newReverseProxy(upstream *url.URL, transport http.RoundTripper, log *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			for _, h := range credentialHeaders {
				pr.Out.Header.Del(h)
			}
			if tok, ok := pr.In.Context().Value(bearerKey{}).(string); ok {
				pr.Out.Header.Set("Authorization", "Bearer "+tok)
			}
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("upstream request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
			writeError(w, http.StatusBadGateway, "bad_gateway", "the upstream could not be reached")
		},
	}
}

// writeError answers in the admin API's error format.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Messages may quote the request path: no credential goes back out in
	// them (clients and proxies log error bodies).
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": apikey.Redact(message)})
}

// accessLog logs method, path (no query: it may carry data) and status;
// never headers, which hold credentials.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := httprec.New(w)
		next.ServeHTTP(rec, r)
		log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.Status,
			"duration_ms", time.Since(start).Milliseconds())
	})
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
