package server

import (
	"runtime/debug"

	"github.com/tokenwright/tokenwright/server/config"
)

// DefaultGCPercent is the garbage collector target `serve` uses with the
// bbolt store unless the GOGC environment variable says otherwise. A token
// request allocates ~25 KB that dies at once, and the live heap is small
// (the store's data lives in bbolt's memory map), so collecting at 4× the
// live heap instead of 2× cuts the server's CPU per ES256 token by about a
// fifth for a few MB of extra RSS (docs/performance.md).
//
// With etcd the store's data is in the heap (the mirror, hundreds of MB at
// a million keys), where 4× would multiply it: Go's default (GOGC=100)
// applies.
const DefaultGCPercent = 400

// TuneRuntime applies DefaultGCPercent when GOGC is unset and the store
// (config.Config.Store) keeps its data outside the heap. Process-wide, so only a
// command's entry point calls it, never the library.
func TuneRuntime(getenv func(string) string, store string) {
	if getenv("GOGC") == "" && store != config.StoreEtcd {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
