package server_test

import (
	"runtime/debug"
	"testing"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
)

// GOGC=400 suits the bbolt store, whose data is outside the heap; with
// etcd the mirror is the heap, and 4× of it would be the RSS
// (docs/high-availability.md, "Scale"). An explicit GOGC always wins.
func TestTuneRuntimeGCTarget(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, c := range []struct {
		store, gogc string
		want        int
	}{
		{config.StoreBolt, "", server.DefaultGCPercent},
		{config.StoreEtcd, "", 100},
		{config.StoreBolt, "150", 100},
	} {
		debug.SetGCPercent(100)
		server.TuneRuntime(func(k string) string {
			if k == "GOGC" {
				return c.gogc
			}
			return ""
		}, c.store)
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("store %s, GOGC=%q: GC percent %d, want %d", c.store, c.gogc, got, c.want)
		}
	}
}
