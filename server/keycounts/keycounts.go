// Package keycounts keeps the number of API keys and personal access
// tokens in each status (the tokenwright_keys gauges) up to date without
// reading every key: it is fed the store's changes (store.KeyFeed: every
// replica's writes on etcd), and the changes that time alone makes
// (active → expiring_soon → expired) come from a queue ordered by when
// they happen, so a scrape costs the transitions due since the last one,
// not a pass over a million keys. The keys are read once, at the start
// (and again on etcd when the mirror reloads everything).
//
// The status of a key is the account rules' (accounts.KeyStatusUntil,
// which also says when it next changes); this package only decides when
// to ask. Keys whose status time can no longer change (revoked, expired,
// never expiring) are plain counts; the others are grouped by kind and by
// what their status depends on (expiry and revocation times rounded up
// to Resolution), and each group is re-evaluated when its status is due
// to change.
package keycounts

import (
	"container/heap"
	"sync"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// Resolution is the granularity of the times the counts group keys by:
// a key enters expiring_soon or expired in the counts up to this much
// later than the API says it has. It bounds the number of groups by the
// span of expiry dates, not the number of keys.
const Resolution = time.Minute

// Rule is a key's status at now and when time alone next changes it
// (zero: never): accounts.Service.KeyStatusUntil.
type Rule func(k store.Key, now time.Time) (accounts.KeyStatus, time.Time)

// Kinds and Statuses are every kind and status reported, each with its
// count, 0 included, so that an alert on expiring_soon sees 0 rather than
// a missing series.
var (
	Kinds    = []store.KeyKind{store.KindServiceKey, store.KindPersonalToken}
	Statuses = []accounts.KeyStatus{accounts.KeyActive, accounts.KeyExpiringSoon, accounts.KeyExpired, accounts.KeyRevoked}
)

// Count is the number of keys of a kind in a status.
type Count struct {
	Kind   store.KeyKind
	Status accounts.KeyStatus
	N      int
}

type kindStatus struct {
	kind   store.KeyKind
	status accounts.KeyStatus
}

// projection is what a key's status depends on, rounded: the key of its
// group.
type projection struct {
	kind             store.KeyKind
	expires, revoked int64 // Unix seconds, rounded up to Resolution; 0: none
}

// group is the keys of one projection whose status will still change.
type group struct {
	p      projection
	n      int // may be negative for a while: changes may come out of order
	status accounts.KeyStatus
	next   time.Time // when the status is due to change
	index  int       // in the queue
}

// Counts is the set of counts. Use New; the zero value is not usable.
type Counts struct {
	rule Rule
	now  func() time.Time

	mu     sync.Mutex
	last   time.Time // the counts are as of this moment (never moves back)
	counts map[kindStatus]int
	groups map[projection]*group
	queue  queue
	full   time.Time // when the keys were last counted in full (zero: not yet)
}

// New returns empty counts (nothing is reported before Reset) that apply
// rule, on the clock now.
func New(rule Rule, now func() time.Time) *Counts {
	return &Counts{rule: rule, now: now, counts: map[kindStatus]int{}, groups: map[projection]*group{}}
}

// Reset counts keys, the whole set (store.KeyFeed's reset).
func (c *Counts) Reset(keys []store.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = later(c.last, c.now())
	clear(c.counts)
	clear(c.groups)
	c.queue = c.queue[:0]
	for _, k := range keys {
		c.add(k, 1)
	}
	c.full = c.last
}

// Changed applies a committed change (store.KeyFeed's changed).
func (c *Counts) Changed(ch store.KeyChange) {
	if ch.Old != nil && ch.New != nil && project(*ch.Old) == project(*ch.New) {
		return // a usage merge, a rename: the status is the same
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(c.now())
	if ch.Old != nil {
		c.add(*ch.Old, -1)
	}
	if ch.New != nil {
		c.add(*ch.New, 1)
	}
}

// Snapshot returns the counts at now, every kind and status, and when the
// keys were last counted in full; nothing (zero time) before the first
// Reset.
func (c *Counts) Snapshot() ([]Count, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full.IsZero() {
		return nil, time.Time{}
	}
	c.advance(c.now())
	out := make([]Count, 0, len(Kinds)*len(Statuses))
	for _, kind := range Kinds {
		for _, status := range Statuses {
			out = append(out, Count{Kind: kind, Status: status, N: c.counts[kindStatus{kind, status}]})
		}
	}
	return out, c.full
}

// add counts k (delta 1) or uncounts it (-1) at c.last; callers hold mu
// and have advanced to c.last.
func (c *Counts) add(k store.Key, delta int) {
	p := project(k)
	if g := c.groups[p]; g != nil {
		// Its status at c.last is the group's: advance has evaluated it.
		c.counts[kindStatus{p.kind, g.status}] += delta
		if g.n += delta; g.n == 0 {
			heap.Remove(&c.queue, g.index)
			delete(c.groups, p)
		}
		return
	}
	status, next := c.rule(p.key(), c.last)
	c.counts[kindStatus{p.kind, status}] += delta
	if next.IsZero() {
		return // never changes again: a plain count
	}
	g := &group{p: p, n: delta, status: status, next: next}
	c.groups[p] = g
	heap.Push(&c.queue, g)
}

// advance moves the groups whose status is due to change by now (or
// earlier) to their new status; callers hold mu. The clock never moves
// the counts back: after a backward step they stay as of the latest
// moment seen.
func (c *Counts) advance(now time.Time) {
	c.last = later(c.last, now)
	for len(c.queue) > 0 && !c.queue[0].next.After(c.last) {
		g := c.queue[0]
		status, next := c.rule(g.p.key(), c.last)
		c.counts[kindStatus{g.p.kind, g.status}] -= g.n
		c.counts[kindStatus{g.p.kind, status}] += g.n
		if next.IsZero() {
			heap.Pop(&c.queue)
			delete(c.groups, g.p)
			continue
		}
		g.status, g.next = status, next
		heap.Fix(&c.queue, g.index)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// project is k's projection: its kind and its expiry and revocation times
// (what accounts.KeyStatusUntil reads), rounded up to Resolution.
func project(k store.Key) projection {
	return projection{kind: k.Kind, expires: roundUp(k.ExpiresAt), revoked: roundUp(k.RevokedAt)}
}

func roundUp(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	r := t.Truncate(Resolution)
	if r.Before(t) {
		r = r.Add(Resolution)
	}
	return r.Unix()
}

// key is a key with p's fields, for the rule.
func (p projection) key() store.Key {
	k := store.Key{Kind: p.kind}
	if p.expires != 0 {
		k.ExpiresAt = time.Unix(p.expires, 0)
	}
	if p.revoked != 0 {
		k.RevokedAt = time.Unix(p.revoked, 0)
	}
	return k
}

// queue is a min-heap of groups by next.
type queue []*group

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *queue) Push(x any) {
	g := x.(*group)
	g.index = len(*q)
	*q = append(*q, g)
}
func (q *queue) Pop() any {
	old := *q
	g := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return g
}
