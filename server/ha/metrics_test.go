package ha_test

import (
	"math"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// TestHAStoreMetrics (issue 16, finding 7): on etcd, /metrics has the
// mirror's staleness (finite and small while the cluster answers, growing
// once it does not) and tokenwright_store_up, which drops to 0 without a
// quorum for longer than etcd.maxStaleness.
func TestHAStoreMetrics(t *testing.T) { etcdtest.Each(t, testHAStoreMetrics) }

func testHAStoreMetrics(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 3)
	// The store check (as /readyz's) fails once the mirror is older than
	// maxStaleness without a quorum.
	a := servertest.Replica(t, c.Endpoints(), func(cfg *config.Config) {
		cfg.Etcd.RequestTimeout = config.Duration(time.Second)
		cfg.Etcd.MaxStaleness = config.Duration(3 * time.Second)
	})
	metric := func(series string) float64 {
		v, ok := a.Metric(t, series)
		if !ok {
			t.Fatalf("no %s in /metrics", series)
		}
		return v
	}
	within(t, 10*time.Second, "a fresh mirror and a healthy store", func() bool {
		age := metric("tokenwright_store_mirror_staleness_seconds")
		return !math.IsInf(age, 1) && age < 5 && metric("tokenwright_store_up") == 1
	})
	c.Kill(1)
	c.Kill(2)
	within(t, 20*time.Second, "the store reported down and the mirror growing stale", func() bool {
		up, age := metric("tokenwright_store_up"), metric("tokenwright_store_mirror_staleness_seconds")
		return up == 0 && age > 3
	})
}
