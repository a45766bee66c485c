package etcd

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
)

var _ store.KeyFeed = (*Store)(nil)

// FollowKeys implements store.KeyFeed from the mirror: the snapshot is
// the mirror's keys, the changes are the watch's events as they are
// applied, whichever replica wrote them, numbered by revision. The
// follower is added before the mirror's keys are copied (under the read
// lock, which the watch's apply waits for), so an event applied after the
// copy is kept for it; the copy is decoded without the lock, so that a
// million keys do not hold the watch up.
func (s *Store) FollowKeys(_ context.Context, reset func([]store.Key), changed func(store.KeyChange)) (func(), error) {
	kf := s.keyFollowers.Add(reset, changed)
	s.mu.RLock()
	vals := make([]string, 0, len(s.mirror.fams[famKey]))
	for _, e := range s.mirror.fams[famKey] {
		vals = append(vals, e.val)
	}
	rev := s.rev
	s.mu.RUnlock()
	kf.Start(decodeKeys(vals), uint64(rev))
	return func() { s.keyFollowers.Remove(kf) }, nil
}

// keys decodes every key of m.
func (m *mirror) keys() []store.Key {
	vals := make([]string, 0, len(m.fams[famKey]))
	for _, e := range m.fams[famKey] {
		vals = append(vals, e.val)
	}
	return decodeKeys(vals)
}

// decodeKeys decodes mirrored (compacted) key values; one that does not
// decode is left out (the reads report it: this is for figures).
func decodeKeys(vals []string) []store.Key {
	out := make([]store.Key, 0, len(vals))
	for _, v := range vals {
		var k store.Key
		if json.Unmarshal(expand(v), &k) == nil {
			out = append(out, k)
		}
	}
	return out
}

// announceKey tells the key followers of ev, a change of a key, before it
// is applied to the mirror (which holds the value it replaces). Callers
// hold s.mu.
func (s *Store) announceKey(ev *clientv3.Event) {
	if !s.keyFollowers.Any() {
		return
	}
	fam, id, ok := s.split(ev.Kv.Key)
	if !ok || fam != famKey {
		return
	}
	var c store.KeyChange
	if old, ok := s.mirror.fams[famKey][id]; ok {
		c.Old = new(store.Key)
		if json.Unmarshal(old.value(), c.Old) != nil {
			c.Old = nil
		}
	}
	if ev.Type != clientv3.EventTypeDelete {
		c.New = new(store.Key)
		if json.Unmarshal(ev.Kv.Value, c.New) != nil {
			c.New = nil
		}
	}
	if c.Old == nil && c.New == nil {
		return
	}
	s.keyFollowers.Publish(uint64(ev.Kv.ModRevision), c)
}
