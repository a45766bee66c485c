// Package tokenbucket holds token buckets keyed by an arbitrary string (a
// client id, a source address) in a bounded, sharded LRU, so that a flood of
// random keys costs a fixed amount of memory. Requests are admitted while the
// bucket holds at least one token and are charged after the fact by outcome:
// failures cost more than successes, so a brute-force attempt on one key
// runs dry quickly while successful traffic on other keys is untouched.
//
// tokenwright's HTTP guards (server/ratelimit) and the API-key gateway
// (pkg/proxy) both use it, so both count the same way.
package tokenbucket

import (
	"container/list"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Policy is the shape of one family of buckets.
type Policy struct {
	// Rate is how many tokens a bucket regains per second.
	Rate float64
	// Burst is the bucket's capacity (and a new bucket's content).
	Burst float64
	// SuccessCost and FailureCost are what a request costs once its outcome
	// is known.
	SuccessCost float64
	FailureCost float64
	// MaxKeys bounds the number of buckets kept; the least recently used
	// bucket is dropped beyond it. A dropped bucket is as good as full, so
	// eviction can only forgive, never punish, a key.
	MaxKeys int
}

// Enabled reports whether the policy limits anything.
func (p Policy) Enabled() bool { return p.Rate > 0 && p.Burst > 0 }

const shardCount = 16

// Limiter is a set of buckets under one Policy. It is safe for concurrent
// use. The zero value is not usable; call New.
type Limiter struct {
	policy Policy
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*list.Element
	lru     list.List // front: most recently used; values are *bucket
	max     int
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// New returns a limiter. now may be nil (time.Now).
func New(p Policy, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if p.MaxKeys <= 0 {
		p.MaxKeys = 100_000
	}
	l := &Limiter{policy: p, now: now, seed: maphash.MakeSeed()}
	per := max(p.MaxKeys/shardCount, 1)
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*list.Element)
		l.shards[i].max = per
	}
	return l
}

// Policy returns the limiter's policy.
func (l *Limiter) Policy() Policy { return l.policy }

// Allow reports whether key may make a request now; if not, retryAfter says
// when its bucket will hold a whole token again. Allow takes nothing from
// the bucket: Charge does, when the outcome is known.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if !l.policy.Enabled() {
		return true, 0
	}
	sh := l.shard(key)
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	el, found := sh.buckets[key]
	if !found {
		return true, 0 // a new key has a full bucket
	}
	b := el.Value.(*bucket)
	l.refill(b, now)
	sh.lru.MoveToFront(el)
	if b.tokens >= 1 {
		return true, 0
	}
	wait := (1 - b.tokens) / l.policy.Rate
	return false, time.Duration(math.Ceil(wait * float64(time.Second)))
}

// Charge takes cost tokens from key's bucket. The bucket may go negative
// (debt), down to -Burst, so repeated failures push the next allowed
// attempt further out without growing without bound.
func (l *Limiter) Charge(key string, cost float64) {
	if !l.policy.Enabled() || cost <= 0 {
		return
	}
	sh := l.shard(key)
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	el, found := sh.buckets[key]
	if !found {
		if sh.lru.Len() >= sh.max {
			oldest := sh.lru.Back()
			delete(sh.buckets, oldest.Value.(*bucket).key)
			sh.lru.Remove(oldest)
		}
		el = sh.lru.PushFront(&bucket{key: key, tokens: l.policy.Burst, last: now})
		sh.buckets[key] = el
	} else {
		sh.lru.MoveToFront(el)
	}
	b := el.Value.(*bucket)
	l.refill(b, now)
	b.tokens = max(b.tokens-cost, -l.policy.Burst)
}

// Success charges key the policy's success cost.
func (l *Limiter) Success(key string) { l.Charge(key, l.policy.SuccessCost) }

// Failure charges key the policy's failure cost.
func (l *Limiter) Failure(key string) { l.Charge(key, l.policy.FailureCost) }

// Len returns the number of buckets held (tests, metrics).
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.tokens+el*l.policy.Rate, l.policy.Burst)
		b.last = now
	}
}

func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shardCount]
}

// AddressKey is the per-address bucket key: the IPv4 address, or the /64
// of an IPv6 address (one host usually controls a whole /64, so keying by
// the full address would let it rotate through 2^64 fresh buckets).
func AddressKey(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return ""
	case ip.Is6() && !ip.Is4In6():
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}
