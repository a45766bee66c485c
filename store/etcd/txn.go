package etcd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// --- transactions ---

// tx collects the reads and writes of one atomic update.
type tx struct {
	s      *Store
	reads  map[string]int64 // full key -> mod revision seen (0: absent)
	writes map[string][]byte
	order  []string
	staged map[string]bool // keys already in order
	dels   map[string]bool
	// scans are the families fn enumerated from the mirror (owner index,
	// all accounts): the transaction also requires that no key in them
	// changed after snap, the mirror's revision when fn ran, so a record
	// another replica wrote that this mirror does not show yet cannot be
	// skipped silently.
	scans map[string]bool
	snap  int64
}

// scan records that fn's decision depends on the whole family fam.
func (t *tx) scan(fam string) { t.scans[fam] = true }

// guards are the comparisons that make fn's view of the mirror the current
// state of etcd: every record read is unchanged (absent ones still absent),
// and nothing in a scanned family changed after the mirror's revision.
func (t *tx) guards() []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+len(t.scans)+1)
	for k, rev := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
	}
	for fam := range t.scans {
		from := t.s.opts.Prefix + fam + "/"
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(from), "<", t.snap+1).WithRange(clientv3.GetPrefixRangeEnd(from)))
	}
	return cmps
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
	return e.value(), ok
}

func decode[T any](fam, id string, data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("etcd: decoding %s/%s: %w", fam, id, err)
	}
	return v, nil
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
// again: its "marker absent" comparison makes the resend a no-op if the
// first one landed, and the marker then tells us so. A write caught in a
// leader election therefore succeeds once the new leader is elected,
// instead of failing with an ambiguous error. If no send is answered, the
// marker settles the outcome (see settle), so a committed write is never
// answered as a failure, and a failure is never followed by a late commit.
func (s *Store) atomic(ctx context.Context, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	marker := s.key(famMeta, markerDir+s.newMarkerID())
	deadline := time.Now().Add(s.opts.RequestTimeout)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		t := &tx{s: s, reads: map[string]int64{}, writes: map[string][]byte{}, staged: map[string]bool{},
			dels: map[string]bool{}, scans: map[string]bool{}}
		s.mu.RLock()
		t.snap = s.rev
		err := fn(t)
		s.mu.RUnlock()
		if err == nil {
			err = s.stageAudit(ctx, t) // the change's event commits with it
		}
		if err != nil || len(t.order) == 0 {
			// fn decided from the mirror (not found, already exists, over
			// a limit, nothing to do): the decision stands only if etcd
			// still holds what fn read. A mirror behind another replica's
			// write waits for it and decides again.
			current, verr := s.validate(ctx, t)
			if verr != nil {
				return verr
			}
			if current {
				return err
			}
			s.waitChanged(ctx, t)
			continue
		}
		cmps := append(t.guards(), clientv3.Compare(clientv3.CreateRevision(marker), "=", 0))
		ops := make([]clientv3.Op, 0, len(t.order)+1)
		for _, k := range t.order {
			if v, ok := t.writes[k]; ok {
				ops = append(ops, clientv3.OpPut(k, string(v)))
			} else if t.dels[k] {
				ops = append(ops, clientv3.OpDelete(k))
			}
		}
		committed, err := s.send(ctx, deadline, cmps, ops, marker)
		if err != nil {
			return err
		}
		if committed > 0 {
			// Read-your-writes: return once the mirror has applied the
			// marker's event, which carries the commit revision (a
			// progress notification would prove nothing, see watchLoop).
			// A watch that does not deliver it in time does not turn the
			// committed write into a failure (a client told so would
			// retry and duplicate it, or never receive a key's secret):
			// the answer is success, and the mirror catches up when the
			// watch delivers.
			s.waitDelivered(ctx, committed)
			return nil
		}
		// Someone else changed what fn read: the mirror shows it once the
		// watch delivers that event; then fn runs again.
		s.waitChanged(ctx, t)
	}
	return fmt.Errorf("etcd: too much contention after %d attempts: %w", maxAttempts, store.ErrUnavailable)
}

// validate reports whether etcd still holds everything t read, with a
// read-only (linearizable) transaction of t's guards.
func (s *Store) validate(ctx context.Context, t *tx) (bool, error) {
	if len(t.reads) == 0 && len(t.scans) == 0 {
		return true, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Txn(rctx).If(t.guards()...).Commit()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, unavailable(err)
	}
	return resp.Succeeded, nil
}

// waitDelivered waits until the mirror has applied the event at rev, which
// must be a revision this replica committed under the prefix. A watch that
// does not deliver it within stallTimeout is re-established on a new
// stream (it resumes after the last event applied), again after each
// further stallTimeout, until RequestTimeout.
func (s *Store) waitDelivered(ctx context.Context, rev int64) bool {
	deadline := time.Now().Add(max(s.opts.RequestTimeout, stallTimeout))
	for {
		if s.waitRev(ctx, rev, min(stallTimeout, time.Until(deadline))) {
			return true
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return false
		}
		s.restartWatch()
	}
}

// waitChanged waits until the mirror shows a change to something t read
// after a comparison failed: the change that failed it is committed, so
// its event comes; a watch that does not deliver it within stallTimeout is
// re-established. (The caller's next attempt compares again either way.)
func (s *Store) waitChanged(ctx context.Context, t *tx) {
	changed := func() bool {
		if s.rev > t.snap && len(t.scans) > 0 {
			return true
		}
		for k, rev := range t.reads {
			fam, id, _ := s.split([]byte(k))
			if s.fams[fam][id].rev != rev {
				return true
			}
		}
		return false
	}
	timer := time.NewTimer(stallTimeout)
	defer timer.Stop()
	for {
		s.mu.RLock()
		done, ch := changed(), s.advance
		s.mu.RUnlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			s.restartWatch()
			return
		}
	}
}

// markerDir holds the per-call marker keys.
const markerDir = "txn/"

// Markers are attached to a lease of the store's (see markerLease), so etcd
// deletes them on its own clock: no replica's wall clock decides when a
// marker another replica still needs goes away. A marker lives at least
// markerTTL-markerRenew (10 minutes), far longer than any resend, and at
// most markerTTL plus the time the cluster spends without a leader.
const (
	markerTTL   = 20 * time.Minute
	markerRenew = 10 * time.Minute // a lease older than this is not used for new markers
)

// newMarkerID is random, so replicas never collide, after the wall-clock
// time: a replica of a version before the lease, which still sweeps
// markers by that time, deletes during a rolling upgrade only markers at
// least 10 minutes old by its clock, as it always did.
func (s *Store) newMarkerID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// markerLease returns the lease new markers are attached to, granting a
// new one when there is none, the current one is markerRenew old (by the
// monotonic clock, from before it was requested), or it was lost.
func (s *Store) markerLease(ctx context.Context, deadline time.Time) (clientv3.LeaseID, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.lease != 0 && time.Since(s.leaseAt) < markerRenew {
		return s.lease, nil
	}
	asked := time.Now()
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	resp, err := s.cli.Grant(rctx, int64(markerTTL/time.Second))
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, unavailable(err)
	}
	s.lease, s.leaseAt = resp.ID, asked
	return s.lease, nil
}

// dropLease forgets a lease etcd no longer knows, so the next marker gets
// a new one.
func (s *Store) dropLease(id clientv3.LeaseID) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.lease == id {
		s.lease = 0
	}
}

// send commits one transaction (ops, and the creation of marker, which
// cmps must require absent), resending it after answerless failures
// for the first two thirds of the time left until deadline; then, if no
// send was answered, it settles the outcome (see settle) in the last
// third. It returns the commit revision, or 0 when a comparison failed
// because another writer got there first.
func (s *Store) send(ctx context.Context, deadline time.Time, cmps []clientv3.Cmp, ops []clientv3.Op, marker string) (int64, error) {
	perTry := max(s.opts.RequestTimeout/3, 200*time.Millisecond)
	sendEnd := deadline.Add(-max(time.Until(deadline), 0) / 3)
	sent := false // a send went unanswered: it may land
	var err error
	for {
		remaining := time.Until(sendEnd)
		if remaining <= 0 && !sent {
			return 0, fmt.Errorf("etcd: no answer from a quorum within %s (last: %v); the change was not made: %w",
				s.opts.RequestTimeout, err, store.ErrUnavailable)
		}
		if remaining <= 0 {
			return s.settle(ctx, deadline, marker)
		}
		var lease clientv3.LeaseID
		lease, err = s.markerLease(ctx, time.Now().Add(min(remaining, perTry)))
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if sent {
				return s.settle(ctx, deadline, marker)
			}
			// Nothing was sent: wait and ask for a lease again.
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(min(50*time.Millisecond, max(time.Until(sendEnd), 0))):
			}
			continue
		}
		sent = true
		rctx, cancel := context.WithTimeout(ctx, min(remaining, perTry))
		var resp *clientv3.TxnResponse
		resp, err = s.commitTxn(rctx, cmps, append(ops[:len(ops):len(ops)], clientv3.OpPut(marker, "", clientv3.WithLease(lease))), marker)
		cancel()
		if err == nil {
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
		if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) || errors.Is(err, rpctypes.ErrNoSpace) {
			return 0, unavailable(err) // definitive (refused before it was applied): resending cannot help
		}
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			s.dropLease(lease) // rejected whole; resend with a new lease
			continue
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(min(50*time.Millisecond, max(time.Until(sendEnd), 0))):
		}
	}
}

// commitTxn sends the transaction once: If cmps Then ops Else get marker.
// Tests replace it (see export_test.go) to lose requests or answers.
func (s *Store) commitTxn(ctx context.Context, cmps []clientv3.Cmp, ops []clientv3.Op, marker string) (*clientv3.TxnResponse, error) {
	if f := s.sendHook.Load(); f != nil {
		return (*f)(ctx, cmps, ops, marker)
	}
	return s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(marker)).Commit()
}

// abortedMarker is the value settle gives a marker whose transaction it
// rules out; a committed transaction's marker is empty.
const abortedMarker = "aborted"

// settle decides the outcome of a transaction none of whose sends was
// answered: an earlier send may have committed, or may still be in flight
// (queued on a paused member) and commit later, so merely reading the
// marker could not rule it out. Instead settle creates the marker itself,
// with the same "marker absent" comparison the transaction carries: if
// that succeeds, every send of the transaction, however late, now fails
// its comparison, so the change provably was not made; if the marker
// already exists, the transaction committed, at the marker's revision. It
// is retried (round-robin, so on other endpoints) until deadline; when no
// attempt is answered the outcome is unknown: store.ErrOutcomeUnknown.
func (s *Store) settle(ctx context.Context, deadline time.Time, marker string) (int64, error) {
	perTry := max(s.opts.RequestTimeout/9, 100*time.Millisecond)
	var err error
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return 0, fmt.Errorf("etcd: no answer from a quorum within %s (last: %v): %w",
				s.opts.RequestTimeout, err, store.ErrOutcomeUnknown)
		}
		var resp *clientv3.TxnResponse
		if resp, err = s.settleOnce(ctx, min(remaining, perTry), marker); err == nil {
			if kvs := resp.Responses[0].GetResponseRange().GetKvs(); !resp.Succeeded && len(kvs) > 0 &&
				string(kvs[0].Value) != abortedMarker {
				return kvs[0].ModRevision, nil // a send committed; its answer was lost
			}
			return 0, fmt.Errorf("etcd: no answer from a quorum within %s; the change was not made: %w",
				s.opts.RequestTimeout, store.ErrUnavailable)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(min(50*time.Millisecond, max(time.Until(deadline), 0))):
		}
	}
}

// settleOnce sends settle's transaction once, within timeout.
func (s *Store) settleOnce(ctx context.Context, timeout time.Duration, marker string) (*clientv3.TxnResponse, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lease, err := s.markerLease(rctx, time.Now().Add(timeout))
	if err != nil {
		return nil, err
	}
	resp, err := s.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)).
		Then(clientv3.OpPut(marker, abortedMarker, clientv3.WithLease(lease))).Else(clientv3.OpGet(marker)).Commit()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.dropLease(lease) // rejected whole; the next try gets a new lease
	}
	return resp, err
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

// readRecord serves a single-record read (records.Reader), the kind the
// token endpoint makes (key, account, user, revocation): from the mirror
// when it is proven to hold every write committed more than
// FreshnessBound before the read began, otherwise from etcd with a
// linearizable read. Only when no quorum answers does it fall back to the
// mirror, within Options.MaxStaleness.
func (s *Store) readRecord(ctx context.Context, fam records.Family, id string, fn func([]byte) error) error {
	e, err := s.getFresh(ctx, string(fam), id)
	if err != nil {
		return err
	}
	return fn(e.value())
}

// getFresh returns the record fam/id (see readRecord): its stored value
// and mod revision. A record the mirror does not hold is looked for again
// once a proof that began after the read has succeeded, so a record
// created through another replica just before is found (a credential
// issued by A works on B at once).
func (s *Store) getFresh(ctx context.Context, fam, id string) (entry, error) {
	if err := ctx.Err(); err != nil {
		return entry{}, err
	}
	asked := s.now()
	if s.current(ctx) {
		e, ok := s.mirrorGet(fam, id)
		if ok || s.provenAt() >= asked {
			return e, notFoundUnless(ok, fam, id)
		}
		if s.provenSince(ctx, asked) {
			e, ok := s.mirrorGet(fam, id)
			return e, notFoundUnless(ok, fam, id)
		}
	}
	if !s.contacted() {
		// No quorum has answered this replica for quorumGrace: a
		// linearizable read would only fail after its two tries, a second
		// for each of the several reads of one token request (which could
		// then outlast MaxStaleness). Serve the mirror now; the proofs that
		// current() requested notice when a quorum answers again.
		return s.mirrorWithinStaleness(ctx, fam, id)
	}
	var resp *clientv3.GetResponse
	err := s.quorum(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Get(ctx, s.key(fam, id))
		return err
	})
	switch {
	case err == nil && len(resp.Kvs) == 0:
		return entry{}, notFoundUnless(false, fam, id)
	case err == nil:
		return entry{val: compact(resp.Kvs[0].Value), rev: resp.Kvs[0].ModRevision}, nil
	case ctx.Err() != nil:
		return entry{}, ctx.Err()
	case s.contacted():
		// The cluster answers, but neither this mirror nor this read could
		// be brought up to date: refuse rather than act on a view that may
		// miss a revocation.
		return entry{}, fmt.Errorf("etcd: cannot prove the in-memory view of %s/%s fresh: %w", fam, id, err)
	}
	return s.mirrorWithinStaleness(ctx, fam, id)
}

// mirrorWithinStaleness serves fam/id from the mirror while no quorum can
// be reached, for at most MaxStaleness after the last proof.
func (s *Store) mirrorWithinStaleness(ctx context.Context, fam, id string) (entry, error) {
	var e entry
	err := s.view(ctx, func() error {
		var ok bool
		e, ok = s.fams[fam][id]
		return notFoundUnless(ok, fam, id)
	})
	return e, err
}

func (s *Store) mirrorGet(fam, id string) (entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.fams[fam][id]
	return e, ok
}

func notFoundUnless(found bool, fam, id string) error {
	if found {
		return nil
	}
	return fmt.Errorf("%s %q: %w", fam, id, store.ErrNotFound)
}

// listRecords calls fn with every mirrored record of fam, in id order
// (records.Reader).
func (s *Store) listRecords(ctx context.Context, fam records.Family, fn func(id string, data []byte) error) error {
	return s.view(ctx, func() error {
		recs := s.fams[string(fam)]
		for _, id := range slices.Sorted(maps.Keys(recs)) {
			if err := fn(id, recs[id].value()); err != nil {
				return err
			}
		}
		return nil
	})
}
