//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The started server logs one line per request with its handler time
// (duration_ms: from the request entering the handler chain to the
// handler's return). Beside the latency the load generator sees, that
// time says how much of a request's latency the server's own code
// accounts for; the rest is the kernel, the scheduling of two processes on
// shared cores and the generator itself (docs/performance.md).

// logPath is the started server's log file.
func (c *child) logPath() string { return filepath.Join(c.dataDir, "server.log") }

// logSize is how much the log holds now: handlerLatencies reads from
// there, so a data directory reused across runs (-data) counts only this
// run's requests.
func (c *child) logSize() int64 {
	fi, err := os.Stat(c.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// handlerLatencies are the handler times, sorted, of the requests to path
// logged after offset from.
func (c *child) handlerLatencies(from int64, path string) ([]time.Duration, error) {
	f, err := os.Open(c.logPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, err
	}
	var out []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Path       string   `json:"path"`
			DurationMs *float64 `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Path != path || line.DurationMs == nil {
			continue
		}
		out = append(out, time.Duration(*line.DurationMs*float64(time.Millisecond)))
	}
	slices.Sort(out)
	return out, sc.Err()
}

// endpointPath is the path each mode drives ("" for keycreate, whose path
// names the account).
func (o options) endpointPath() string {
	switch o.mode {
	case "token":
		return o.tokenPath
	case "introspect":
		return "/oauth/introspect"
	case "jwks":
		return "/keys"
	case "discovery":
		return "/.well-known/openid-configuration"
	}
	return ""
}
