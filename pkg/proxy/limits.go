package proxy

import (
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
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

// newCallerBuckets returns the gateway's per-caller buckets: the same
// token buckets tokenwright's own limits use, charged by outcome after the
// answer (golang.org/x/time/rate takes tokens on admission instead), with
// debt bounded by one burst and memory by MaxCallers.
func newCallerBuckets(limits CallerLimits, now func() time.Time) *tokenbucket.Limiter {
	return tokenbucket.New(tokenbucket.Policy{Rate: limits.Rate, Burst: limits.Burst, SuccessCost: limits.SuccessCost,
		FailureCost: limits.FailureCost, MaxKeys: limits.MaxCallers}, now)
}

// callerKey is the bucket key for a TCP peer address ("ip:port"): the IPv4
// address, or the /64 of an IPv6 address, as tokenwright keys its own
// per-address buckets.
func callerKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return ""
	}
	return tokenbucket.AddressKey(ap.Addr())
}
