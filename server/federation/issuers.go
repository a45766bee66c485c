package federation

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rs/zerolog"
)

const (
	// DefaultFetchTimeout bounds one fetch of an issuer's keys (discovery
	// and JWKS together): a silent issuer fails its own verifications
	// within it and holds up nobody else's.
	DefaultFetchTimeout = 5 * time.Second
	// The JWKS cache keeps keys for the response's Cache-Control max-age,
	// clamped to [minKeysTTL, maxKeysTTL] (defaultKeysTTL without one): not
	// so short that every exchange fetches, not so long that a key the
	// issuer withdrew stays trusted for days.
	minKeysTTL     = time.Minute
	maxKeysTTL     = 24 * time.Hour
	defaultKeysTTL = 5 * time.Minute
	// UnknownKeyRefetchInterval is how often, at most, a token whose kid is
	// not among the cached keys makes the keys be fetched again (the
	// issuer may have rotated): a flood of made-up kids costs the issuer
	// one request per interval.
	UnknownKeyRefetchInterval = 30 * time.Second
	// failedFetchRetry is how long a failed fetch is remembered, so that a
	// flood of tokens for an issuer that is down is refused without a
	// request each.
	failedFetchRetry = 5 * time.Second
)

// IssuersOptions configure NewIssuers.
type IssuersOptions struct {
	// Client fetches discovery and JWKS documents (nil: a client with
	// connect, TLS and header timeouts). Whatever its redirect policy,
	// redirects are not followed.
	Client *http.Client
	// Now is the clock of the cache and of exp/nbf/iat (nil: time.Now).
	Now func() time.Time
	Log zerolog.Logger
	// FetchTimeout bounds one fetch of an issuer's keys (0:
	// DefaultFetchTimeout).
	FetchTimeout time.Duration
}

// Issuers verifies foreign tokens against their issuers' published keys,
// which it fetches and caches per (issuer, jwksURI). It is safe for
// concurrent use; a fetch for one issuer never waits for another's.
type Issuers struct {
	client  *http.Client
	now     func() time.Time
	log     zerolog.Logger
	timeout time.Duration

	mu   sync.Mutex
	sets map[setKey]*keySet
}

type setKey struct{ issuer, jwksURI string }

// keySet is one issuer's keys as last fetched, and the fetch under way.
type keySet struct {
	issuer, jwksURI string // jwksURI "" = the one the issuer's discovery names

	mu        sync.Mutex
	keys      []jose.JSONWebKey // nil until a fetch succeeds
	expires   time.Time         // keys are used until then
	lastFetch time.Time         // when the last fetch started
	lastErr   error             // the last fetch's failure; nil after a success
	inflight  *fetchCall        // shared by every caller that needs a fetch meanwhile
}

// fetchCall is one fetch of a key set, awaited by any number of callers.
type fetchCall struct {
	done    chan struct{}
	keys    []jose.JSONWebKey
	err     error
	waiters int // callers waiting (tests read it to know a burst has piled up)
}

// NewIssuers returns an empty cache of issuers' keys.
func NewIssuers(o IssuersOptions) *Issuers {
	i := &Issuers{now: o.Now, log: o.Log, timeout: o.FetchTimeout, sets: map[setKey]*keySet{}}
	if i.now == nil {
		i.now = time.Now
	}
	if i.timeout <= 0 {
		i.timeout = DefaultFetchTimeout
	}
	var c http.Client
	if o.Client != nil {
		c = *o.Client // a copy: the caller's client keeps its own redirect policy
	} else {
		c = defaultClient(i.timeout)
	}
	// A redirect is answered as what it is, a 3xx, which fetch refuses: an
	// issuer's documents live where the issuer says, and following a
	// redirect would let whoever controls it point the fetch elsewhere.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	i.client = &c
	return i
}

func defaultClient(timeout time.Duration) http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	return http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           16,
			IdleConnTimeout:        90 * time.Second,
		},
	}
}

func (i *Issuers) set(issuer, jwksURI string) *keySet {
	i.mu.Lock()
	defer i.mu.Unlock()
	k := setKey{issuer, jwksURI}
	s := i.sets[k]
	if s == nil {
		s = &keySet{issuer: issuer, jwksURI: jwksURI}
		i.sets[k] = s
	}
	return s
}

// keys returns issuer's published keys, fetching them when none are
// cached, when the cached ones expired, or when none has kid and the last
// fetch is at least UnknownKeyRefetchInterval old. Concurrent callers
// share one fetch; a caller whose ctx ends stops waiting (the fetch goes
// on, bounded by the fetch timeout, for the others).
func (i *Issuers) keys(ctx context.Context, issuer, jwksURI, kid string) ([]jose.JSONWebKey, error) {
	s := i.set(issuer, jwksURI)
	s.mu.Lock()
	now := i.now()
	fresh := s.keys != nil && now.Before(s.expires)
	switch {
	case fresh && (kid == "" || hasKID(s.keys, kid)):
		keys := s.keys
		s.mu.Unlock()
		return keys, nil
	case s.inflight != nil:
		// Join the fetch under way.
	case fresh && now.Sub(s.lastFetch) < UnknownKeyRefetchInterval:
		keys := s.keys // the caller finds no key with kid
		s.mu.Unlock()
		return keys, nil
	case s.lastErr != nil && now.Sub(s.lastFetch) < failedFetchRetry:
		err := s.lastErr
		s.mu.Unlock()
		return nil, err
	default:
		s.lastFetch = now
		s.inflight = &fetchCall{done: make(chan struct{})}
		go i.fetchInto(context.WithoutCancel(ctx), s, s.inflight)
	}
	call := s.inflight
	call.waiters++
	s.mu.Unlock()
	select {
	case <-call.done:
		return call.keys, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchInto runs one fetch for s and hands its result to call's waiters.
func (i *Issuers) fetchInto(ctx context.Context, s *keySet, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	keys, ttl, err := i.fetchKeys(ctx, s.issuer, s.jwksURI)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = nil
	if err != nil {
		i.log.Warn().Err(err).Str("issuer", s.issuer).Str("jwks_uri", s.jwksURI).Msg("federation: fetching the issuer's keys failed")
		s.lastErr = err
		call.err = err
	} else {
		s.keys, s.expires, s.lastErr = keys, i.now().Add(ttl), nil
		call.keys = keys
	}
	close(call.done)
}

func hasKID(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}
