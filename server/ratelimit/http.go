package ratelimit

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/tokenwright/tokenwright/server/reqctx"
)

// Scope names which family of buckets refused a request (for metrics).
type Scope string

// The two families.
const (
	ScopeIP     Scope = "ip"
	ScopeClient Scope = "client"
)

// Guard applies a per-source-address and a per-client limiter to one
// endpoint. IP or Client may be nil (that family is not applied).
type Guard struct {
	// Endpoint names the endpoint in metrics ("token", "admin", ...).
	Endpoint string
	IP       *Limiter
	Client   *Limiter
	// ClientKey extracts the client identity from a request whose body, if
	// any, has already been bounded; "" means none (only the IP applies).
	ClientKey func(*http.Request) string
	// Reject writes the 429 answer in the endpoint's error format. The
	// Retry-After header is already set.
	Reject func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)
	// OnReject, if set, observes every refusal (metrics).
	OnReject func(endpoint string, scope Scope)
	// Failure classifies a response status; nil means IsFailure.
	Failure func(status int) bool
	// FreeSuccess, if set, exempts some requests' successes from the
	// charge (failures are always charged).
	FreeSuccess func(r *http.Request) bool
}

// IsFailure says whether a response status counts as a failed attempt: a
// client mistake that a guesser would produce (bad credentials, malformed
// request, forbidden). 429s are not charged again, so a client that honours
// Retry-After is let back in.
func IsFailure(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusTooManyRequests
}

// IsAuthFailure counts only failed authentication (401): for APIs whose
// callers are already trusted, a validation error is not an attack.
func IsAuthFailure(status int) bool { return status == http.StatusUnauthorized }

// AddressKey is the per-address bucket key: the IPv4 address, or the /64
// of an IPv6 address (one host usually controls a whole /64, so keying by
// the full address would let it rotate through 2^64 fresh buckets).
func AddressKey(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return ""
	case ip.Is6() && !ip.Is4In6():
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var clientKey string
		ipKey := AddressKey(reqctx.ClientIP(r.Context()))
		if g.ClientKey != nil && g.Client != nil {
			clientKey = g.ClientKey(r)
		}
		if g.IP != nil && ipKey != "" {
			if ok, wait := g.IP.Allow(ipKey); !ok {
				g.reject(w, r, ScopeIP, wait)
				return
			}
		}
		if clientKey != "" {
			if ok, wait := g.Client.Allow(clientKey); !ok {
				g.reject(w, r, ScopeClient, wait)
				return
			}
		}
		rec := statusWriter{ResponseWriter: w}
		next.ServeHTTP(&rec, r)
		isFailure := g.Failure
		if isFailure == nil {
			isFailure = IsFailure
		}
		failed := isFailure(rec.status)
		if !failed && g.FreeSuccess != nil && g.FreeSuccess(r) {
			return
		}
		charge := func(l *Limiter, key string) {
			if l == nil || key == "" {
				return
			}
			if failed {
				l.Failure(key)
			} else {
				l.Success(key)
			}
		}
		charge(g.IP, ipKey)
		charge(g.Client, clientKey)
	})
}

func (g *Guard) reject(w http.ResponseWriter, r *http.Request, scope Scope, wait time.Duration) {
	if g.OnReject != nil {
		g.OnReject(g.Endpoint, scope)
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	g.Reject(w, r, wait)
}

// statusWriter remembers the status for the charge. It forwards Flush so
// streaming handlers (backup) keep working behind a guard.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
