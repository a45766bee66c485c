package ha_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// The fault-injecting checker (issue 14): concurrent clients create keys,
// get tokens with them, revoke them and keep probing the revoked ones
// through the real HTTP API of three replicas over a three-member etcd
// cluster, while members are killed (SIGKILL), paused (SIGSTOP) and quorum
// is lost and regained. Every operation is recorded with monotonic start
// and end times; afterwards the history is checked against what
// docs/high-availability.md promises:
//
//	(a) no acknowledged write is lost: every key created with 201 is on
//	    every replica, every key revoked with 200 is revoked on every
//	    replica, and a create answered with a 503 that is not "outcome
//	    unknown" did not land;
//	(b) the replica that answered a revoke issues no token for the key to a
//	    request that started after the answer, whatever the faults;
//	(c) another replica issues none to a request that started more than
//	    etcd.FreshnessBound (100 ms) after the answer on a healthy cluster,
//	    or more than 1 s with one member killed or paused; while quorum is
//	    lost, and while it returns, only etcd.maxStaleness is promised, so
//	    those windows are measured and reported, not held to the bound;
//	(e) on a healthy cluster a key created with 201 gets a token from every
//	    replica at once.
//
// TOKENWRIGHT_HA_CHECK_DURATION (a Go duration) sets how long faults are
// injected (default 20s per etcd version).
func TestHAFaultChecker(t *testing.T) { etcdtest.Each(t, testHAFaultChecker) }

// Phases, ordered by how little the documentation promises in them: an
// observation spanning several phases is judged by the last of them.
type phase int

const (
	phaseHealthy    phase = iota
	phaseKilled           // one member killed (SIGKILL), until it is back and caught up
	phasePaused           // one member paused (SIGSTOP), until shortly after SIGCONT
	phaseRecovering       // quorum returned, until the cluster is healthy and settled
	phaseQuorumLost       // two of three members killed or paused
	numPhases
)

func (p phase) String() string {
	return [...]string{"healthy", "one member killed", "one member paused", "recovering", "quorum lost"}[p]
}

// bound is the cross-replica revocation bound the documentation states
// for a phase; 0 means only etcd.maxStaleness is promised.
func (p phase) bound() time.Duration {
	switch p {
	case phaseHealthy:
		return etcd.FreshnessBound
	case phaseKilled, phasePaused:
		return time.Second
	}
	return 0
}

type opKind string

const (
	opCreate opKind = "create"
	opToken  opKind = "token"
	opRevoke opKind = "revoke"
)

// op is one history entry. Times are monotonic offsets from the start.
type op struct {
	seq        int
	kind       opKind
	replica    int
	account    string
	key        string // key ID (create: the ID answered, or empty)
	name       string // key name (create)
	start, end time.Duration
	status     int
	code       string // error code
	msg        string // error message (admin API)
	unknown    bool   // a 503 saying the outcome is unknown
	err        string // transport error
}

func (o op) String() string {
	s := fmt.Sprintf("#%d %s on replica %d account %s key %s [%s, %s] HTTP %d",
		o.seq, o.kind, o.replica, o.account, o.key+o.name, o.start.Round(time.Microsecond), o.end.Round(time.Microsecond), o.status)
	if o.code != "" {
		s += " " + o.code
	}
	if o.msg != "" {
		s += fmt.Sprintf(" %q", o.msg)
	}
	if o.unknown {
		s += " (outcome unknown)"
	}
	if o.err != "" {
		s += " error: " + o.err
	}
	return s
}

type span struct {
	phase      phase
	what       string
	start, end time.Duration
}

type history struct {
	t0     time.Time
	mu     sync.Mutex
	ops    []op
	spans  []span
	secret map[string]string // key ID → secret
}

func (h *history) now() time.Duration { return time.Since(h.t0) }

func (h *history) add(o op) {
	h.mu.Lock()
	o.seq = len(h.ops)
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

func (h *history) fault(p phase, what string, start time.Duration) {
	h.mu.Lock()
	h.spans = append(h.spans, span{phase: p, what: what, start: start, end: h.now()})
	h.mu.Unlock()
}

// worst is the least-promising phase overlapping [from, to].
func (h *history) worst(from, to time.Duration) phase {
	w := phaseHealthy
	for _, s := range h.spans {
		if s.start <= to && s.end >= from && s.phase > w {
			w = s.phase
		}
	}
	return w
}

// client talks to the replicas over real HTTP without testing.T, so that
// it can run in worker goroutines.
type checkerClient struct {
	hc      *http.Client
	servers []*servertest.Server
	admin   string
	h       *history
}

func (c *checkerClient) send(replica int, method, path, token string, basic [2]string, body io.Reader, ctype string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.servers[replica].URL+path, body)
	if err != nil {
		return 0, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// admin sends an admin API request and records it.
func (c *checkerClient) adminOp(o op, method, path string, in, out any) op {
	var body io.Reader
	if in != nil {
		data, _ := json.Marshal(in)
		body = bytes.NewReader(data)
	}
	o.start = c.h.now()
	status, data, err := c.send(o.replica, method, path, c.admin, [2]string{}, body, "application/json")
	o.end = c.h.now()
	o.status = status
	if err != nil {
		o.err = err.Error()
	} else if status >= 300 {
		var e api.Error
		_ = json.Unmarshal(data, &e)
		o.code, o.msg = e.Code, e.Message
		o.unknown = status == http.StatusServiceUnavailable && strings.Contains(e.Message, store.UnavailableReason(store.ErrOutcomeUnknown))
	} else if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			o.err = "decoding: " + err.Error()
		}
	}
	c.h.add(o)
	return o
}

func (c *checkerClient) token(replica int, account, keyID, secret string) op {
	o := op{kind: opToken, replica: replica, account: account, key: keyID, start: c.h.now()}
	status, data, err := c.send(replica, http.MethodPost, "/oauth/token", "", [2]string{account, secret},
		strings.NewReader("grant_type=client_credentials"), "application/x-www-form-urlencoded")
	o.end = c.h.now()
	o.status = status
	if err != nil {
		o.err = err.Error()
	} else if status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		o.code = e.Error
	}
	c.h.add(o)
	return o
}

func checkDuration(t *testing.T) time.Duration {
	s := os.Getenv("TOKENWRIGHT_HA_CHECK_DURATION")
	if s == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("TOKENWRIGHT_HA_CHECK_DURATION=%q: want a positive Go duration such as 10m", s)
	}
	return d
}

func testHAFaultChecker(t *testing.T, v etcdtest.Version) {
	duration := checkDuration(t)
	c := v.Start(t, 3)
	edit := func(cfg *config.Config) {
		// The checker's own request rate is not what is tested.
		cfg.Limits.Enabled = false
		// Writes without quorum fail after 2 s rather than 5 s, so that
		// the workers keep making progress through outages.
		cfg.Etcd.RequestTimeout = config.Duration(2 * time.Second)
	}
	servers := make([]*servertest.Server, 3)
	for i := range servers {
		servers[i] = servertest.Replica(t, c.Endpoints(), edit)
	}
	admin := servers[0].AdminToken
	if admin == "" {
		t.Fatal("the first replica bootstrapped no administrator")
	}
	for _, s := range servers {
		s.AdminToken = admin
	}
	const workers = 4
	for w := range workers {
		servers[w%3].CreateAccount(t, api.CreateServiceAccount{UserName: fmt.Sprintf("w%d", w), Email: fmt.Sprintf("w%d@example.com", w)})
	}
	h := &history{t0: time.Now(), secret: map[string]string{}}
	cl := &checkerClient{hc: &http.Client{Timeout: 30 * time.Second}, servers: servers, admin: admin, h: h}

	var stop atomic.Bool
	// revoked holds acknowledged-revoked keys for the probers.
	type probeKey struct{ account, id, secret string }
	var (
		poolMu    sync.Mutex
		pool      []probeKey
		firstOnce sync.Once
		first     = make(chan struct{}) // closed once pool holds a key
	)
	var wg sync.WaitGroup
	// Should the test stop early (a fault helper fails it), the workers
	// end before the replicas and the cluster do.
	probersStop := make(chan struct{})
	halt := sync.OnceFunc(func() { stop.Store(true); close(probersStop) })
	t.Cleanup(func() { halt(); wg.Wait() })
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			account := fmt.Sprintf("w%d", w)
			for i := 0; !stop.Load(); i++ {
				var key api.KeyWithSecret
				o := cl.adminOp(op{kind: opCreate, replica: rng.IntN(3), account: account, name: fmt.Sprintf("k%d-%d", w, i)},
					http.MethodPost, "/api/v1/service-accounts/"+account+"/keys", api.CreateKey{Name: fmt.Sprintf("k%d-%d", w, i)}, &key)
				if o.status != http.StatusCreated || o.err != "" {
					continue
				}
				h.mu.Lock()
				h.ops[o.seq].key = key.ID
				h.secret[key.ID] = key.ClientSecret
				h.mu.Unlock()
				for _, r := range rng.Perm(3) {
					cl.token(r, account, key.ID, key.ClientSecret)
				}
				// Revoke until a replica acknowledges it (revocations are
				// idempotent), then probe the revoking replica at once and
				// the others, and hand the key to the probers.
				for !stop.Load() {
					r := rng.IntN(3)
					o := cl.adminOp(op{kind: opRevoke, replica: r, account: account, key: key.ID},
						http.MethodPost, "/api/v1/service-accounts/"+account+"/keys/"+key.ID+":revoke", nil, nil)
					if o.status == http.StatusOK {
						cl.token(r, account, key.ID, key.ClientSecret)
						for _, other := range rng.Perm(3) {
							cl.token(other, account, key.ID, key.ClientSecret)
						}
						poolMu.Lock()
						pool = append(pool, probeKey{account, key.ID, key.ClientSecret})
						poolMu.Unlock()
						firstOnce.Do(func() { close(first) })
						break
					}
				}
			}
		})
	}
	for p := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(100+p), uint64(time.Now().UnixNano())))
			select {
			case <-first:
			case <-probersStop:
				return
			}
			for !stop.Load() {
				poolMu.Lock()
				// Mostly the most recent revocations, whose windows are
				// still open.
				k := pool[len(pool)-1-min(len(pool)-1, rng.IntN(8))]
				poolMu.Unlock()
				cl.token(rng.IntN(3), k.account, k.id, k.secret)
			}
		})
	}

	runFaults(t, c, h, duration)
	halt()
	wg.Wait()
	c.WaitHealthy(c.Endpoints()...)
	checkHistory(t, cl, h)
}

// runFaults cycles through the fault kinds for at least duration (and at
// least once through the first four), each followed by a healthy pause.
func runFaults(t *testing.T, c *etcdtest.Cluster, h *history, duration time.Duration) {
	hold := 1500 * time.Millisecond
	settle := time.Second
	healthy := func() {
		// Healthy traffic between faults (the workers run meanwhile).
		time.Sleep(time.Second)
	}
	leaderOr := func(fallback int) int {
		if l := c.Leader(); l >= 0 {
			return l
		}
		return fallback
	}
	// memberFault stops member i (kill -9 or SIGSTOP), holds the fault,
	// brings it back and records the phase.
	memberFault := func(p phase, stop, back func(int)) func(i int, what string) {
		return func(i int, what string) {
			start := h.now()
			stop(i)
			time.Sleep(hold)
			back(i)
			c.WaitHealthy(c.Members[i].ClientURL)
			time.Sleep(settle)
			h.fault(p, what, start)
		}
	}
	kill := memberFault(phaseKilled, c.Kill, c.Restart)
	pause := memberFault(phasePaused, c.Pause, c.Resume)
	quorum := func(byKill bool) {
		l := leaderOr(0)
		a, b := l, (l+1)%3
		start := h.now()
		what := "two members paused"
		if byKill {
			what = "two members killed"
			c.Kill(a)
			c.Kill(b)
		} else {
			c.Pause(a)
			c.Pause(b)
		}
		time.Sleep(2 * hold)
		back := h.now()
		h.fault(phaseQuorumLost, what, start)
		if byKill {
			c.Restart(a)
			c.Restart(b)
		} else {
			c.Resume(a)
			c.Resume(b)
		}
		c.WaitHealthy(c.Endpoints()...)
		time.Sleep(2 * settle)
		h.fault(phaseRecovering, "quorum regained after "+what, back)
	}
	faults := []func(){
		func() { kill(leaderOr(0), "leader killed") },
		func() { pause(watchCarrier(c), "member carrying the most watches paused") },
		func() { quorum(true) },
		func() { quorum(false) },
		func() { kill((leaderOr(0)+1)%3, "follower killed") },
		func() { pause(leaderOr(0), "leader paused") },
	}
	begin := time.Now()
	for i := 0; i < 4 || time.Since(begin) < duration; i++ {
		healthy()
		faults[i%len(faults)]()
	}
	healthy()
	t.Logf("%d faults injected over %s", len(h.spans), time.Since(begin).Round(time.Millisecond))
}

// phaseStats are the figures logged per phase.
type phaseStats struct {
	ops, tokens503, tokensAfterOwnRevoke, acked, lost, indeterminate, landed, notMade int
	windows                                                                           []time.Duration
}

// verdict is what judge finds in a history: the violations of (b) and (c)
// and the figures per phase.
type verdict struct {
	violations []string
	stats      [numPhases]phaseStats
	revokedAt  map[string]op // key ID → its first acknowledged revoke
}

func (v *verdict) violate(format string, args ...any) {
	v.violations = append(v.violations, fmt.Sprintf(format, args...))
}

// judge checks (b) and (c) on the recorded history: no token from the
// revoking replica to a request that started after its answer, and none
// from another replica beyond the phase's bound. The cross-replica window
// of a (revocation, other replica) pair is how long after the answer the
// latest request that still got a token started (0 when none did); it is
// attributed to the least-promising phase between the answer and the end
// of that request.
func judge(h *history) *verdict {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	v := &verdict{revokedAt: map[string]op{}}
	for _, o := range ops {
		v.stats[h.worst(o.start, o.start)].ops++
		if o.kind == opToken && o.status == http.StatusServiceUnavailable {
			v.stats[h.worst(o.start, o.end)].tokens503++
		}
		if o.kind == opRevoke && o.status == http.StatusOK {
			if _, ok := v.revokedAt[o.key]; !ok {
				v.revokedAt[o.key] = o
			}
		}
	}
	// (e) a key created with 201 gets a token on every replica at once on
	// a healthy cluster, until a revoke of it is sent ("a key created
	// through A authenticates through B at once").
	created := map[string]op{}
	revokeSent := map[string]time.Duration{}
	for _, o := range ops {
		switch {
		case o.kind == opCreate && o.status == http.StatusCreated && o.key != "":
			created[o.key] = o
		case o.kind == opRevoke:
			if t, ok := revokeSent[o.key]; !ok || o.start < t {
				revokeSent[o.key] = o.start
			}
		}
	}
	for _, o := range ops {
		cr, ok := created[o.key]
		if o.kind != opToken || !ok || o.start <= cr.end || o.status == http.StatusOK {
			continue
		}
		if t, ok := revokeSent[o.key]; ok && o.end >= t {
			continue
		}
		if ph := h.worst(cr.end, o.end); ph == phaseHealthy {
			v.violate("(e) replica %d refused a key created with 201 on a healthy cluster:\n\tcreate %s\n\ttoken  %s", o.replica, cr, o)
		}
	}
	type pair struct {
		key     string
		replica int
	}
	window := map[pair]time.Duration{}
	windowEnd := map[pair]time.Duration{}
	probed := map[pair]bool{}
	for _, o := range ops {
		if o.kind != opToken {
			continue
		}
		rv, ok := v.revokedAt[o.key]
		if !ok || o.start <= rv.end {
			continue
		}
		p := pair{o.key, o.replica}
		probed[p] = true
		if o.status != http.StatusOK {
			continue
		}
		after := o.start - rv.end
		if o.replica == rv.replica {
			v.stats[h.worst(rv.end, o.end)].tokensAfterOwnRevoke++
			v.violate("(b) replica %d issued a token %s after its own revoke was answered:\n\trevoke %s\n\ttoken  %s", o.replica, after, rv, o)
			continue
		}
		if after > window[p] {
			window[p], windowEnd[p] = after, o.end
		}
		ph := h.worst(rv.end, o.end)
		if b := ph.bound(); b > 0 && after > b {
			v.violate("(c) replica %d issued a token %s after replica %d answered the revoke (phase %s, bound %s):\n\trevoke %s\n\ttoken  %s",
				o.replica, after, rv.replica, ph, b, rv, o)
		}
	}
	for p := range probed {
		rv := v.revokedAt[p.key]
		if p.replica == rv.replica {
			continue
		}
		end := rv.end
		if e, ok := windowEnd[p]; ok {
			end = e
		}
		ph := h.worst(rv.end, end)
		v.stats[ph].windows = append(v.stats[ph].windows, window[p])
	}
	return v
}

// checkState checks (a) and (d) on the healed cluster, through every
// replica: every key created with 201 is listed, every key revoked with 200
// is revoked and refused, and no create answered with a 503 other than
// "outcome unknown" landed. Replicas converge through their watches, so
// each is given a few seconds. It counts the writes per phase.
func checkState(t *testing.T, cl *checkerClient, h *history, v *verdict) {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	created := map[string]op{} // key ID → create
	accounts := map[string]bool{}
	for _, o := range ops {
		accounts[o.account] = true
		if o.kind == opCreate && o.status == http.StatusCreated && o.key != "" {
			created[o.key] = o
		}
	}
	lost := map[string]bool{}
	landed := map[string]bool{} // names of indeterminate creates found
	for r := range cl.servers {
		var listed map[string]api.Key
		var byName map[string][]api.Key
		deadline := time.Now().Add(10 * time.Second)
		for {
			listed, byName = map[string]api.Key{}, map[string][]api.Key{}
			for account := range accounts {
				var list api.List[api.Key]
				o := cl.adminOp(op{kind: "list", replica: r, account: account}, http.MethodGet, "/api/v1/service-accounts/"+account+"/keys", nil, &list)
				if o.status != http.StatusOK {
					t.Fatalf("listing keys after healing: %s", o)
				}
				for _, k := range list.Items {
					listed[k.ID] = k
					byName[k.Name] = append(byName[k.Name], k)
				}
			}
			missing := 0
			for id := range created {
				k, ok := listed[id]
				_, revoked := v.revokedAt[id]
				if !ok || (revoked && k.Status != api.KeyRevoked) {
					missing++
				}
			}
			if missing == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for id, o := range created {
			k, ok := listed[id]
			rv, revoked := v.revokedAt[id]
			switch {
			case !ok:
				lost[id] = true
				v.violate("(a) key created with 201 is missing on replica %d after healing:\n\tcreate %s", r, o)
			case revoked && k.Status != api.KeyRevoked:
				lost[id] = true
				v.violate("(a) key revoked with 200 is %s on replica %d after healing:\n\trevoke %s", k.Status, r, rv)
			}
		}
		for _, o := range ops {
			if o.kind != opCreate || o.status == http.StatusCreated {
				continue
			}
			ks := byName[o.name]
			if o.unknown || o.err != "" {
				landed[o.name] = landed[o.name] || len(ks) > 0
				continue
			}
			if len(ks) > 0 {
				v.violate("(d) a create answered HTTP %d without \"outcome unknown\" landed (key %s on replica %d):\n\tcreate %s", o.status, ks[0].ID, r, o)
			}
		}
		for id, rv := range v.revokedAt {
			if o := cl.token(r, rv.account, id, h.secret[id]); o.status != http.StatusUnauthorized {
				v.violate("(a) replica %d answers a key revoked with 200 with HTTP %d after healing:\n\trevoke %s\n\ttoken  %s", r, o.status, rv, o)
			}
		}
	}
	failedWrites := 0
	for _, o := range ops {
		if o.kind != opCreate && o.kind != opRevoke {
			continue
		}
		// A write is counted in the least-promising phase it overlapped:
		// one sent just before quorum was lost is a quorum-loss write.
		ph := h.worst(o.start, o.end)
		s := &v.stats[ph]
		if o.status >= 300 && ph.bound() > 0 && failedWrites < 10 {
			// The documentation says writes succeed while a quorum is
			// reachable; show the ones that did not.
			failedWrites++
			t.Logf("write failed in phase %s: %s", ph, o)
		}
		switch {
		case o.status >= 200 && o.status < 300:
			s.acked++
			if lost[o.key] && (o.kind == opCreate || v.revokedAt[o.key].seq == o.seq) {
				s.lost++
			}
		case o.unknown || o.err != "":
			s.indeterminate++
			if landed[o.name] {
				s.landed++
			}
		default:
			s.notMade++
		}
	}
}

// watchCarrier is the member that serves the most watchers (the replicas'
// mirrors), by etcd's own gauge on each member's /metrics: pausing it
// stalls a replica's watch, the case the 1 s bound is about. A random
// member when no member reports the gauge.
func watchCarrier(c *etcdtest.Cluster) int {
	best, most := rand.IntN(len(c.Members)), 0
	hc := &http.Client{Timeout: time.Second}
	for i, m := range c.Members {
		resp, err := hc.Get(m.ClientURL + "/metrics")
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		for line := range strings.Lines(string(data)) {
			var n int
			if _, err := fmt.Sscanf(line, "etcd_debugging_mvcc_watcher_total %d", &n); err == nil && n > most {
				best, most = i, n
			}
		}
	}
	return best
}

// checkHistory judges the history and the healed cluster, logs the faults
// and one summary line per phase, and fails on any violation.
func checkHistory(t *testing.T, cl *checkerClient, h *history) {
	v := judge(h)
	checkState(t, cl, h, v)
	kinds := map[string]int{}
	for _, s := range h.spans {
		kinds[s.what]++
		if len(h.spans) <= 12 {
			t.Logf("fault %-40s %-18s [%s, %s]", s.what, s.phase, s.start.Round(time.Millisecond), s.end.Round(time.Millisecond))
		}
	}
	var tokens, issued int
	for _, o := range h.ops {
		if o.kind == opToken {
			tokens++
			if o.status == http.StatusOK {
				issued++
			}
		}
	}
	t.Logf("%d iterations (key created, used on every replica, revoked, probed), %d token requests (%d issued), faults %v",
		len(v.revokedAt), tokens, issued, kinds)
	for p := range numPhases {
		s := v.stats[p]
		slices.Sort(s.windows)
		q := func(f float64) time.Duration {
			if len(s.windows) == 0 {
				return 0
			}
			return s.windows[min(len(s.windows)-1, int(f*float64(len(s.windows))))].Round(time.Microsecond)
		}
		bound := "etcd.maxStaleness only"
		if b := p.bound(); b > 0 {
			bound = b.String()
		}
		t.Logf("phase %-18s ops %6d, token requests answered 503 %d, tokens after own revoke %d, cross-replica window (%d revocations×replicas, bound %s) p50 %s p99 %s max %s, writes acknowledged %d lost %d indeterminate %d (landed %d) not made %d",
			p, s.ops, s.tokens503, s.tokensAfterOwnRevoke, len(s.windows), bound, q(0.5), q(0.99), q(1), s.acked, s.lost, s.indeterminate, s.landed, s.notMade)
	}
	failOn(t, v.violations)
}

func failOn(t *testing.T, violations []string) {
	t.Helper()
	if len(violations) > 0 {
		if len(violations) > 20 {
			violations = append(violations[:20], fmt.Sprintf("... and %d more", len(violations)-20))
		}
		t.Fatalf("%d violations:\n%s", len(violations), strings.Join(violations, "\n"))
	}
}

// The checker's judgement on a recorded history, with no cluster: each
// case is a violation it must report, or a window the documentation allows
// that it must not. A checker that cannot fail proves nothing.
func TestHAFaultCheckerJudges(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	revoke := op{kind: opRevoke, replica: 0, account: "w0", key: "K", start: ms(1000), end: ms(1010), status: http.StatusOK}
	created := op{kind: opCreate, replica: 0, account: "w0", key: "K", name: "k", start: ms(900), end: ms(1000), status: http.StatusCreated}
	token := func(replica, startMs, status int) op {
		return op{kind: opToken, replica: replica, account: "w0", key: "K", start: ms(startMs), end: ms(startMs + 2), status: status}
	}
	for _, tc := range []struct {
		name  string
		spans []span
		ops   []op
		want  string // a violation containing this, or "" for none
	}{
		{"own replica refuses", nil, []op{revoke, token(0, 1011, 401)}, ""},
		{"own replica issues after its answer", nil, []op{revoke, token(0, 1011, 200)}, "(b) replica 0"},
		{"own replica issues during quorum loss", []span{{phaseQuorumLost, "q", 0, ms(5000)}}, []op{revoke, token(0, 3000, 200)}, "(b) replica 0"},
		{"request before the answer", nil, []op{revoke, token(0, 1005, 200), token(1, 1005, 200)}, ""},
		{"other replica within 100 ms", nil, []op{revoke, token(1, 1100, 200), token(1, 1111, 401)}, ""},
		{"other replica past 100 ms, healthy", nil, []op{revoke, token(1, 1200, 200)}, "(c) replica 1 issued a token 190ms after replica 0"},
		{"other replica past 100 ms, member paused", []span{{phasePaused, "p", ms(900), ms(3000)}}, []op{revoke, token(2, 1500, 200)}, ""},
		{"other replica past 1 s, member killed", []span{{phaseKilled, "k", ms(900), ms(3000)}}, []op{revoke, token(2, 2100, 200)}, "(c) replica 2 issued a token 1.09s"},
		{"fault starts after the answer", []span{{phasePaused, "p", ms(1100), ms(3000)}}, []op{revoke, token(2, 1500, 200)}, ""},
		{"created key refused elsewhere, healthy", nil, []op{created, token(1, 1005, 401)}, "(e) replica 1 refused a key created"},
		{"created key refused elsewhere, member killed", []span{{phaseKilled, "k", ms(900), ms(3000)}}, []op{created, token(1, 1005, 503)}, ""},
		{"quorum lost: maxStaleness only", []span{{phaseQuorumLost, "q", ms(900), ms(9000)}}, []op{revoke, token(1, 8000, 200)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &history{spans: tc.spans}
			for _, o := range tc.ops {
				h.add(o)
			}
			v := judge(h)
			switch {
			case tc.want == "" && len(v.violations) > 0:
				t.Fatalf("violations reported for an allowed history:\n%s", strings.Join(v.violations, "\n"))
			case tc.want != "" && (len(v.violations) != 1 || !strings.Contains(v.violations[0], tc.want)):
				t.Fatalf("violations %q, want exactly one containing %q", v.violations, tc.want)
			}
		})
	}
}
