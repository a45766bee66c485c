package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/server/ratelimit"
)

// LimitsConfig is the `limits:` section: token buckets per source address,
// per (claimed client, source address) and per verified client (see
// ratelimit.Guard for which is charged when). The OAuth endpoints (token,
// introspection, revocation) share one set of families; the admin API has
// its own, where the client is the bearer token's key id.
type LimitsConfig struct {
	// Enabled turns all limits off when false (benchmarks of the raw path).
	Enabled bool `yaml:"enabled"`
	// ClientRate/ClientBurst: tokens per second and capacity of a verified
	// client's bucket (its own requests), and of the failure budget of each
	// (claimed client id, source address) pair.
	ClientRate  float64 `yaml:"clientRate"`
	ClientBurst float64 `yaml:"clientBurst"`
	// IPRate/IPBurst: the failure budget of a source address (IPv6: /64).
	IPRate  float64 `yaml:"ipRate"`
	IPBurst float64 `yaml:"ipBurst"`
	// SuccessCost and FailureCost are charged once the answer is known
	// (failure: any 4xx except 429; on the admin API, 401 only).
	SuccessCost float64 `yaml:"successCost"`
	FailureCost float64 `yaml:"failureCost"`
	// AdminRate/AdminBurst size all three admin families.
	AdminRate  float64 `yaml:"adminRate"`
	AdminBurst float64 `yaml:"adminBurst"`
	// MaxKeys bounds the buckets each family keeps (memory under a flood of
	// random client ids or addresses); least recently used go first.
	MaxKeys int `yaml:"maxKeys"`
}

// defaultLimits: a well-behaved client asks for a token every few minutes,
// so 20/s sustained (burst 100) per client is far above need; a failure
// costs 10, so one client id from one address gets about 2 wrong secrets a
// second once its burst of 10 is spent, and one address about 5 (burst 20).
func defaultLimits() LimitsConfig {
	return LimitsConfig{
		Enabled:    true,
		ClientRate: 20, ClientBurst: 100,
		IPRate: 50, IPBurst: 200,
		SuccessCost: 1, FailureCost: 10,
		AdminRate: 20, AdminBurst: 100,
		MaxKeys: 100_000,
	}
}

func (l LimitsConfig) validate() []error {
	var errs []error
	pos := func(key string, v float64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("limits.%s: must be positive, got %v", key, v))
		}
	}
	if !l.Enabled {
		return nil
	}
	pos("clientRate", l.ClientRate)
	pos("clientBurst", l.ClientBurst)
	pos("ipRate", l.IPRate)
	pos("ipBurst", l.IPBurst)
	pos("adminRate", l.AdminRate)
	pos("adminBurst", l.AdminBurst)
	if l.SuccessCost < 0 || l.FailureCost < l.SuccessCost {
		errs = append(errs, errors.New("limits.failureCost must be at least limits.successCost, and costs must not be negative"))
	}
	if l.MaxKeys < 16 {
		errs = append(errs, fmt.Errorf("limits.maxKeys: must be at least 16, got %d", l.MaxKeys))
	}
	return errs
}

// limits holds the guards built from the configuration, by family (nil
// when limits are off).
type limits struct {
	guards map[limitFamily]*ratelimit.Guard
}

// newLimits builds the guards (see ratelimit.Guard for which bucket is
// charged when). The per-client settings size both the bucket of a
// verified client (its own successes and mistakes) and the failure budget
// of each (claimed client, source address) pair.
func newLimits(c LimitsConfig, onReject func(string, ratelimit.Scope), now func() time.Time) *limits {
	if !c.Enabled {
		return &limits{}
	}
	limiter := func(rate, burst float64) *tokenbucket.Limiter {
		return tokenbucket.New(tokenbucket.Policy{Rate: rate, Burst: burst, SuccessCost: c.SuccessCost, FailureCost: c.FailureCost, MaxKeys: c.MaxKeys}, now)
	}
	oauth := &ratelimit.Guard{
		Endpoint: "oauth",
		IP:       limiter(c.IPRate, c.IPBurst),
		ClaimIP:  limiter(c.ClientRate, c.ClientBurst),
		Client:   limiter(c.ClientRate, c.ClientBurst),
		Claimed:  oauthClaimedClient,
		Reject:   rejectOAuth,
		OnReject: onReject,
	}
	// The same buckets, with successes free: resource servers may
	// introspect on every request they serve; only their failures count.
	failuresOnly := *oauth
	failuresOnly.FreeSuccess = func(*http.Request) bool { return true }
	return &limits{guards: map[limitFamily]*ratelimit.Guard{
		limitOAuth:         oauth,
		limitOAuthFailures: &failuresOnly,
		limitAdmin: {
			Endpoint: "admin",
			IP:       limiter(c.AdminRate, c.AdminBurst),
			ClaimIP:  limiter(c.AdminRate, c.AdminBurst),
			Client:   limiter(c.AdminRate, c.AdminBurst),
			Claimed:  adminClaimedKey,
			Reject:   rejectAdmin,
			OnReject: onReject,
			// Administrators make validation mistakes; guessers get 401s.
			Failure: ratelimit.IsAuthFailure,
		},
	}}
}

// guard puts next behind the family's guard (none for limitNone, or with
// limits off). An OAuth family's guard reads the client id from the form
// body: the route's form guard (tokenEndpointGuard) bounds it first.
func (l *limits) guard(f limitFamily, next http.Handler) http.Handler {
	if g := l.guards[f]; g != nil {
		return g.Wrap(next)
	}
	return next
}

// maxLimitKey bounds a bucket key: real client ids are short, and a flood
// of 8 KiB ids must not cost 8 KiB per bucket.
const maxLimitKey = 128

func truncateKey(s string) string {
	if len(s) > maxLimitKey {
		return s[:maxLimitKey]
	}
	return s
}

// oauthClaimedClient is the client id an OAuth request claims (the same
// rule that refuses a body client_id differing from the Basic user).
func oauthClaimedClient(r *http.Request) string {
	id, _ := oauth.ClaimedClient(r)
	return truncateKey(id)
}

// adminClaimedKey is the public key id of the bearer token (parsed, no
// lookup: a token that does not parse claims nothing and is limited by
// address only).
func adminClaimedKey(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	cred, err := apikey.Parse(strings.TrimSpace(token))
	if err != nil {
		return ""
	}
	return cred.ID
}

// rejectOAuth answers slow_down: the token-endpoint error code registered by
// RFC 8628 for "you are asking too often", which puts the blame on the
// client. temporarily_unavailable (RFC 6749 §4.1.2.1) would say the server
// is overloaded and belongs to the authorization endpoint.
func rejectOAuth(w http.ResponseWriter, _ *http.Request, _ time.Duration) {
	oauthError(w, http.StatusTooManyRequests, "slow_down", ratelimit.RefusalMessage)
}

func rejectAdmin(w http.ResponseWriter, _ *http.Request, _ time.Duration) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusTooManyRequests, api.Error{Code: api.CodeRateLimited, Message: ratelimit.RefusalMessage})
}
