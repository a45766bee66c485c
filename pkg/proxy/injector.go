package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// InjectorConfig configures NewInjector.
type InjectorConfig struct {
	Upstream *url.URL
	// Tokens supplies the bearer token; it should refresh ahead of expiry
	// (client.TokenSource with a RefreshMargin).
	Tokens oauth2.TokenSource
	// Transport reaches the upstream (nil: http.DefaultTransport).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// NewInjector returns a handler that forwards every request to the upstream
// with a bearer token from cfg.Tokens.
func NewInjector(cfg InjectorConfig) http.Handler {
	log := orDiscard(cfg.Logger)
	rp := newReverseProxy(cfg.Upstream, cfg.Transport, log)
	return accessLog(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := cfg.Tokens.Token()
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				// The server's OAuth error code says what is wrong with the
				// proxy's own credentials; the secret is not in it.
				log.Error("token request refused", "error", re.ErrorCode, "description", re.ErrorDescription)
			} else {
				log.Error("token request failed", "error", err.Error())
			}
			writeError(w, http.StatusBadGateway, "token_unavailable", "the proxy could not obtain a token from tokenwright")
			return
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bearerKey{}, tok.AccessToken)))
	}))
}
