// Package etcd is the distributed Store backend: several tokenwright
// replicas share one etcd cluster.
//
// Reads are served from an in-memory mirror of the key prefix that a watch
// keeps coherent, so the token endpoint never waits for the network and a
// change made through any replica (a revocation) reaches every other
// replica as fast as etcd delivers the watch event. Every write is one etcd
// transaction that compares the mod revision of every record it read (and
// the absence of every unique name it claims) with what the mirror showed:
// if another replica got there first the transaction fails, the mirror
// catches up and the update closure runs again. After its own write a
// replica waits until its mirror has seen that write's revision, so a
// client always reads what it just wrote.
//
// A transaction that gets no answer is resent until Options.RequestTimeout;
// a marker key unique to the call makes the resend idempotent (see atomic).
//
// When etcd loses quorum, writes fail with store.ErrUnavailable while reads
// keep being served from the mirror for Options.MaxStaleness after the last
// successful contact with a quorum (a linearizable read whose revision the
// watch then reached); after that reads fail too, because a revocation made
// meanwhile could not have been seen.
//
// Audit events are not mirrored (they are never on the hot path): they are
// read from etcd directly.
package etcd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tokenwright/tokenwright/store"
)

// Record families: each record lives at PREFIX + family + "/" + id.
const (
	famAccount  = "sa"
	famUser     = "user"
	famName     = "name"    // principal name -> "sa" | "user"
	famEmail    = "email"   // email -> principal name
	famKey      = "key"     // key id -> Key
	famPATName  = "patname" // owner \x00 token name -> key id
	famSigning  = "sk"
	famRevoked  = "revoked"
	famAudit    = "audit" // not mirrored
	famLock     = "lock"  // concurrency mutexes, not mirrored
	famMeta     = "meta"
	principalSA = "sa"
	principalU  = "user"
)

// Options configure Open.
type Options struct {
	Endpoints []string
	// Prefix under which every key is stored; default "/tokenwright/".
	Prefix string
	// TLS, when set, is used for client connections (see LoadTLS).
	TLS *tls.Config
	// DialTimeout bounds the initial connection; default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds every write and linearizable read, so that a
	// cluster without quorum yields ErrUnavailable instead of a hang;
	// default 5s.
	RequestTimeout time.Duration
	// MaxStaleness is how long reads are served from the mirror after the
	// last successful contact with a quorum; default 5m.
	MaxStaleness time.Duration
	// ProbeInterval is how often quorum contact is checked; default 1s.
	ProbeInterval time.Duration
	// MaxTxnOps splits bulk writes that need not be atomic (usage,
	// pruning) into transactions of at most this many operations; it must
	// not exceed etcd's --max-txn-ops (default 128).
	MaxTxnOps int
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = "/tokenwright/"
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.MaxStaleness == 0 {
		o.MaxStaleness = 5 * time.Minute
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = time.Second
	}
	if o.MaxTxnOps == 0 {
		o.MaxTxnOps = 100
	}
}

// LoadTLS builds a client TLS configuration from PEM files: ca verifies the
// etcd servers, cert and key (both or neither) authenticate this client.
func LoadTLS(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("etcd.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd.tls.ca: %s holds no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("etcd.tls: cert and key must be given together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("etcd.tls.cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

type entry struct {
	val []byte
	rev int64 // mod revision
	// ownerIdx is kind \x00 owner for keys (the owner index).
	ownerIdx string
}

// Store is the etcd implementation of store.Store and store.Locker.
type Store struct {
	cli  *clientv3.Client
	opts Options

	mu      sync.RWMutex
	fams    map[string]map[string]entry
	byOwner map[string]map[string]struct{} // kind \x00 owner -> key ids
	rev     int64                          // every event up to rev is applied
	advance chan struct{}                  // closed and replaced when rev moves

	watchCtx    context.Context
	stop        context.CancelFunc
	watchMu     sync.Mutex
	cancelWatch context.CancelFunc // ends the current watch (self-healing)
	done        sync.WaitGroup
	lastContact atomic.Int64 // unix nanos of the last quorum read
	lastSeenRev atomic.Int64 // newest revision seen in a transaction answer
	signing     chan struct{}

	auditMu   sync.Mutex
	lastAudit int64
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Locker  = (*Store)(nil)
	_ store.Watcher = (*Store)(nil)
)

// Open connects, loads the prefix into memory and starts the watch.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.defaults()
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		TLS:                  opts.TLS,
		Logger:               zap.NewNop(),
		Context:              context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connecting to %s: %w", strings.Join(opts.Endpoints, ","), unavailable(err))
	}
	wctx, stop := context.WithCancel(context.Background())
	s := &Store{cli: cli, opts: opts, advance: make(chan struct{}), stop: stop,
		watchCtx: clientv3.WithRequireLeader(wctx), signing: make(chan struct{}, 1)}
	if err := s.reload(ctx); err != nil {
		stop()
		_ = cli.Close()
		return nil, err
	}
	s.lastContact.Store(time.Now().UnixNano())
	s.done.Go(s.watchLoop)
	s.done.Go(s.probeLoop)
	return s, nil
}

// Client exposes the etcd client (tests, migration).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close stops the watch and closes the connection.
func (s *Store) Close() error {
	s.stop()
	s.done.Wait()
	return s.cli.Close()
}

// unavailable maps a client error to store.ErrUnavailable, keeping its text.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, rpctypes.ErrTooManyOps) {
		// Not an outage and not the client's fault: the cluster is
		// configured too tight for this change (see the HA docs).
		return fmt.Errorf("etcd: the change needs more operations in one transaction than the cluster's --max-txn-ops allows; raise it: %w", err)
	}
	return fmt.Errorf("etcd: %v: %w", err, store.ErrUnavailable)
}

func (s *Store) key(fam, id string) string { return s.opts.Prefix + fam + "/" + id }

func (s *Store) split(k []byte) (fam, id string, ok bool) {
	rest, ok := strings.CutPrefix(string(k), s.opts.Prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

// --- the mirror ---

// reload replaces the mirror with a fresh read of the prefix.
func (s *Store) reload(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.opts.Prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("etcd: loading %s: %w", s.opts.Prefix, unavailable(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fams = map[string]map[string]entry{}
	s.byOwner = map[string]map[string]struct{}{}
	for _, kv := range resp.Kvs {
		s.applyPut(kv.Key, kv.Value, kv.ModRevision)
	}
	s.setRev(resp.Header.Revision)
	s.notifySigning()
	return nil
}

// setRev records progress; callers hold mu.
func (s *Store) setRev(rev int64) {
	if rev > s.rev {
		s.rev = rev
		close(s.advance)
		s.advance = make(chan struct{})
	}
}

func (s *Store) notifySigning() {
	select {
	case s.signing <- struct{}{}:
	default:
	}
}

func mirrored(fam string) bool { return fam != famAudit && fam != famLock && fam != famMeta }

// applyPut and applyDelete update the mirror; callers hold mu.
func (s *Store) applyPut(k, v []byte, rev int64) {
	fam, id, ok := s.split(k)
	if !ok || !mirrored(fam) {
		return
	}
	m := s.fams[fam]
	if m == nil {
		m = map[string]entry{}
		s.fams[fam] = m
	}
	e := entry{val: v, rev: rev}
	if fam == famKey {
		var owner struct {
			Kind  store.KeyKind `json:"kind"`
			Owner string        `json:"owner"`
		}
		if json.Unmarshal(v, &owner) == nil {
			e.ownerIdx = string(owner.Kind) + "\x00" + owner.Owner
		}
		if old, ok := m[id]; ok && old.ownerIdx != e.ownerIdx {
			delete(s.byOwner[old.ownerIdx], id)
		}
		if s.byOwner[e.ownerIdx] == nil {
			s.byOwner[e.ownerIdx] = map[string]struct{}{}
		}
		s.byOwner[e.ownerIdx][id] = struct{}{}
	}
	m[id] = e
}

func (s *Store) applyDelete(k []byte) {
	fam, id, ok := s.split(k)
	if !ok || !mirrored(fam) {
		return
	}
	if fam == famKey {
		if old, ok := s.fams[fam][id]; ok {
			delete(s.byOwner[old.ownerIdx], id)
		}
	}
	delete(s.fams[fam], id)
}

// watchLoop applies every change under the prefix to the mirror. When the
// watch breaks (member lost, no leader) it resumes from the last applied
// revision; when that revision was compacted away it reloads everything.
func (s *Store) watchLoop() {
	for s.watchCtx.Err() == nil {
		s.mu.RLock()
		from := s.rev + 1
		s.mu.RUnlock()
		compacted := false
		// A child context shares the parent's watch stream (so that
		// RequestProgress on watchCtx reaches it) and lets the probe end
		// this one watch if it stalls.
		wctx, cancel := context.WithCancel(s.watchCtx)
		s.watchMu.Lock()
		s.cancelWatch = cancel
		s.watchMu.Unlock()
		wch := s.cli.Watch(wctx, s.opts.Prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.CompactRevision != 0 {
				compacted = true
				break
			}
			if resp.Err() != nil {
				break
			}
			s.apply(resp)
		}
		cancel()
		if s.watchCtx.Err() != nil {
			return
		}
		if compacted {
			// On failure the next watch is compacted again and we retry.
			_ = s.reload(s.watchCtx)
		}
		select {
		case <-s.watchCtx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Store) apply(resp clientv3.WatchResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := s.rev
	for _, ev := range resp.Events {
		if fam, _, _ := s.split(ev.Kv.Key); fam == famSigning {
			defer s.notifySigning()
		}
		if ev.Type == clientv3.EventTypeDelete {
			s.applyDelete(ev.Kv.Key)
		} else {
			s.applyPut(ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
		}
		rev = max(rev, ev.Kv.ModRevision)
	}
	if resp.IsProgressNotify() {
		// Every event up to the header revision has been delivered.
		rev = max(rev, resp.Header.Revision)
	}
	s.setRev(rev)
}

// probeLoop records contact with a quorum: a linearizable read succeeds
// only when the cluster has a leader and a majority, and its revision is
// the cluster's present. The mirror counts as current only once the watch
// has caught up to that revision; a watch that repeatedly fails to is
// restarted, so a silently stalled stream cannot hide revocations.
func (s *Store) probeLoop() {
	t := time.NewTicker(s.opts.ProbeInterval)
	defer t.Stop()
	wait := max(s.opts.ProbeInterval, time.Second)
	lagging := 0
	lastSweep := time.Now()
	for {
		select {
		case <-s.watchCtx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastSweep) > markerTTL/10 {
			lastSweep = time.Now()
			s.sweepMarkers(s.watchCtx)
		}
		ctx, cancel := context.WithTimeout(s.watchCtx, wait)
		resp, err := s.cli.Get(ctx, s.key(famMeta, "probe"))
		cancel()
		if err != nil {
			continue
		}
		_ = s.cli.RequestProgress(s.watchCtx)
		if s.waitRev(s.watchCtx, resp.Header.Revision, wait) {
			s.lastContact.Store(time.Now().UnixNano())
			lagging = 0
			continue
		}
		if lagging++; lagging >= 3 {
			lagging = 0
			s.watchMu.Lock()
			if s.cancelWatch != nil {
				s.cancelWatch()
			}
			s.watchMu.Unlock()
		}
	}
}

// fresh refuses reads once the mirror may be too old to trust.
func (s *Store) fresh(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if since := time.Since(time.Unix(0, s.lastContact.Load())); since > s.opts.MaxStaleness {
		return fmt.Errorf("etcd: no contact with a quorum for %s: %w", since.Round(time.Second), store.ErrUnavailable)
	}
	return nil
}

// waitRev blocks until the mirror has applied rev (or ctx/timeout ends).
func (s *Store) waitRev(ctx context.Context, rev int64, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.RLock()
		cur, ch := s.rev, s.advance
		s.mu.RUnlock()
		if cur >= rev {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		}
	}
}

// SigningKeyChanges implements store.Watcher.
func (s *Store) SigningKeyChanges() <-chan struct{} { return s.signing }

// Health fails once reads would be refused (see Options.MaxStaleness):
// while it passes, this replica can issue tokens.
func (s *Store) Health(ctx context.Context) error { return s.fresh(ctx) }

// --- transactions ---

// tx collects the reads and writes of one atomic update.
type tx struct {
	s      *Store
	reads  map[string]int64 // full key -> mod revision seen (0: absent)
	writes map[string][]byte
	order  []string
	staged map[string]bool // keys already in order
	dels   map[string]bool
}

func (t *tx) get(fam, id string) ([]byte, bool) {
	k := t.s.key(fam, id)
	if v, ok := t.writes[k]; ok {
		return v, true
	}
	if t.dels[k] {
		return nil, false
	}
	e, ok := t.s.fams[fam][id]
	if _, seen := t.reads[k]; !seen {
		t.reads[k] = e.rev
	}
	return e.val, ok
}

func decode[T any](fam, id string, data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("etcd: decoding %s/%s: %w", fam, id, err)
	}
	return v, nil
}

func txGet[T any](t *tx, fam, id string) (T, error) {
	data, ok := t.get(fam, id)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%s %q: %w", fam, id, store.ErrNotFound)
	}
	return decode[T](fam, id, data)
}

func (t *tx) putRaw(fam, id string, v []byte) {
	k := t.s.key(fam, id)
	t.stage(k)
	delete(t.dels, k)
	t.writes[k] = v
}

func (t *tx) stage(k string) {
	if !t.staged[k] {
		t.staged[k] = true
		t.order = append(t.order, k)
	}
}

func (t *tx) put(fam, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("etcd: encoding %s/%s: %w", fam, id, err)
	}
	t.putRaw(fam, id, data)
	return nil
}

func (t *tx) del(fam, id string) {
	k := t.s.key(fam, id)
	t.stage(k)
	delete(t.writes, k)
	t.dels[k] = true
}

// maxAttempts bounds conflict retries; beyond it the caller gets
// ErrUnavailable ("try again") instead of spinning forever.
const maxAttempts = 64

// atomic runs fn against the mirror and commits its writes in one etcd
// transaction guarded by the revisions of everything fn read. On conflict
// it waits for the mirror to catch up and runs fn again.
//
// Every transaction also creates a marker key unique to this call. When a
// send fails without an answer (the leader died, the request timed out),
// the commit may or may not have happened; the same transaction is sent
// again until RequestTimeout: its "marker absent" comparison makes the
// resend a no-op if the first one landed, and the marker then tells us so.
// A write caught in a leader election therefore succeeds once the new
// leader is elected, instead of failing with an ambiguous error.
func (s *Store) atomic(ctx context.Context, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	marker := s.key(famMeta, markerDir+s.newMarkerID())
	deadline := time.Now().Add(s.opts.RequestTimeout)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		t := &tx{s: s, reads: map[string]int64{}, writes: map[string][]byte{}, staged: map[string]bool{}, dels: map[string]bool{}}
		s.mu.RLock()
		err := fn(t)
		s.mu.RUnlock()
		if err != nil {
			return err
		}
		if len(t.order) == 0 {
			return nil
		}
		cmps := make([]clientv3.Cmp, 0, len(t.reads)+1)
		for k, rev := range t.reads {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(marker), "=", 0))
		ops := make([]clientv3.Op, 0, len(t.order)+1)
		for _, k := range t.order {
			if v, ok := t.writes[k]; ok {
				ops = append(ops, clientv3.OpPut(k, string(v)))
			} else if t.dels[k] {
				ops = append(ops, clientv3.OpDelete(k))
			}
		}
		ops = append(ops, clientv3.OpPut(marker, ""))
		committed, err := s.send(ctx, deadline, cmps, ops, marker)
		if err != nil {
			return err
		}
		if committed > 0 {
			// Read-your-writes: return once the mirror shows this write.
			if !s.waitRev(ctx, committed, s.opts.RequestTimeout) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("etcd: write committed at revision %d but the watch did not deliver it: %w",
					committed, store.ErrUnavailable)
			}
			return nil
		}
		// Someone else wrote a record we read. Ask for a progress
		// notification so the mirror reaches the revision at which the
		// comparison failed, then try again; a short wait bounds the case
		// in which no notification comes (the CAS keeps retries correct).
		_ = s.cli.RequestProgress(s.watchCtx)
		s.waitRev(ctx, s.lastSeenRev.Load(), 200*time.Millisecond)
	}
	return fmt.Errorf("etcd: too much contention after %d attempts: %w", maxAttempts, store.ErrUnavailable)
}

// markerDir holds the per-call marker keys; probeLoop sweeps old ones.
const markerDir = "txn/"

// markerTTL is how long markers are kept: far longer than any resend.
const markerTTL = 10 * time.Minute

// newMarkerID is time-ordered (so old markers are one key range) and
// random (so replicas never collide).
func (s *Store) newMarkerID() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
	return hex.EncodeToString(b[:]) + hex.EncodeToString(r[:])
}

// sweepMarkers deletes markers older than markerTTL in one range delete.
func (s *Store) sweepMarkers(ctx context.Context) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().Add(-markerTTL).UnixNano()))
	from := s.key(famMeta, markerDir)
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	_, _ = s.cli.Delete(ctx, from, clientv3.WithRange(from+hex.EncodeToString(b[:])))
}

// send commits one transaction, resending it after answerless failures
// until deadline. It returns the commit revision, or 0 when a comparison
// failed because another writer got there first.
func (s *Store) send(ctx context.Context, deadline time.Time, cmps []clientv3.Cmp, ops []clientv3.Op, marker string) (int64, error) {
	perTry := max(s.opts.RequestTimeout/3, 200*time.Millisecond)
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return 0, fmt.Errorf("etcd: no answer from a quorum within %s (the change may still be applied): %w",
				s.opts.RequestTimeout, store.ErrUnavailable)
		}
		rctx, cancel := context.WithTimeout(ctx, min(remaining, perTry))
		resp, err := s.cli.Txn(rctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(marker)).Commit()
		cancel()
		if err == nil {
			s.noteRev(resp.Header.Revision)
			if resp.Succeeded {
				return resp.Header.Revision, nil
			}
			if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
				return kvs[0].ModRevision, nil // an earlier send of this transaction landed
			}
			return 0, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
			return 0, unavailable(err) // definitive: resending cannot help
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(min(50*time.Millisecond, max(time.Until(deadline), 0))):
		}
	}
}

// noteRev remembers the newest revision an answer carried (the revision at
// which a failed comparison was evaluated, for the catch-up wait).
func (s *Store) noteRev(rev int64) {
	for {
		old := s.lastSeenRev.Load()
		if rev <= old || s.lastSeenRev.CompareAndSwap(old, rev) {
			return
		}
	}
}

// view runs fn under the mirror's read lock after the staleness check.
func (s *Store) view(ctx context.Context, fn func() error) error {
	if err := s.fresh(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn()
}

func viewGet[T any](s *Store, ctx context.Context, fam, id string) (v T, err error) {
	err = s.view(ctx, func() error {
		e, ok := s.fams[fam][id]
		if !ok {
			return fmt.Errorf("%s %q: %w", fam, id, store.ErrNotFound)
		}
		v, err = decode[T](fam, id, e.val)
		return err
	})
	return v, err
}

func viewList[T any](s *Store, ctx context.Context, fam string) (out []T, err error) {
	err = s.view(ctx, func() error {
		ids := make([]string, 0, len(s.fams[fam]))
		for id := range s.fams[fam] {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			v, err := decode[T](fam, id, s.fams[fam][id].val)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// --- principals ---

func claimPrincipal(t *tx, kind, name, email string) error {
	if _, taken := t.get(famName, name); taken {
		return fmt.Errorf("name %q: %w", name, store.ErrAlreadyExists)
	}
	if email != "" {
		if _, taken := t.get(famEmail, email); taken {
			return fmt.Errorf("email %q: %w", email, store.ErrConflict)
		}
		t.putRaw(famEmail, email, []byte(name))
	}
	t.putRaw(famName, name, []byte(kind))
	return nil
}

func changeEmail(t *tx, name, oldEmail, newEmail string) error {
	if oldEmail == newEmail {
		return nil
	}
	if newEmail != "" {
		if owner, taken := t.get(famEmail, newEmail); taken && string(owner) != name {
			return fmt.Errorf("email %q: %w", newEmail, store.ErrConflict)
		}
		t.putRaw(famEmail, newEmail, []byte(name))
	}
	if oldEmail != "" {
		t.get(famEmail, oldEmail) // guard: the release must not race a claim
		t.del(famEmail, oldEmail)
	}
	return nil
}

func releasePrincipal(t *tx, name, email string) {
	t.get(famName, name)
	t.del(famName, name)
	if email != "" {
		t.get(famEmail, email)
		t.del(famEmail, email)
	}
}

// deleteOwnedKeys removes every key of owner (and its PAT name index).
func deleteOwnedKeys(t *tx, kind store.KeyKind, owner string) error {
	for id := range t.s.byOwner[string(kind)+"\x00"+owner] {
		k, err := txGet[store.Key](t, famKey, id)
		if err != nil {
			return err
		}
		t.del(famKey, id)
		if k.Kind == store.KindPersonalToken {
			t.del(famPATName, k.Owner+"\x00"+k.Name)
		}
	}
	return nil
}

func (s *Store) CreateServiceAccount(ctx context.Context, sa store.ServiceAccount) error {
	return s.atomic(ctx, func(t *tx) error {
		if err := claimPrincipal(t, principalSA, sa.Name, sa.Email); err != nil {
			return err
		}
		t.get(famAccount, sa.Name)
		return t.put(famAccount, sa.Name, sa)
	})
}

func (s *Store) GetServiceAccount(ctx context.Context, name string) (store.ServiceAccount, error) {
	return viewGet[store.ServiceAccount](s, ctx, famAccount, name)
}

func (s *Store) ListServiceAccounts(ctx context.Context) ([]store.ServiceAccount, error) {
	return viewList[store.ServiceAccount](s, ctx, famAccount)
}

func (s *Store) UpdateServiceAccount(ctx context.Context, name string, update func(store.ServiceAccount) (store.ServiceAccount, error)) (result store.ServiceAccount, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		old, err := txGet[store.ServiceAccount](t, famAccount, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.Name, updated.ID = old.Name, old.ID // immutable
		if err := changeEmail(t, name, old.Email, updated.Email); err != nil {
			return err
		}
		result = updated
		return t.put(famAccount, name, updated)
	})
	return result, err
}

func (s *Store) DeleteServiceAccount(ctx context.Context, name string) error {
	return s.atomic(ctx, func(t *tx) error {
		sa, err := txGet[store.ServiceAccount](t, famAccount, name)
		if err != nil {
			return err
		}
		if err := deleteOwnedKeys(t, store.KindServiceKey, name); err != nil {
			return err
		}
		releasePrincipal(t, name, sa.Email)
		t.del(famAccount, name)
		return nil
	})
}

// --- users ---

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.atomic(ctx, func(t *tx) error {
		if err := claimPrincipal(t, principalU, u.Name, u.Email); err != nil {
			return err
		}
		t.get(famUser, u.Name)
		return t.put(famUser, u.Name, u)
	})
}

func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	return viewGet[store.User](s, ctx, famUser, name)
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return viewList[store.User](s, ctx, famUser)
}

func (s *Store) UpdateUser(ctx context.Context, name string, update func(store.User) (store.User, error)) (result store.User, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		old, err := txGet[store.User](t, famUser, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.Name, updated.ID = old.Name, old.ID
		if err := changeEmail(t, name, old.Email, updated.Email); err != nil {
			return err
		}
		result = updated
		return t.put(famUser, name, updated)
	})
	return result, err
}

func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.atomic(ctx, func(t *tx) error {
		u, err := txGet[store.User](t, famUser, name)
		if err != nil {
			return err
		}
		if err := deleteOwnedKeys(t, store.KindPersonalToken, name); err != nil {
			return err
		}
		releasePrincipal(t, name, u.Email)
		t.del(famUser, name)
		return nil
	})
}

// --- keys ---

func (s *Store) CreateKey(ctx context.Context, k store.Key) error {
	return s.atomic(ctx, func(t *tx) error {
		ownerFam := famAccount
		switch k.Kind {
		case store.KindServiceKey:
		case store.KindPersonalToken:
			ownerFam = famUser
		default:
			return fmt.Errorf("etcd: unknown key kind %q", k.Kind)
		}
		// Reading the owner guards against a concurrent delete of it.
		if _, ok := t.get(ownerFam, k.Owner); !ok {
			return fmt.Errorf("owner %q: %w", k.Owner, store.ErrNotFound)
		}
		if _, ok := t.get(famKey, k.ID); ok {
			return fmt.Errorf("key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		if k.Kind == store.KindPersonalToken {
			if _, ok := t.get(famPATName, k.Owner+"\x00"+k.Name); ok {
				return fmt.Errorf("token name %q: %w", k.Name, store.ErrAlreadyExists)
			}
			t.putRaw(famPATName, k.Owner+"\x00"+k.Name, []byte(k.ID))
		}
		return t.put(famKey, k.ID, k)
	})
}

func (s *Store) GetKey(ctx context.Context, id string) (store.Key, error) {
	return viewGet[store.Key](s, ctx, famKey, id)
}

// matchingKeyIDs lists the ids selected by q, sorted; callers hold mu.
func (s *Store) matchingKeyIDs(q store.KeyQuery) []string {
	var ids []string
	switch {
	case q.Kind != "" && q.Owner != "":
		for id := range s.byOwner[string(q.Kind)+"\x00"+q.Owner] {
			ids = append(ids, id)
		}
	default:
		for idx, set := range s.byOwner {
			kind, owner, _ := strings.Cut(idx, "\x00")
			if (q.Kind == "" || string(q.Kind) == kind) && (q.Owner == "" || q.Owner == owner) {
				for id := range set {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (out []store.Key, err error) {
	err = s.view(ctx, func() error {
		for _, id := range s.matchingKeyIDs(q) {
			k, err := decode[store.Key](famKey, id, s.fams[famKey][id].val)
			if err != nil {
				return err
			}
			if q.Matches(k) {
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}

func updateKey(t *tx, id string, update func(store.Key) (store.Key, error)) (store.Key, error) {
	old, err := txGet[store.Key](t, famKey, id)
	if err != nil {
		return store.Key{}, err
	}
	updated, err := update(old)
	if err != nil {
		return store.Key{}, err
	}
	updated.ID, updated.Kind, updated.Owner = old.ID, old.Kind, old.Owner
	if old.Kind == store.KindPersonalToken && updated.Name != old.Name {
		// Keep the per-user token-name index in step with a rename.
		if _, taken := t.get(famPATName, old.Owner+"\x00"+updated.Name); taken {
			return store.Key{}, fmt.Errorf("token name %q: %w", updated.Name, store.ErrAlreadyExists)
		}
		t.del(famPATName, old.Owner+"\x00"+old.Name)
		t.putRaw(famPATName, old.Owner+"\x00"+updated.Name, []byte(id))
	}
	return updated, t.put(famKey, id, updated)
}

func (s *Store) UpdateKey(ctx context.Context, id string, update func(store.Key) (store.Key, error)) (result store.Key, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		result, err = updateKey(t, id, update)
		return err
	})
	return result, err
}

func (s *Store) UpdateKeys(ctx context.Context, q store.KeyQuery, update func(store.Key) (store.Key, error)) (changed []store.Key, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		changed = nil
		for _, id := range s.matchingKeyIDs(q) {
			k, err := txGet[store.Key](t, famKey, id)
			if err != nil {
				return err
			}
			if !q.Matches(k) {
				continue
			}
			updated, err := updateKey(t, id, update)
			if errors.Is(err, store.ErrSkip) {
				continue
			}
			if err != nil {
				return err
			}
			changed = append(changed, updated)
		}
		return nil
	})
	return changed, err
}

func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.atomic(ctx, func(t *tx) error {
		k, err := txGet[store.Key](t, famKey, id)
		if err != nil {
			return err
		}
		if k.Kind == store.KindPersonalToken {
			t.del(famPATName, k.Owner+"\x00"+k.Name)
		}
		t.del(famKey, id)
		return nil
	})
}

// RecordKeyUsage merges by max inside a compare-and-swap per chunk, so
// replicas flushing at the same time never move a lastUsedAt backwards;
// chunks keep each transaction under etcd's operation limit.
func (s *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) error {
	for chunk := range slices.Chunk(usage, s.opts.MaxTxnOps) {
		err := s.atomic(ctx, func(t *tx) error {
			for _, u := range chunk {
				_, err := updateKey(t, u.KeyID, func(k store.Key) (store.Key, error) {
					if !u.At.After(k.LastUsedAt) {
						return k, store.ErrSkip
					}
					k.LastUsedAt, k.LastUsedIP = u.At, u.IP
					return k, nil
				})
				if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrSkip) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// --- signing keys ---

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.atomic(ctx, func(t *tx) error {
		if _, ok := t.get(famSigning, k.ID); ok {
			return fmt.Errorf("signing key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		return t.put(famSigning, k.ID, k)
	})
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return viewList[store.SigningKey](s, ctx, famSigning)
}

func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (result store.SigningKey, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		old, err := txGet[store.SigningKey](t, famSigning, id)
		if err != nil {
			return err
		}
		result, err = update(old)
		if err != nil {
			return err
		}
		result.ID = old.ID
		return t.put(famSigning, id, result)
	})
	return result, err
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.atomic(ctx, func(t *tx) error {
		if _, ok := t.get(famSigning, id); !ok {
			return fmt.Errorf("signing key %q: %w", id, store.ErrNotFound)
		}
		t.del(famSigning, id)
		return nil
	})
}

func (s *Store) ReplaceSigningKeys(ctx context.Context, keys []store.SigningKey) error {
	return s.atomic(ctx, func(t *tx) error {
		for id := range s.fams[famSigning] {
			t.get(famSigning, id)
			t.del(famSigning, id)
		}
		for _, k := range keys {
			if err := t.put(famSigning, k.ID, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// --- audit ---

// auditIDLen is 16 hex digits of Unix nanoseconds and 8 random ones: IDs
// sort in time order across replicas and never collide.
const auditIDLen = 24

func (s *Store) nextAuditID() (string, error) {
	s.auditMu.Lock()
	now := max(time.Now().UnixNano(), s.lastAudit+1) // monotonic within a process
	s.lastAudit = now
	s.auditMu.Unlock()
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(now))
	return hex.EncodeToString(b[:]) + hex.EncodeToString(r[:]), nil
}

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	id, err := s.nextAuditID()
	if err != nil {
		return e, err
	}
	e.ID = id
	data, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("etcd: encoding audit event: %w", err)
	}
	// The event key is its own marker: a resend after an answerless
	// failure finds it present when the first send landed.
	k := s.key(famAudit, id)
	committed, err := s.send(ctx, time.Now().Add(s.opts.RequestTimeout),
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)}, []clientv3.Op{clientv3.OpPut(k, string(data))}, k)
	if err != nil {
		return e, err
	}
	if committed == 0 {
		return e, fmt.Errorf("audit id %s: %w", id, store.ErrAlreadyExists)
	}
	return e, nil
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	limit := q.EffectiveLimit()
	base := s.opts.Prefix + famAudit + "/"
	end := clientv3.GetPrefixRangeEnd(base)
	if q.Before != "" {
		if _, err := hex.DecodeString(q.Before); err != nil || len(q.Before) != auditIDLen {
			return nil, fmt.Errorf("audit cursor %q: %w", q.Before, store.ErrInvalidArgument)
		}
		end = base + q.Before // exclusive: strictly older than the cursor
	}
	var out []store.AuditEvent
	page := int64(max(limit, 100))
	for len(out) < limit {
		rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		resp, err := s.cli.Get(rctx, base, clientv3.WithRange(end), clientv3.WithLimit(page),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		cancel()
		if err != nil {
			return nil, unavailable(err)
		}
		for _, kv := range resp.Kvs {
			e, err := decode[store.AuditEvent](famAudit, string(kv.Key), kv.Value)
			if err != nil {
				return nil, err
			}
			if !q.Since.IsZero() && e.Time.Before(q.Since) {
				return out, nil // newest first: nothing older can match
			}
			if q.Matches(e) {
				out = append(out, e)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key)
	}
	return out, nil
}

// --- revoked tokens ---

func (s *Store) RevokeToken(ctx context.Context, rt store.RevokedToken) error {
	return s.atomic(ctx, func(t *tx) error { return t.put(famRevoked, rt.JTI, rt) })
}

func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (revoked bool, err error) {
	err = s.view(ctx, func() error {
		_, revoked = s.fams[famRevoked][jti]
		return nil
	})
	return revoked, err
}

func (s *Store) ListRevokedTokens(ctx context.Context) ([]store.RevokedToken, error) {
	return viewList[store.RevokedToken](s, ctx, famRevoked)
}

func (s *Store) PruneRevokedTokens(ctx context.Context, now time.Time) (int, error) {
	var doomed []string
	err := s.view(ctx, func() error {
		for jti, e := range s.fams[famRevoked] {
			rt, err := decode[store.RevokedToken](famRevoked, jti, e.val)
			if err != nil {
				return err
			}
			if !now.Before(rt.ExpiresAt) {
				doomed = append(doomed, jti)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for chunk := range slices.Chunk(doomed, s.opts.MaxTxnOps) {
		var pruned int
		err := s.atomic(ctx, func(t *tx) error {
			pruned = 0
			for _, jti := range chunk {
				if _, ok := t.get(famRevoked, jti); ok {
					t.del(famRevoked, jti)
					pruned++
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += pruned
	}
	return n, nil
}
