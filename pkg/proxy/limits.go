package proxy

import (
	"container/list"
	"errors"
	"math"
	"net/netip"
	"sync"
	"time"
)

// CallerLimits bounds what one caller of the gateway may cost. A caller is
// the TCP peer's address (an IPv6 address's /64: one host usually holds a
// whole /64), never a header it sent. Each caller has a token bucket of
// Burst tokens regaining Rate per second; a request is admitted while the
// bucket holds at least one token, and charged once its outcome is known:
// FailureCost when the gateway refuses it (400, 401, 403), SuccessCost when
// it was forwarded after asking tokenwright for a token, nothing when it
// was forwarded with a cached token or when tokenwright itself was in
// trouble (429, 5xx). A caller guessing keys therefore runs dry after
// Burst/FailureCost refusals and is answered 429 by the gateway itself,
// without costing tokenwright anything — and without draining tokenwright's
// per-address bucket, which every caller shares when tokenwright does not
// trust the gateway's X-Forwarded-For.
//
// GatewayConfig.Limits nil means DefaultCallerLimits(); Rate 0 turns the
// limits off.
type CallerLimits struct {
	Rate        float64 // tokens regained per second; 0: no limits
	Burst       float64 // bucket size, at least 1
	SuccessCost float64
	FailureCost float64
	// MaxCallers bounds memory: past it the least recently seen caller's
	// bucket is dropped (a dropped bucket comes back full, so eviction can
	// only forgive).
	MaxCallers int
}

// DefaultCallerLimits matches tokenwright's own per-client defaults
// (clientRate 20, clientBurst 100, successCost 1, failureCost 10): a
// caller cannot make the gateway ask for more tokens than tokenwright
// would give one client, and a junk-key flood from one caller reaches
// tokenwright ten times, then twice a second: 20 of the 50 tokens a second
// that tokenwright's per-address bucket regains.
func DefaultCallerLimits() CallerLimits {
	return CallerLimits{Rate: 20, Burst: 100, SuccessCost: 1, FailureCost: 10, MaxCallers: 10000}
}

func (c CallerLimits) validate() error {
	switch {
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return errors.New("gateway: caller rate must be a finite number >= 0")
	case c.Rate == 0:
		return nil
	case !(c.Burst >= 1) || math.IsInf(c.Burst, 0):
		return errors.New("gateway: caller burst must be at least 1")
	case !(c.SuccessCost >= 0) || !(c.FailureCost >= 0) || math.IsInf(c.SuccessCost, 0) || math.IsInf(c.FailureCost, 0):
		return errors.New("gateway: caller costs must be finite numbers >= 0")
	case c.MaxCallers < 1:
		return errors.New("gateway: max callers must be at least 1")
	}
	return nil
}

// callerBuckets is a bounded LRU of token buckets, one per caller.
// golang.org/x/time/rate is not used: its limiter takes tokens on
// admission, whereas here the cost depends on the outcome and is charged
// afterwards (with debt down to -Burst), and it would still need this map.
type callerBuckets struct {
	limits CallerLimits
	now    func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *callerBucket, most recent first
	buckets map[string]*list.Element
}

type callerBucket struct {
	key    string
	tokens float64
	last   time.Time
}

func newCallerBuckets(limits CallerLimits, now func() time.Time) *callerBuckets {
	return &callerBuckets{limits: limits, now: now, lru: list.New(), buckets: map[string]*list.Element{}}
}

// allow reports whether caller may make a request now; if not, retryAfter
// says when its bucket will hold a whole token again. It takes nothing:
// charge does, once the outcome is known.
func (cb *callerBuckets) allow(caller string) (ok bool, retryAfter time.Duration) {
	if cb.limits.Rate == 0 || caller == "" {
		return true, 0
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	el, found := cb.buckets[caller]
	if !found {
		return true, 0 // a new caller has a full bucket
	}
	b := cb.refill(el)
	if b.tokens >= 1 {
		return true, 0
	}
	wait := (1 - b.tokens) / cb.limits.Rate
	return false, time.Duration(math.Ceil(wait * float64(time.Second)))
}

// charge takes cost from caller's bucket; it may go into debt down to
// -Burst, so that a caller that keeps failing waits longer, but boundedly.
func (cb *callerBuckets) charge(caller string, cost float64) {
	if cb.limits.Rate == 0 || caller == "" || cost <= 0 {
		return
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	el, found := cb.buckets[caller]
	if !found {
		if cb.lru.Len() >= cb.limits.MaxCallers {
			oldest := cb.lru.Back()
			delete(cb.buckets, oldest.Value.(*callerBucket).key)
			cb.lru.Remove(oldest)
		}
		el = cb.lru.PushFront(&callerBucket{key: caller, tokens: cb.limits.Burst, last: cb.now()})
		cb.buckets[caller] = el
	}
	b := cb.refill(el)
	b.tokens = max(b.tokens-cost, -cb.limits.Burst)
}

// refill brings el's bucket up to date and marks it recently used; cb.mu
// is held.
func (cb *callerBuckets) refill(el *list.Element) *callerBucket {
	cb.lru.MoveToFront(el)
	b := el.Value.(*callerBucket)
	now := cb.now()
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.tokens+d*cb.limits.Rate, cb.limits.Burst)
		b.last = now
	}
	return b
}

func (cb *callerBuckets) len() int {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.lru.Len()
}

// callerKey is the bucket key for a TCP peer address ("ip:port"): the IPv4
// address, or the /64 of an IPv6 address. tokenwright keys its
// per-address buckets the same way (server/ratelimit.AddressKey).
func callerKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return ""
	}
	ip := ap.Addr()
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}
