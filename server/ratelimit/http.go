// Package ratelimit guards tokenwright's HTTP endpoints with token buckets
// (pkg/tokenbucket): per source address and per (claimed identity, address)
// before a credential is verified, per verified identity after. See Guard.
package ratelimit

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tokenwright/tokenwright/pkg/httprec"
	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
	"github.com/tokenwright/tokenwright/server/reqctx"
)

// Scope names which family of buckets refused a request (for metrics).
type Scope string

// The three families.
const (
	// ScopeIP: the source address (IPv6: its /64), checked before the
	// credential is verified, charged for failures.
	ScopeIP Scope = "ip"
	// ScopeClaimIP: the identity a request claims together with its source
	// address, checked before verifying, charged for failures.
	ScopeClaimIP Scope = "client_address"
	// ScopeClient: an authenticated identity, checked only once the
	// credential is verified, charged for that identity's own requests.
	ScopeClient Scope = "client"
)

// RefusalMessage is the human-readable text of every 429.
const RefusalMessage = "too many requests; retry after the number of seconds in Retry-After"

// Guard applies three families of buckets to one endpoint so that a valid
// credential is never refused because of someone else's failures:
//
//   - before the request is served, the source address (IP) and the pair
//     (claimed identity, source address) (ClaimIP) must hold a token; they
//     are charged FailureCost for every failure that did not authenticate.
//     A flood of wrong secrets thus drains the flooder's own buckets only.
//   - when the handler reports a verified caller (reqctx.Authenticated),
//     that identity's bucket (Client) must hold a token; it is charged by
//     the outcome of the identity's own requests, and by nothing else.
//
// Any family may be nil (not applied).
type Guard struct {
	// Endpoint names the endpoint in metrics ("oauth", "admin").
	Endpoint string
	IP       *tokenbucket.Limiter
	ClaimIP  *tokenbucket.Limiter
	Client   *tokenbucket.Limiter
	// Claimed extracts, without verifying anything, the identity a request
	// claims (from a request whose body, if any, is already bounded); ""
	// means none (only the IP family applies before verification).
	Claimed func(*http.Request) string
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

// claimIPKey joins a claimed identity and an address key. NUL cannot occur
// in an address key, so two different pairs never share a bucket.
func claimIPKey(claimed, addr string) string { return claimed + "\x00" + addr }

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ipKey := tokenbucket.AddressKey(reqctx.ClientIP(r.Context()))
		var pairKey string
		if g.ClaimIP != nil && g.Claimed != nil {
			if claimed := g.Claimed(r); claimed != "" {
				pairKey = claimIPKey(claimed, ipKey)
			}
		}
		// The flooder's own buckets are checked before any verification:
		// that bounds what a flood costs the server.
		if !g.allow(w, r, g.IP, ipKey, ScopeIP) || !g.allow(w, r, g.ClaimIP, pairKey, ScopeClaimIP) {
			return
		}
		var identity string
		throttled := false
		ctx := reqctx.WithAdmission(r.Context(), func(id string) error {
			identity = id
			if g.Client == nil {
				return nil
			}
			if ok, wait := g.Client.Allow(id); !ok {
				throttled = true
				g.refused(w, ScopeClient, wait)
				return reqctx.ErrThrottled
			}
			return nil
		})
		rec := httprec.New(w)
		next.ServeHTTP(rec, r.WithContext(ctx))
		isFailure := g.Failure
		if isFailure == nil {
			isFailure = IsFailure
		}
		failed := isFailure(rec.Status)
		switch {
		case throttled:
			// A 429 is not charged again.
		case identity != "":
			// A verified caller pays for its own requests only.
			if g.Client == nil {
				return
			}
			if failed {
				g.Client.Failure(identity)
			} else if g.FreeSuccess == nil || !g.FreeSuccess(r) {
				g.Client.Success(identity)
			}
		case failed:
			// Unverified: the failure is the source's, and the claim's
			// from that source, never the claimed identity's.
			if g.IP != nil && ipKey != "" {
				g.IP.Failure(ipKey)
			}
			if pairKey != "" {
				g.ClaimIP.Failure(pairKey)
			}
		}
	})
}

// allow checks key's bucket in l (nil l or empty key: no limit) and
// answers the refusal itself.
func (g *Guard) allow(w http.ResponseWriter, r *http.Request, l *tokenbucket.Limiter, key string, scope Scope) bool {
	if l == nil || key == "" {
		return true
	}
	ok, wait := l.Allow(key)
	if !ok {
		g.refused(w, scope, wait)
		g.Reject(w, r, wait)
	}
	return ok
}

// refused records a refusal and sets the headers every 429 carries.
func (g *Guard) refused(w http.ResponseWriter, scope Scope, wait time.Duration) {
	if g.OnReject != nil {
		g.OnReject(g.Endpoint, scope)
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	w.Header().Set("Cache-Control", "no-store")
}
