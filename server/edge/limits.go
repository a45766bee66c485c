package edge

import (
	"net/http"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/oauth"
	"github.com/tokenwright/tokenwright/server/ratelimit"
)

// limits holds the guards built from the configuration, by family (nil
// when limits are off).
type limits struct {
	guards map[LimitFamily]*ratelimit.Guard
}

// newLimits builds the guards (see ratelimit.Guard for which bucket is
// charged when). The per-client settings size both the bucket of a
// verified client (its own successes and mistakes) and the failure budget
// of each (claimed client, source address) pair.
func newLimits(c config.Limits, onReject func(string, ratelimit.Scope), now func() time.Time) *limits {
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
	return &limits{guards: map[LimitFamily]*ratelimit.Guard{
		LimitOAuth:         oauth,
		LimitOAuthFailures: &failuresOnly,
		LimitAdmin: {
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

// guard puts next behind the family's guard (none for LimitNone, or with
// limits off). An OAuth family's guard reads the client id from the form
// body: the route's form guard (tokenEndpointGuard) bounds it first.
func (l *limits) guard(f LimitFamily, next http.Handler) http.Handler {
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
	WriteJSON(w, http.StatusTooManyRequests, api.Error{Code: api.CodeRateLimited, Message: ratelimit.RefusalMessage})
}
