package store

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// KeyChange is one committed change of a stored key (an API key or a
// personal access token): Old is nil for a creation, New nil for a
// deletion, both are set for an update (usage merges included).
type KeyChange struct {
	Old, New *Key
}

// KeyFeed is implemented by backends that can tell every committed change
// of a key, whichever process committed it: bbolt after each of its own
// commits (one process writes the file), etcd from the watch that keeps
// its mirror, so that every replica sees every replica's writes. It lets
// a process keep figures about all keys (the key counts on /metrics) up
// to date without reading every key again.
type KeyFeed interface {
	// FollowKeys calls reset with every stored key, then changed with
	// every change committed after that state, each exactly once, until
	// stop is called. reset is called again, with everything, when the
	// backend replaces its whole state (etcd: a reload after its watch
	// fell behind a compaction); changes then continue from that state.
	// Changes of different transactions may arrive out of commit order
	// (bbolt announces a commit after releasing its writer lock), so a
	// follower must not depend on their order: counts that add and
	// subtract do not. The calls are serialised per follower and may be
	// made while the backend holds its locks: they must be quick and must
	// not call the store.
	FollowKeys(ctx context.Context, reset func([]Key), changed func(KeyChange)) (stop func(), err error)
}

// KeyFollowers is the part of a KeyFeed that every backend shares: the
// followers, each started from a snapshot of the keys taken at a sequence
// number (bbolt: a transaction id; etcd: a revision) and told only of the
// changes committed after it. The zero value has no followers.
type KeyFollowers struct {
	mu   sync.Mutex
	list map[*KeyFollower]struct{}
	n    atomic.Int32
}

// KeyFollower is one follower of a KeyFollowers.
type KeyFollower struct {
	mu      sync.Mutex
	started bool
	after   uint64
	pending []sequencedChange // before Start
	// replaced holds the state a Reset gave before Start: it supersedes
	// the snapshot Start is given.
	replaced   []Key
	replacedAt uint64
	isReplaced bool
	reset      func([]Key)
	changed    func(KeyChange)
}

type sequencedChange struct {
	seq uint64
	c   KeyChange
}

// Any reports whether anyone follows: a backend need not decode the
// changes otherwise. A backend that checks it during a transaction must
// take the snapshot of a new follower (Add, then Start) in a way that
// orders it after every transaction that may have seen Any return false.
func (f *KeyFollowers) Any() bool { return f.n.Load() > 0 }

// Add registers a follower; the changes published until Start are kept
// for it.
func (f *KeyFollowers) Add(reset func([]Key), changed func(KeyChange)) *KeyFollower {
	kf := &KeyFollower{reset: reset, changed: changed}
	f.mu.Lock()
	if f.list == nil {
		f.list = map[*KeyFollower]struct{}{}
	}
	f.list[kf] = struct{}{}
	f.n.Store(int32(len(f.list)))
	f.mu.Unlock()
	return kf
}

// Remove ends kf's calls.
func (f *KeyFollowers) Remove(kf *KeyFollower) {
	f.mu.Lock()
	delete(f.list, kf)
	f.n.Store(int32(len(f.list)))
	f.mu.Unlock()
}

// Start gives kf the snapshot keys, taken at sequence number at, then the
// changes kept since Add that came after it.
func (kf *KeyFollower) Start(keys []Key, at uint64) {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	if kf.isReplaced && kf.replacedAt >= at {
		keys, at = kf.replaced, kf.replacedAt
	}
	kf.replaced = nil
	kf.reset(keys)
	kf.started, kf.after = true, at
	for _, p := range kf.pending {
		if p.seq > at {
			kf.changed(p.c)
		}
	}
	kf.pending = nil
}

func (f *KeyFollowers) each(fn func(*KeyFollower)) {
	f.mu.Lock()
	list := make([]*KeyFollower, 0, len(f.list))
	for kf := range f.list {
		list = append(list, kf)
	}
	f.mu.Unlock()
	for _, kf := range list {
		kf.mu.Lock()
		fn(kf)
		kf.mu.Unlock()
	}
}

// Publish tells every follower of change c, committed at sequence number
// seq.
func (f *KeyFollowers) Publish(seq uint64, c KeyChange) {
	if !f.Any() {
		return
	}
	f.each(func(kf *KeyFollower) {
		switch {
		case !kf.started:
			kf.pending = append(kf.pending, sequencedChange{seq, c})
		case seq > kf.after:
			kf.changed(c)
		}
	})
}

// Reset gives every follower the whole state again (keys, as of sequence
// number at): a started one at once; one not yet started at its Start,
// instead of an older snapshot (the changes between the two may never be
// published: etcd reloads when they were compacted away).
func (f *KeyFollowers) Reset(keys []Key, at uint64) {
	f.each(func(kf *KeyFollower) {
		if kf.started {
			kf.reset(keys)
			kf.after = at
			return
		}
		kf.replaced, kf.replacedAt, kf.isReplaced = keys, at, true
		kf.pending = slices.DeleteFunc(kf.pending, func(p sequencedChange) bool { return p.seq <= at })
	})
}
