package config

import (
	"errors"
	"fmt"
)

// Limits is the `limits:` section: token buckets per source address,
// per (claimed client, source address) and per verified client (see
// ratelimit.Guard for which is charged when). The OAuth endpoints (token,
// introspection, revocation) share one set of families; the admin API has
// its own, where the client is the bearer token's key id.
type Limits struct {
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
func defaultLimits() Limits {
	return Limits{
		Enabled:    true,
		ClientRate: 20, ClientBurst: 100,
		IPRate: 50, IPBurst: 200,
		SuccessCost: 1, FailureCost: 10,
		AdminRate: 20, AdminBurst: 100,
		MaxKeys: 100_000,
	}
}

func (l Limits) validate() []error {
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
