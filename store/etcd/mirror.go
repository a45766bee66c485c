package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/tokenwright/tokenwright/store"
)

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
		if ev.Type == clientv3.EventTypeDelete {
			s.applyDelete(ev.Kv.Key)
		} else {
			s.applyPut(ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
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
