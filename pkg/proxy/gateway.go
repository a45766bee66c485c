package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
)

// GatewayConfig configures NewGateway.
type GatewayConfig struct {
	Upstream *url.URL
	// TokenURL is tokenwright's token endpoint.
	TokenURL string
	// ClientID is the account assumed for a bare key in X-Api-Key; with it
	// empty, X-Api-Key must be "ACCOUNT:KEY".
	ClientID string
	// Audiences are requested in addition to the request URL: what the
	// upstream checks (e.g. "Domino").
	Audiences []string
	Scopes    []string
	// Revalidate is how long a key's exchange result (token or refusal) is
	// reused: the longest a revoked key keeps working. Default 5 s.
	Revalidate time.Duration
	// The gateway sends the caller's address (the TCP peer of the gateway,
	// never a header the caller sent) as X-Forwarded-For on its token
	// requests, so that tokenwright applies CIDR allow-lists and its
	// per-address limits to the caller. tokenwright believes it only if the
	// gateway's address is listed in its trustedProxies; otherwise it
	// ignores the header and sees the gateway, so sending it is harmless.
	// OmitClientIP leaves it out.
	OmitClientIP bool
	// Limits bounds what each caller may cost (see CallerLimits); nil
	// means DefaultCallerLimits().
	Limits *CallerLimits
	// HTTPClient makes token requests; Transport reaches the upstream.
	HTTPClient *http.Client
	Transport  http.RoundTripper
	Logger     *slog.Logger
	Now        func() time.Time
}

// DefaultRevalidate is GatewayConfig.Revalidate's default.
const DefaultRevalidate = 5 * time.Second

// expiryMargin is how long before its expiry a cached JWT is replaced. The
// JWT's exp is whole seconds and the client computes expiry from
// expires_in on receipt, so it may be up to a second optimistic; two
// seconds leaves time for the request to reach the upstream.
const expiryMargin = 2 * time.Second

// maxEntries bounds the exchange cache; past it, expired entries are
// dropped, and if that is not enough, all of them.
const maxEntries = 10000

// Gateway turns static keys into short-lived JWTs per request.
type Gateway struct {
	cfg     GatewayConfig
	log     *slog.Logger
	rp      http.Handler
	callers *tokenbucket.Limiter

	mu      sync.Mutex
	entries map[string]*exchange
}

// exchange is one cached token-endpoint answer for (key, request URL).
type exchange struct {
	mu        sync.Mutex // held while the token endpoint is asked
	token     string
	fail      *gatewayError
	validTill time.Time
}

type gatewayError struct {
	status        int
	code, message string
}

// NewGateway returns the gateway handler.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	if cfg.Upstream == nil || cfg.TokenURL == "" {
		return nil, errors.New("gateway: upstream and token URL are required")
	}
	if cfg.Revalidate <= 0 {
		cfg.Revalidate = DefaultRevalidate
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if !cfg.OmitClientIP {
		hc := *cfg.HTTPClient
		hc.Transport = forwardedFor{next: hc.Transport}
		cfg.HTTPClient = &hc
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	limits := DefaultCallerLimits()
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	if err := limits.validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: orDiscard(cfg.Logger), entries: map[string]*exchange{},
		callers: newCallerBuckets(limits, cfg.Now)}
	g.rp = newReverseProxy(cfg.Upstream, cfg.Transport, g.log)
	return g, nil
}

// ServeHTTP authenticates the key, authorises the URL and forwards.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	accessLog(g.log, http.HandlerFunc(g.serve)).ServeHTTP(w, r)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	// The caller is the TCP peer: a header would let it pick its bucket.
	// An address that is not ip:port (a Unix socket) has no bucket.
	caller := callerKey(r.RemoteAddr)
	if ok, wait := g.callers.Allow(caller); caller != "" && !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many refused or new requests from this address; retry later")
		return
	}
	tok, exchanged, gerr := g.authorise(r)
	switch {
	case caller == "":
	case gerr == nil:
		if exchanged {
			g.callers.Success(caller)
		}
	case gerr.status < 500 && gerr.status != http.StatusTooManyRequests:
		g.callers.Failure(caller)
	}
	if gerr != nil {
		if gerr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="tokenwright gateway"`)
		}
		writeError(w, gerr.status, gerr.code, gerr.message)
		return
	}
	g.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bearerKey{}, tok)))
}

// authorise returns the token to forward r with, and whether tokenwright
// was asked for it (rather than the cache).
func (g *Gateway) authorise(r *http.Request) (tok string, exchanged bool, gerr *gatewayError) {
	clientID, key, ok := g.credentials(r)
	if !ok {
		return "", false, &gatewayError{http.StatusUnauthorized, "unauthenticated", "send a tokenwright key in X-Api-Key or as the Basic-auth password"}
	}
	escaped, err := requestPath(r)
	if err != nil {
		return "", false, &gatewayError{http.StatusBadRequest, "invalid_request", err.Error()}
	}
	// The same join ReverseProxy's SetURL performs, so the URL authorised
	// is the URL requested upstream (requestPath checked that r.URL's
	// escaped path, which SetURL uses, is the raw path).
	target := g.cfg.Upstream.Scheme + "://" + g.cfg.Upstream.Host + strings.TrimSuffix(g.cfg.Upstream.EscapedPath(), "/") + escaped
	ctx := r.Context()
	var peer string
	if !g.cfg.OmitClientIP {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			peer = ap.Addr().Unmap().String()
			ctx = context.WithValue(ctx, peerKey{}, peer)
		}
	}
	return g.token(ctx, clientID, key, target, peer)
}

// credentials reads the key from X-Api-Key ("KEY" or "ACCOUNT:KEY") or
// from Basic auth (user = account, password = key).
func (g *Gateway) credentials(r *http.Request) (clientID, key string, ok bool) {
	if v := strings.TrimSpace(r.Header.Get("X-Api-Key")); v != "" {
		// Keys are base62 and '_', so a colon can only separate the account.
		if id, k, found := strings.Cut(v, ":"); found {
			return id, k, id != "" && k != ""
		}
		return g.cfg.ClientID, v, g.cfg.ClientID != ""
	}
	if user, pass, found := r.BasicAuth(); found && pass != "" {
		return firstNonEmpty(user, g.cfg.ClientID), pass, firstNonEmpty(user, g.cfg.ClientID) != ""
	}
	return "", "", false
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// token returns a JWT for the key and target URL, from the cache when the
// last exchange is recent enough.
func (g *Gateway) token(ctx context.Context, clientID, key, target, peer string) (string, bool, *gatewayError) {
	// With the caller's address forwarded the verdict depends on it.
	e := g.entry(cacheKey(clientID, key, target, peer))
	e.mu.Lock()
	defer e.mu.Unlock()
	now := g.cfg.Now()
	if now.Before(e.validTill) {
		if e.fail != nil {
			return "", false, e.fail
		}
		return e.token, false, nil
	}
	tok, gerr := g.exchange(ctx, clientID, key, target)
	e.token, e.fail = "", gerr
	e.validTill = now.Add(g.cfg.Revalidate)
	if gerr == nil {
		e.token = tok.AccessToken
		// Never hand out a token close to its expiry, whatever Revalidate says.
		if limit := tok.Expiry.Add(-expiryMargin); !tok.Expiry.IsZero() && limit.Before(e.validTill) {
			e.validTill = limit
		}
	} else if gerr.status >= 500 || gerr.status == http.StatusTooManyRequests {
		e.validTill = now // do not remember our own or the server's trouble
	}
	return e.token, true, e.fail
}

// cacheKey hashes the credential: the map must not hold keys in clear.
func cacheKey(clientID, key, target, peer string) string {
	sum := sha256.Sum256([]byte(clientID + "\x00" + key + "\x00" + target + "\x00" + peer))
	return hex.EncodeToString(sum[:])
}

func (g *Gateway) entry(k string) *exchange {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.entries[k]; ok {
		return e
	}
	if len(g.entries) >= maxEntries {
		now := g.cfg.Now()
		for k, e := range g.entries {
			// TryLock: an entry being refreshed is in use, keep it.
			if e.mu.TryLock() {
				if !now.Before(e.validTill) {
					delete(g.entries, k)
				}
				e.mu.Unlock()
			}
		}
		if len(g.entries) >= maxEntries {
			clear(g.entries)
		}
	}
	e := &exchange{}
	g.entries[k] = e
	return e
}

// exchange asks the token endpoint for a token for target. The endpoint
// applies every rule a key is subject to; the requested audience makes it
// check the URL against the key's and account's patterns.
func (g *Gateway) exchange(ctx context.Context, clientID, key, target string) (*oauth2.Token, *gatewayError) {
	cc := clientcredentials.Config{
		ClientID: clientID, ClientSecret: key, TokenURL: g.cfg.TokenURL, Scopes: g.cfg.Scopes,
		AuthStyle:      oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{"audience": append(append([]string{}, g.cfg.Audiences...), target)},
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, g.cfg.HTTPClient)
	tok, err := cc.Token(ctx)
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusTooManyRequests {
		return nil, &gatewayError{http.StatusTooManyRequests, "rate_limited", "tokenwright is rate limiting token requests; retry later"}
	}
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		g.log.Info("key refused by tokenwright", "client_id", clientID, "error", re.ErrorCode, "target", target)
		switch re.ErrorCode {
		case "invalid_client":
			return nil, &gatewayError{http.StatusUnauthorized, "unauthenticated", "the key was not accepted"}
		case "invalid_target", "invalid_scope", "unauthorized_client":
			return nil, &gatewayError{http.StatusForbidden, "forbidden", fmt.Sprintf("the key may not access %s", target)}
		}
		return nil, &gatewayError{http.StatusForbidden, "forbidden", "tokenwright refused a token for this key"}
	}
	g.log.Error("token request failed", "client_id", clientID, "error", err.Error())
	return nil, &gatewayError{http.StatusBadGateway, "token_unavailable", "tokenwright could not be reached"}
}

type peerKey struct{}

// forwardedFor adds X-Forwarded-For with the caller's address (from the
// request context) to token requests. Only ever the TCP peer: a header
// from the caller would let it choose its address.
type forwardedFor struct{ next http.RoundTripper }

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	next := f.next
	if next == nil {
		next = http.DefaultTransport
	}
	if peer, ok := r.Context().Value(peerKey{}).(string); ok {
		r = r.Clone(r.Context())
		r.Header.Set("X-Forwarded-For", peer)
	}
	return next.RoundTrip(r)
}
