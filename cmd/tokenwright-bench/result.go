//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// result is what a run prints (as a table, or as JSON with -json).
type result struct {
	Mode      string `json:"mode"`
	Algorithm string `json:"algorithm"`
	Cores     int    `json:"cores"`
	Workers   int    `json:"workers"`
	Keys      int    `json:"keys"`
	// Store is the started server's store (bolt or etcd); with etcd, the
	// cluster's size and whether its members fsync.
	Store       string  `json:"store,omitempty"`
	EtcdMembers int     `json:"etcdMembers,omitempty"`
	EtcdFsync   bool    `json:"etcdFsync,omitempty"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"perSecond"`
	P50ms       float64 `json:"p50ms"`
	P90ms       float64 `json:"p90ms"`
	P99ms       float64 `json:"p99ms"`
	MaxMs       float64 `json:"maxMs"`
	// With -rate (see drive): latency from each request's release by the
	// schedule, and how late the releases were.
	FromReleaseP50ms float64 `json:"fromReleaseP50ms,omitempty"`
	FromReleaseP99ms float64 `json:"fromReleaseP99ms,omitempty"`
	FromReleaseMaxMs float64 `json:"fromReleaseMaxMs,omitempty"`
	ReleaseLagP50ms  float64 `json:"releaseLagP50ms,omitempty"`
	ReleaseLagP99ms  float64 `json:"releaseLagP99ms,omitempty"`
	// The started server's own handler time for the same requests, from
	// its request log (handlerlog.go).
	HandlerP50ms   float64 `json:"handlerP50ms,omitempty"`
	HandlerP99ms   float64 `json:"handlerP99ms,omitempty"`
	HandlerMaxMs   float64 `json:"handlerMaxMs,omitempty"`
	RawSignsPerSec float64 `json:"rawSignsPerSecond,omitempty"` // the mean of before and after
	RawSignsBefore float64 `json:"rawSignsPerSecondBefore,omitempty"`
	RawSignsAfter  float64 `json:"rawSignsPerSecondAfter,omitempty"`
	Ratio          float64 `json:"ratioToRawSigning,omitempty"`
	// CPU spent per request by the server and by this load generator
	// (both on the same cores), and what the server alone would reach if
	// it had every core: requests / server CPU seconds × cores.
	ServerCPUus       float64 `json:"serverCpuMicrosPerRequest,omitempty"`
	ClientCPUus       float64 `json:"clientCpuMicrosPerRequest,omitempty"`
	ServerCapacity    float64 `json:"serverCapacityPerSecond,omitempty"`
	ServerCapacityRaw float64 `json:"serverCapacityRatioToRawSigning,omitempty"`
	ServerRSSMB       float64 `json:"serverRssMB,omitempty"`
	ServerPeakRSSMB   float64 `json:"serverPeakRssMB,omitempty"`
	StartupToReady    float64 `json:"startupToReadySeconds,omitempty"`
	SeedSeconds       float64 `json:"seedSeconds,omitempty"`
	// With -tls: the server certificate's key, the client behaviour and
	// the handshakes the workers made (resumed ones prove resumption).
	TLSCert              string `json:"tlsCert,omitempty"`
	TLSConn              string `json:"tlsConn,omitempty"`
	TLSFullHandshakes    int    `json:"tlsFullHandshakes,omitempty"`
	TLSResumedHandshakes int    `json:"tlsResumedHandshakes,omitempty"`
	// With -target: the server driven, and the process measured
	// (-target-pid; without it there are no server CPU or RSS figures).
	Target    string `json:"target,omitempty"`
	TargetPID int    `json:"targetPid,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile is the q-quantile (0..1) of sorted durations; 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	return sorted[min(n-1, int(q*float64(n)))]
}

func (r *result) fill(s stats) {
	r.Requests, r.Errors, r.FirstError = s.ok, s.errors, s.firstError
	r.TLSFullHandshakes, r.TLSResumedHandshakes = s.fullHandshakes, s.resumedHandshakes
	r.Seconds = s.elapsed.Seconds()
	r.PerSec = float64(s.ok) / r.Seconds
	at := func(q float64) float64 { return ms(quantile(s.latencies, q)) }
	r.P50ms, r.P90ms, r.P99ms, r.MaxMs = at(0.50), at(0.90), at(0.99), at(1)
	if len(s.fromRelease) > 0 {
		r.FromReleaseP50ms, r.FromReleaseP99ms, r.FromReleaseMaxMs = ms(quantile(s.fromRelease, 0.5)), ms(quantile(s.fromRelease, 0.99)), ms(quantile(s.fromRelease, 1))
		r.ReleaseLagP50ms, r.ReleaseLagP99ms = ms(quantile(s.releaseLag, 0.5)), ms(quantile(s.releaseLag, 0.99))
	}
}

// fillHandler records the server's handler times (sorted).
func (r *result) fillHandler(d []time.Duration) {
	if len(d) > 0 {
		r.HandlerP50ms, r.HandlerP99ms, r.HandlerMaxMs = ms(quantile(d, 0.5)), ms(quantile(d, 0.99)), ms(quantile(d, 1))
	}
}

func (r *result) print(w io.Writer) {
	row := func(k, format string, v ...any) { fmt.Fprintf(w, "%-22s "+format+"\n", append([]any{k}, v...)...) }
	row("mode", "%s (%s, %d cores, %d workers, %d keys)", r.Mode, r.Algorithm, r.Cores, r.Workers, r.Keys)
	switch {
	case r.Store == storeEtcd:
		fsync := "fsync on"
		if !r.EtcdFsync {
			fsync = "no fsync"
		}
		row("store", "etcd, %d members on 127.0.0.1 (%s)", r.EtcdMembers, fsync)
	case r.Store != "":
		row("store", "%s", r.Store)
	}
	switch {
	case r.TargetPID != 0:
		row("target", "%s (process %d)", r.Target, r.TargetPID)
	case r.Target != "":
		row("target", "%s (no -target-pid: no server CPU or memory)", r.Target)
	}
	if r.TLSConn != "" {
		row("TLS", "%s certificate, %s connections: %d full handshakes, %d resumed", r.TLSCert, r.TLSConn,
			r.TLSFullHandshakes, r.TLSResumedHandshakes)
	}
	if r.TargetRate > 0 {
		row("target rate", "%.0f/s", r.TargetRate)
	}
	row("throughput", "%.0f/s (%d ok, %d errors in %.1fs)", r.PerSec, r.Requests, r.Errors, r.Seconds)
	if r.FirstError != "" {
		row("first error", "%s", r.FirstError)
	}
	row("latency", "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	if r.HandlerP50ms > 0 {
		row("server handler", "p50 %.2fms  p99 %.2fms  max %.2fms (the server's own time, from its request log)", r.HandlerP50ms, r.HandlerP99ms, r.HandlerMaxMs)
	}
	if r.TargetRate > 0 {
		row("from release", "p50 %.2fms  p99 %.2fms  max %.2fms (the schedule's own lateness excluded)", r.FromReleaseP50ms, r.FromReleaseP99ms, r.FromReleaseMaxMs)
		row("release lag", "p50 %.2fms  p99 %.2fms (how late the generator's timer released requests)", r.ReleaseLagP50ms, r.ReleaseLagP99ms)
	}
	if r.RawSignsPerSec > 0 {
		row("raw signing", "%.0f/s (%s, same cores, same run: %.0f/s before the load, %.0f/s after)",
			r.RawSignsPerSec, r.Algorithm, r.RawSignsBefore, r.RawSignsAfter)
		if spread := r.rawSigningSpread(); spread > maxRawSigningSpread {
			row("warning", "raw signing changed by %.0f%% during the run: the machine's speed varied, so the ratios are unreliable", 100*spread)
		}
		row("ratio", "%.1f%% of raw signing", 100*r.Ratio)
	}
	if r.ServerCPUus > 0 {
		row("CPU per request", "server %.0fµs, load generator %.0fµs", r.ServerCPUus, r.ClientCPUus)
		row("server capacity", "%.0f/s if the server had all %d cores", r.ServerCapacity, r.Cores)
		if r.ServerCapacityRaw > 0 {
			row("capacity ratio", "%.1f%% of raw signing", 100*r.ServerCapacityRaw)
		}
	}
	if r.ServerRSSMB > 0 {
		row("server RSS", "%.1f MB now, %.1f MB peak", r.ServerRSSMB, r.ServerPeakRSSMB)
	}
	if r.StartupToReady > 0 {
		row("startup to ready", "%.3fs (seeding took %.1fs)", r.StartupToReady, r.SeedSeconds)
	}
}

// maxRawSigningSpread is the change of the raw signing rate between
// before and after the load above which a run's ratios are flagged.
const maxRawSigningSpread = 0.10

// rawSigningSpread is how far apart the two raw signing measurements are,
// relative to their mean.
func (r result) rawSigningSpread() float64 {
	if r.RawSignsPerSec == 0 {
		return 0
	}
	return math.Abs(r.RawSignsBefore-r.RawSignsAfter) / r.RawSignsPerSec
}

// report writes a run's result as indented JSON (-json) or as text.
func report(out io.Writer, asJSON bool, res interface{ print(io.Writer) }) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(out)
	return nil
}
