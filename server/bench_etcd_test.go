package server_test

import (
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// BenchmarkTokenEndpointEtcd is BenchmarkTokenEndpoint on a replica backed
// by a one-member etcd cluster: lookups come from the watched in-memory
// index, so the figure should match the bbolt one (the signature is still
// the cost).
func BenchmarkTokenEndpointEtcd(b *testing.B) {
	c := etcdtest.Start(b, 1)
	// One client far above the abuse limits, as in BenchmarkTokenEndpoint.
	s := servertest.Replica(b, c.Endpoints(), func(cfg *config.Config) { cfg.Limits.Enabled = false })
	driveTokenEndpoint(b, s)
}
