package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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
