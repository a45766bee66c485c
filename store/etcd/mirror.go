package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/tokenwright/tokenwright/store"
)

// --- the mirror ---

// reloadPage is how many records one request of reload reads by default.
// A million keys in one response would hold the whole prefix (hundreds of
// megabytes) in memory at once, beside the mirror being built from it, and
// take longer than a request may.
const reloadPage = 10_000

// mirroredFams are the families reload reads (those mirrored holds): the
// audit trail and the markers, which may outnumber everything else, are
// not read at all.
var mirroredFams = []string{famAccount, famUser, famName, famEmail, famKey, famPATName, famSigning, famRevoked, famSession, famFedRule, famForeign, famTicket}

// bigFams are read in sub-ranges from the start (see readSnapshot): they
// grow with use, and their ids are random.
var bigFams = map[string]bool{famKey: true, famRevoked: true, famForeign: true}

// idBounds split a family's range into sub-ranges by the first byte of the
// id; base62, the alphabet of key ids, in byte order.
const idBounds = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// reload replaces the mirror with a fresh read of the prefix: a
// linearizable read of the first page fixes the snapshot's revision, and
// every further page is read at that revision, so the mirror is the state
// of one revision however many pages it takes (writes meanwhile come later,
// from the watch, which resumes after that revision). When that revision is
// compacted away before the last page the reload starts again.
func (s *Store) reload(ctx context.Context) error {
	for {
		m, rev, err := s.readSnapshot(ctx, s.opts.reloadPage, s.opts.afterPage)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		if err != nil {
			return fmt.Errorf("etcd: loading %s: %w", s.opts.Prefix, unavailable(err))
		}
		// The followers' keys are decoded before the lock is taken.
		var keys []store.Key
		if s.keyFollowers.Any() {
			keys = m.keys()
		}
		s.mu.Lock()
		s.mirror = *m
		s.setRev(rev)
		if keys != nil {
			s.keyFollowers.Reset(keys, uint64(rev))
		}
		s.mu.Unlock()
		s.notifySigning()
		return nil
	}
}

// span is a key range [from, end) that readSnapshot reads in pages.
type span struct {
	from, end string
	// fam is set on a family's whole range: once it proves bigger than a
	// page, the rest is split (see splitSpan).
	fam string
}

// splitSpan splits [from, end) of the family whose keys start with fam at
// fam+b for each b of idBounds.
func splitSpan(fam, from, end string) []span {
	var out []span
	for _, b := range []byte(idBounds) {
		if bound := fam + string(b); bound > from && bound < end {
			out = append(out, span{from: from, end: bound})
			from = bound
		}
	}
	return append(out, span{from: from, end: end})
}

// readSnapshot reads the mirrored families in pages of page records (0:
// reloadPage) at one revision (see reload); afterPage (tests only) runs
// between the pages of a range.
//
// A range request with a limit costs etcd 3.4 a walk of its index over the
// whole range, not only the page (3.5 stops at the limit), so paging one
// range of a million keys would walk it a hundred times: big families are
// read in sub-ranges by the first byte of the id, each paged. The next
// request is sent before the current page is indexed, so etcd and this
// process work at the same time.
func (s *Store) readSnapshot(ctx context.Context, page int, afterPage func()) (*mirror, int64, error) {
	if page <= 0 {
		page = reloadPage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends a request left running by an error
	type result struct {
		resp *clientv3.GetResponse
		err  error
	}
	fetch := func(sp span, rev int64) <-chan result {
		ch := make(chan result, 1)
		go func() {
			opts := []clientv3.OpOption{clientv3.WithRange(sp.end), clientv3.WithLimit(int64(page))}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
			defer cancel()
			resp, err := s.cli.Get(rctx, sp.from, opts...)
			ch <- result{resp, err}
		}()
		return ch
	}
	var queue []span
	for _, f := range mirroredFams {
		p := s.opts.Prefix + f + "/"
		if bigFams[f] {
			queue = append(queue, splitSpan(p, p, clientv3.GetPrefixRangeEnd(p))...)
		} else {
			queue = append(queue, span{from: p, end: clientv3.GetPrefixRangeEnd(p), fam: p})
		}
	}
	m := newMirror()
	var rev int64
	cur := queue[0]
	queue = queue[1:]
	next := fetch(cur, 0) // a linearizable read: it fixes rev
	for next != nil {
		r := <-next
		if r.err != nil {
			return nil, 0, r.err
		}
		if rev == 0 {
			rev = r.resp.Header.Revision
		}
		kvs := r.resp.Kvs
		if r.resp.More && len(kvs) > 0 {
			rest := span{from: string(kvs[len(kvs)-1].Key) + "\x00", end: cur.end}
			if cur.fam != "" {
				queue = append(splitSpan(cur.fam, rest.from, rest.end), queue...)
			} else {
				queue = append([]span{rest}, queue...)
			}
			if afterPage != nil {
				afterPage()
			}
		}
		next = nil
		if len(queue) > 0 {
			cur = queue[0]
			queue = queue[1:]
			next = fetch(cur, rev)
		}
		for _, kv := range kvs {
			m.put(s, kv.Key, kv.Value, kv.ModRevision)
		}
	}
	return m, rev, nil
}

// setRev records the revision of the last event applied (or of the
// snapshot reload read); callers hold mu.
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

// mirrored reports whether the mirror holds records of fam (reload reads
// the known ones, mirroredFams).
func mirrored(fam string) bool { return fam != famAudit && fam != famLock && fam != famMeta }

// mirror is the in-memory copy of the prefix's records (all but audit
// events, locks and markers). Store embeds it; reload builds a new one and
// swaps it in whole.
//
// A million keys must fit in a few hundred MB (docs/high-availability.md,
// "Scale"), so each record costs little beyond its stored bytes: values
// are kept compacted (see compact), ids are copied out of the etcd key,
// and every key of an owner points to one shared ownerSet.
type mirror struct {
	fams    map[string]map[string]entry
	byOwner map[string]*ownerSet // kind \x00 owner -> its keys
}

// ownerSet is one entry of the owner index: the keys of one owner.
type ownerSet struct {
	idx string // kind \x00 owner
	ids map[string]struct{}
}

func newMirror() *mirror {
	return &mirror{fams: map[string]map[string]entry{}, byOwner: map[string]*ownerSet{}}
}

// owned returns the ids of the keys of kind \x00 owner (nil for none);
// callers hold mu and must not change it.
func (m *mirror) owned(idx string) map[string]struct{} {
	if o := m.byOwner[idx]; o != nil {
		return o.ids
	}
	return nil
}

// put stores the record at k (a full etcd key of s's prefix); callers
// hold s.mu when m is the Store's own.
func (m *mirror) put(s *Store, k, v []byte, rev int64) {
	fam, id, ok := s.split(k)
	if !ok || !mirrored(fam) {
		return
	}
	recs := m.fams[fam]
	if recs == nil {
		recs = map[string]entry{}
		m.fams[fam] = recs
	}
	old, existed := recs[id]
	if !existed {
		// A copy of the id alone: a substring would keep the whole etcd
		// key alive, for every record.
		id = strings.Clone(id)
	}
	e := entry{val: compact(v), rev: rev}
	if fam == famKey {
		kind, owner, ok := keyOwner(e.val)
		if !ok {
			var rec struct {
				Kind  store.KeyKind `json:"kind"`
				Owner string        `json:"owner"`
			}
			_ = json.Unmarshal(v, &rec) // an unreadable record is indexed under ""
			kind, owner = rec.Kind, rec.Owner
		}
		var buf [128]byte
		idx := append(append(append(buf[:0], kind...), 0), owner...)
		if existed && old.owner.idx != string(idx) {
			m.unindex(old.owner, id)
		}
		o := m.byOwner[string(idx)]
		if o == nil {
			o = &ownerSet{idx: string(idx), ids: map[string]struct{}{}}
			m.byOwner[o.idx] = o
		}
		o.ids[id] = struct{}{}
		e.owner = o
	}
	recs[id] = e
}

func (m *mirror) unindex(o *ownerSet, id string) {
	delete(o.ids, id)
	if len(o.ids) == 0 {
		delete(m.byOwner, o.idx)
	}
}

func (m *mirror) delete(s *Store, k []byte) {
	fam, id, ok := s.split(k)
	if !ok || !mirrored(fam) {
		return
	}
	if old, ok := m.fams[fam][id]; ok && old.owner != nil {
		m.unindex(old.owner, id)
	}
	delete(m.fams[fam], id)
}

// watchLoop applies every change under the prefix to the mirror. When the
// watch breaks (member lost, no leader, a stall the prover detected) it
// resumes after the last event applied; when that revision was compacted
// away it reloads everything.
//
// Progress notifications are not requested and, if one arrives, ignored:
// etcd 3.4 before 3.4.24 (Debian's 3.4.23 among them) may answer one with
// its current revision while the watch still has events to deliver
// (etcd-io/etcd#15220), so a progress revision proves nothing. Only the
// revision of an event, or of the snapshot a reload read, says what the
// mirror holds.
func (s *Store) watchLoop() {
	for gen := 0; s.watchCtx.Err() == nil; gen++ {
		s.mu.RLock()
		from := s.rev + 1
		s.mu.RUnlock()
		compacted := false
		// Each watch gets a stream of its own (the client shares one
		// stream per metadata), so a restart after a stall opens a new
		// gRPC stream, which the balancer may place on another member.
		sctx := metadata.AppendToOutgoingContext(s.watchCtx, "tokenwright-watch", strconv.Itoa(gen))
		wctx, cancel := context.WithCancel(sctx)
		s.watchMu.Lock()
		s.cancelWatch, s.streamCtx = cancel, sctx
		s.watchMu.Unlock()
		wch := s.cli.Watch(wctx, s.opts.Prefix, clientv3.WithPrefix(), clientv3.WithRev(from))
	watching:
		for {
			// The client does not always close a watch's channel when its
			// context ends (seen after a stalled stream was cancelled), so
			// the end of wctx stops the loop by itself; events left in the
			// channel are not lost: the next watch resumes after the last
			// event applied.
			var resp clientv3.WatchResponse
			var open bool
			select {
			case <-wctx.Done():
				break watching
			case resp, open = <-wch:
			}
			if !open {
				break
			}
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

// restartWatch ends the current watch; watchLoop opens a new one that
// resumes after the last event applied.
func (s *Store) restartWatch() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.cancelWatch != nil {
		s.cancelWatch()
	}
}

// watchStream is the context that keys the current watch's stream.
func (s *Store) watchStream() context.Context {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.streamCtx == nil {
		return s.watchCtx
	}
	return s.streamCtx
}

func (s *Store) apply(resp clientv3.WatchResponse) {
	if len(resp.Events) == 0 {
		return // a progress notification: see watchLoop
	}
	if hold := s.applyHold.Load(); hold != nil {
		<-*hold // tests only: a watch that does not deliver (export_test.go)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := s.rev
	for _, ev := range resp.Events {
		if fam, _, _ := s.split(ev.Kv.Key); fam == famSigning {
			defer s.notifySigning()
		}
		s.announceKey(ev)
		if ev.Type == clientv3.EventTypeDelete {
			s.mirror.delete(s, ev.Kv.Key)
		} else {
			s.mirror.put(s, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
		}
		rev = max(rev, ev.Kv.ModRevision)
	}
	s.setRev(rev)
}

// --- freshness ---

// FreshnessBound is how old a replica's proof of freshness may be when it
// answers a security-relevant read (a key, account or user lookup, a
// revocation check) from its mirror: the mirror then holds every write
// committed before the read began, less at most this much. Without such a
// proof the read goes to etcd (a linearizable read).
const FreshnessBound = 100 * time.Millisecond

// stallTimeout is how long a committed revision may stay undelivered by the
// watch before the watch is taken for stalled and re-established.
const stallTimeout = time.Second

// now is this process's monotonic clock: a wall-clock step cannot make the
// mirror look fresher or staler than it is (issue 14, finding 6).
func (s *Store) now() time.Duration { return time.Since(s.epoch) }

// markProven records that the mirror held every write committed before at.
func (s *Store) markProven(at time.Duration) {
	for {
		old := s.proven.Load()
		if int64(at) <= old || s.proven.CompareAndSwap(old, int64(at)) {
			return
		}
	}
}

// MirrorAge is how long ago the newest successful freshness proof started:
// the mirror held every write committed before then. false before the
// first proof. The server exposes it as a metric (through an interface,
// without importing this package).
func (s *Store) MirrorAge() (time.Duration, bool) {
	at := s.provenAt()
	if at == 0 {
		return 0, false
	}
	return s.now() - at, true
}

// provenAt is the start of the newest successful proof.
func (s *Store) provenAt() time.Duration { return time.Duration(s.proven.Load()) }

// errStalled says the cluster answered but the watch did not deliver.
var errStalled = fmt.Errorf("etcd: the watch did not deliver a committed revision within %s: %w", stallTimeout, store.ErrUnavailable)

// prove establishes that the mirror holds every write committed before
// prove was called. A linearizable read gives the cluster's present
// revision; when the mirror has applied an event at or past it, nothing
// older can be missing (a watch delivers in revision order). When that
// revision is not reached quickly (it may belong to a key outside the
// prefix, which the watch never delivers), a heartbeat is written under the
// prefix and its own event awaited. A watch that does not deliver a
// committed revision within stallTimeout is restarted.
func (s *Store) prove(ctx context.Context) error {
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	var rev int64
	err := s.quorum(ctx, func(ctx context.Context) (err error) {
		resp, err := s.cli.Get(ctx, s.key(famMeta, "probe"), clientv3.WithCountOnly())
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	})
	if err != nil {
		return err
	}
	if s.waitRev(ctx, rev, 20*time.Millisecond) {
		s.markProven(start)
		return nil
	}
	err = s.quorum(ctx, func(ctx context.Context) (err error) {
		resp, err := s.cli.Put(ctx, s.key(famMeta, "heartbeat"), "")
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.waitRev(ctx, rev, stallTimeout) {
		if ctx.Err() == nil {
			s.restartWatch()
		}
		return errStalled
	}
	s.markProven(start)
	return nil
}

// quorum runs one request that needs a quorum, in two tries of half a
// stallTimeout each: the client's balancer sends the second try to the next
// member, so one paused member costs at most one try. Success is recorded
// as contact with a quorum (see contacted).
func (s *Store) quorum(ctx context.Context, call func(context.Context) error) error {
	var err error
	for range 2 {
		rctx, cancel := context.WithTimeout(ctx, min(s.opts.RequestTimeout, stallTimeout)/2)
		err = call(rctx)
		cancel()
		if err == nil {
			s.lastQuorum.Store(int64(s.now()))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return unavailable(err)
}

// quorumGrace is how recently a quorum must have answered for a failed
// read to count as this replica's problem (a stalled watch, a paused
// member) rather than a lost quorum.
const quorumGrace = 1500 * time.Millisecond

// contacted reports whether a quorum answered this replica within
// quorumGrace: then the cluster is up, and a view that cannot be proven
// fresh must not be served.
func (s *Store) contacted() bool {
	return s.now()-time.Duration(s.lastQuorum.Load()) <= quorumGrace
}

// proofLoop runs the proofs that reads ask for, one at a time: every reader
// waiting meanwhile shares the next one.
func (s *Store) proofLoop() {
	for {
		select {
		case <-s.watchCtx.Done():
			return
		case <-s.proofReq:
		}
		_ = s.prove(s.watchCtx)
		s.proofMu.Lock()
		close(s.proofDone)
		s.proofDone = make(chan struct{})
		s.proofMu.Unlock()
	}
}

// requestProof asks proofLoop for a proof; the channel is closed when a
// proof that started no earlier than this call has finished.
func (s *Store) requestProof() <-chan struct{} {
	s.proofMu.Lock()
	done := s.proofDone
	s.proofMu.Unlock()
	select {
	case s.proofReq <- struct{}{}:
	default: // one is queued already: it starts after this call
	}
	return done
}

// current reports whether the mirror is proven to hold every write
// committed before now-FreshnessBound, asking for proofs for up to
// FreshnessBound. A proof older than half the bound is refreshed in the
// background, so that steady traffic rarely waits.
func (s *Store) current(ctx context.Context) bool {
	asked := s.now()
	age := asked - s.provenAt()
	if age <= FreshnessBound {
		if age > FreshnessBound/2 {
			s.requestProof()
		}
		return true
	}
	return s.provenSince(ctx, asked-FreshnessBound)
}

// provenSince waits, for up to FreshnessBound, until a proof that started
// at or after since has succeeded. Proofs run one at a time, so many
// waiting readers cost one proof between them.
func (s *Store) provenSince(ctx context.Context, since time.Duration) bool {
	t := time.NewTimer(FreshnessBound)
	defer t.Stop()
	for s.provenAt() < since {
		done := s.requestProof()
		select {
		case <-done:
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		}
	}
	return true
}

// probeLoop proves freshness every ProbeInterval (see prove), which keeps
// Health current and detects a stalled watch even when no reads come.
func (s *Store) probeLoop() {
	t := time.NewTicker(s.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.watchCtx.Done():
			return
		case <-t.C:
		}
		_ = s.prove(s.watchCtx)
	}
}

// fresh refuses reads once the mirror may be too old to trust even while
// no quorum can be reached (Options.MaxStaleness).
func (s *Store) fresh(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if since := s.now() - s.provenAt(); since > s.opts.MaxStaleness {
		return fmt.Errorf("etcd: no contact with a quorum for %s: %w", since.Round(time.Second), store.ErrUnavailable)
	}
	return nil
}

// waitRev blocks until the mirror has applied the event at rev (or
// ctx/timeout ends). rev must be the revision of an event under the prefix
// or of a linearizable read; never of a progress notification.
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
