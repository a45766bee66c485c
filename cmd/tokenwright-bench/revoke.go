//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/store/etcd"
)

// modeRevoke measures how long a key revoked through one replica keeps
// working on another (docs/high-availability.md promises at most
// etcd.FreshnessBound on a healthy cluster), while the other replica
// serves token load.
const modeRevoke = "revoke"

// probeGiveUp is how long replica B is asked about one key (for its first
// token after the create, for its first refusal after the revoke) before
// the key is reported as never usable or never refused: a hundred times
// the bound, so that a broken promise shows as a count, not as a hang.
const probeGiveUp = 100 * etcd.FreshnessBound

func checkRevokeFlags(o options) error {
	switch {
	case o.store != storeEtcd:
		return errors.New("-mode revoke needs -store etcd: its two replicas share one etcd cluster")
	case o.tls:
		return errors.New("-mode revoke runs over plain HTTP (no -tls)")
	case o.revocations < 1:
		return errors.New("-revocations must be positive")
	}
	return nil
}

// revokeResult is what -mode revoke prints (as a table, or as JSON with
// -json). Durations are in milliseconds.
type revokeResult struct {
	Mode        string `json:"mode"`
	Algorithm   string `json:"algorithm"`
	Cores       int    `json:"cores"`
	Workers     int    `json:"workers"` // token load on replica B
	Keys        int    `json:"keys"`    // seeded keys the load uses
	Store       string `json:"store"`
	EtcdMembers int    `json:"etcdMembers"`
	EtcdFsync   bool   `json:"etcdFsync"`
	Replicas    int    `json:"replicas"`
	Revocations int    `json:"revocations"`
	// BoundMs is the promise being measured (etcd.FreshnessBound).
	BoundMs float64 `json:"boundMs"`
	// RefusedMs: from the arrival of A's 200 for the revoke to the arrival
	// of B's first 401 for that key, B asked back to back on a keep-alive
	// connection of its own with no pause between requests.
	RefusedP50ms float64 `json:"refusedP50ms"`
	RefusedP99ms float64 `json:"refusedP99ms"`
	RefusedMaxMs float64 `json:"refusedMaxMs"`
	// WindowMs: from A's 200 to the start of B's last request that still
	// got a token (0 when none did), the measure of the HA fault checker.
	WindowP50ms float64 `json:"windowP50ms"`
	WindowP99ms float64 `json:"windowP99ms"`
	WindowMaxMs float64 `json:"windowMaxMs"`
	// TokensAfterRevoke is how many tokens B issued, in all, to requests
	// sent after A had answered the revoke; RevocationsWithTokens in how
	// many of the revocations that happened at least once.
	TokensAfterRevoke     int `json:"tokensAfterRevoke"`
	RevocationsWithTokens int `json:"revocationsWithTokensAfter"`
	// NeverRefused counts keys B still honoured probeGiveUp after the
	// revoke was answered (must be 0).
	NeverRefused int `json:"neverRefused"`
	// UsableMs: from A's 201 for a new key to B's first token with it;
	// RefusedBeforeUsable counts B's refusals of a key A had created.
	UsableP50ms         float64 `json:"usableP50ms"`
	UsableP99ms         float64 `json:"usableP99ms"`
	UsableMaxMs         float64 `json:"usableMaxMs"`
	RefusedBeforeUsable int     `json:"refusedBeforeUsable"`
	// RevokeCallMs is how long A took to answer the revoke.
	RevokeCallP50ms float64 `json:"revokeCallP50ms"`
	RevokeCallP99ms float64 `json:"revokeCallP99ms"`
	// ProbesUnavailable counts B's 503 answers to the probes (no fresh
	// view and no linearizable read within the bound: neither a token nor
	// a refusal).
	ProbesUnavailable int `json:"probesUnavailable"`
	// The token load on B meanwhile.
	LoadPerSec   float64 `json:"loadPerSecond"`
	LoadRequests int     `json:"loadRequests"`
	LoadErrors   int     `json:"loadErrors"`
	LoadP50ms    float64 `json:"loadP50ms"`
	LoadP99ms    float64 `json:"loadP99ms"`
	Seconds      float64 `json:"seconds"`
}

// runRevoke starts the etcd cluster and replica A (seeded as -store etcd
// seeds), then replica B on the same cluster, drives token load on B and
// measures o.revocations revocations made through A as B sees them.
func runRevoke(ctx context.Context, o options, out io.Writer) error {
	a, err := startChild(ctx, o)
	if err != nil {
		return err
	}
	defer a.stop() // after b.stop: it also stops the cluster
	b, err := startReplica(ctx, o, a)
	if err != nil {
		return err
	}
	defer b.stop()

	lo := o
	lo.mode = "token"
	lo.duration = 24 * time.Hour // the revocations end the load, not a duration
	// The load on B uses the keys seeded into the cluster before A started
	// (their secrets are in A's data directory).
	lg, err := newLoad(ctx, lo, b.url, b.adminToken, a)
	if err != nil {
		return err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	type driven struct {
		s   stats
		err error
	}
	loaded := make(chan driven, 1)
	go func() {
		s, err := lg.drive(loadCtx)
		loaded <- driven{s, err}
	}()
	start := time.Now()
	samples, measureErr := measureRevocations(ctx, o.revocations, a, b)
	elapsed := time.Since(start)
	stopLoad()
	load := <-loaded
	if measureErr != nil {
		return measureErr
	}
	if load.err != nil {
		return load.err
	}
	res := revokeResult{Mode: modeRevoke, Algorithm: o.alg, Cores: runtime.GOMAXPROCS(0), Workers: o.workers, Keys: o.keys,
		Store: storeEtcd, EtcdMembers: o.etcdMembers, EtcdFsync: !o.etcdNoFsync, Replicas: 2, Revocations: len(samples),
		BoundMs: ms(etcd.FreshnessBound), Seconds: elapsed.Seconds()}
	res.summarize(samples)
	res.LoadRequests, res.LoadErrors = load.s.ok, load.s.errors
	res.LoadPerSec = float64(load.s.ok) / load.s.elapsed.Seconds()
	res.LoadP50ms, res.LoadP99ms = ms(quantile(load.s.latencies, 0.50)), ms(quantile(load.s.latencies, 0.99))
	return report(out, o.json, &res)
}

// startReplica starts a second server on a's etcd cluster, as a second
// replica of a deployment: the same configuration, its own data directory
// (inside a's, removed with it) and a's key-encryption key, without which
// it could not unseal the signing keys a created.
func startReplica(ctx context.Context, o options, a *child) (*child, error) {
	b := &child{dataDir: filepath.Join(a.dataDir, "replica-b"), adminToken: a.adminToken}
	if err := os.MkdirAll(b.dataDir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	b.url = "http://" + addr
	args := []string{"-data", b.dataDir, "-listen", addr, "-alg", o.alg, "-log", filepath.Join(b.dataDir, "server.log"),
		"-etcd-endpoints", strings.Join(a.etcd.endpoints, ","), "-kek-file", filepath.Join(a.dataDir, "kek")}
	if err := b.spawn(ctx, args); err != nil {
		b.stop()
		return nil, fmt.Errorf("replica B: %w", err)
	}
	return b, nil
}

// revocation is what one create → use on B → revoke on A → probe B
// iteration observed.
type revocation struct {
	usable              time.Duration // A's 201 to B's first token with the key
	refusedBeforeUsable int
	revokeCall          time.Duration // how long A took to answer the revoke
	refused             time.Duration // A's 200 to B's first 401; < 0: never within probeGiveUp
	window              time.Duration // A's 200 to the start of B's last request that got a token
	issuedAfter         int           // tokens B issued to requests sent after A's 200
	unavailable         int           // B's 503 answers
}

// measureRevocations runs n iterations one after the other: create a key
// through A's admin API, ask B for tokens with it until one is issued,
// revoke it through A, and ask B again, back to back with no pause, until
// B refuses it.
func measureRevocations(ctx context.Context, n int, a, b *child) ([]revocation, error) {
	admin := &load{target: a.url, admin: a.adminToken, client: &http.Client{Timeout: 30 * time.Second}}
	defer admin.client.CloseIdleConnections()
	conn := &rawConn{target: b.url} // the probes' own connection, beside the load's
	defer conn.close()
	probe := func(k api.KeyWithSecret) (status int, sent, answered time.Time, err error) {
		sent = time.Now()
		status, err = conn.do(tokenRequest(ctx, b.url+"/oauth/token", k.ClientID, k.ClientSecret))
		return status, sent, time.Now(), err
	}
	keys := "/api/v1/service-accounts/" + benchAccount + "/keys"
	var samples []revocation
	for i := range n {
		var r revocation
		body, err := admin.adminCall(ctx, keys, fmt.Sprintf(`{"name":"revoke-%d"}`, i))
		if err != nil {
			return nil, fmt.Errorf("creating a key on A: %w", err)
		}
		created := time.Now()
		var k api.KeyWithSecret
		if err := json.Unmarshal(body, &k); err != nil || k.ClientSecret == "" || k.ID == "" {
			return nil, fmt.Errorf("creating a key on A: answer %s (%v)", body, err)
		}
		for {
			status, _, answered, err := probe(k)
			if err != nil {
				return nil, err
			}
			switch status {
			case http.StatusOK:
				r.usable = answered.Sub(created)
			case http.StatusUnauthorized:
				r.refusedBeforeUsable++
			case http.StatusServiceUnavailable:
				r.unavailable++
			default:
				return nil, fmt.Errorf("replica B answered a token request with HTTP %d", status)
			}
			if status == http.StatusOK {
				break
			}
			if answered.Sub(created) > probeGiveUp {
				return nil, fmt.Errorf("a key created on A was not usable on B %s later", probeGiveUp)
			}
		}

		sent := time.Now()
		if _, err := admin.adminCall(ctx, keys+"/"+k.ID+":revoke", ""); err != nil {
			return nil, fmt.Errorf("revoking a key on A: %w", err)
		}
		revoked := time.Now()
		r.revokeCall = revoked.Sub(sent)
		r.refused = -1
		for r.refused < 0 {
			status, probeSent, answered, err := probe(k)
			if err != nil {
				return nil, err
			}
			switch status {
			case http.StatusOK:
				r.issuedAfter++
				r.window = probeSent.Sub(revoked)
			case http.StatusUnauthorized:
				r.refused = answered.Sub(revoked)
			case http.StatusServiceUnavailable:
				r.unavailable++
			default:
				return nil, fmt.Errorf("replica B answered a token request with HTTP %d", status)
			}
			if r.refused < 0 && answered.Sub(revoked) > probeGiveUp {
				break // reported as never refused
			}
		}
		samples = append(samples, r)
	}
	return samples, nil
}

func (r *revokeResult) summarize(samples []revocation) {
	var usable, revokeCall, refused, window []time.Duration
	for _, s := range samples {
		usable, revokeCall, window = append(usable, s.usable), append(revokeCall, s.revokeCall), append(window, s.window)
		if s.refused >= 0 {
			refused = append(refused, s.refused)
		} else {
			r.NeverRefused++
		}
		r.RefusedBeforeUsable += s.refusedBeforeUsable
		r.TokensAfterRevoke += s.issuedAfter
		if s.issuedAfter > 0 {
			r.RevocationsWithTokens++
		}
		r.ProbesUnavailable += s.unavailable
	}
	for _, ds := range [][]time.Duration{usable, revokeCall, refused, window} {
		slices.Sort(ds)
	}
	r.RefusedP50ms, r.RefusedP99ms, r.RefusedMaxMs = ms(quantile(refused, 0.5)), ms(quantile(refused, 0.99)), ms(quantile(refused, 1))
	r.WindowP50ms, r.WindowP99ms, r.WindowMaxMs = ms(quantile(window, 0.5)), ms(quantile(window, 0.99)), ms(quantile(window, 1))
	r.UsableP50ms, r.UsableP99ms, r.UsableMaxMs = ms(quantile(usable, 0.5)), ms(quantile(usable, 0.99)), ms(quantile(usable, 1))
	r.RevokeCallP50ms, r.RevokeCallP99ms = ms(quantile(revokeCall, 0.5)), ms(quantile(revokeCall, 0.99))
}

func (r *revokeResult) print(w io.Writer) {
	row := func(k, format string, v ...any) { fmt.Fprintf(w, "%-22s "+format+"\n", append([]any{k}, v...)...) }
	fsync := "fsync on"
	if !r.EtcdFsync {
		fsync = "no fsync"
	}
	row("mode", "revoke (%s, %d cores, %d keys)", r.Algorithm, r.Cores, r.Keys)
	row("store", "etcd, %d members on 127.0.0.1 (%s); replicas A and B", r.EtcdMembers, fsync)
	row("revocations", "%d: key created on A, used on B, revoked on A, then B asked back to back (no pause)", r.Revocations)
	row("B refused it after", "p50 %.2fms  p99 %.2fms  max %.2fms (A's 200 to B's first 401; bound %.0fms)",
		r.RefusedP50ms, r.RefusedP99ms, r.RefusedMaxMs, r.BoundMs)
	row("B's window", "p50 %.2fms  p99 %.2fms  max %.2fms (A's 200 to the start of B's last request that got a token)",
		r.WindowP50ms, r.WindowP99ms, r.WindowMaxMs)
	row("tokens after revoke", "%d, in %d of %d revocations", r.TokensAfterRevoke, r.RevocationsWithTokens, r.Revocations)
	row("never refused", "%d", r.NeverRefused)
	row("usable on B after", "p50 %.2fms  p99 %.2fms  max %.2fms (A's 201 to B's first token; %d refusals before)",
		r.UsableP50ms, r.UsableP99ms, r.UsableMaxMs, r.RefusedBeforeUsable)
	row("revoke answered by A", "p50 %.2fms  p99 %.2fms", r.RevokeCallP50ms, r.RevokeCallP99ms)
	if r.ProbesUnavailable > 0 {
		row("probes answered 503", "%d", r.ProbesUnavailable)
	}
	row("load on B", "%.0f tokens/s (%d ok, %d errors, %d workers)  p50 %.2fms  p99 %.2fms",
		r.LoadPerSec, r.LoadRequests, r.LoadErrors, r.Workers, r.LoadP50ms, r.LoadP99ms)
	row("took", "%.1fs", r.Seconds)
}
