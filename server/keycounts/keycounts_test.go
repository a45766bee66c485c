package keycounts_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/keycounts"
	"github.com/tokenwright/tokenwright/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func rulesAt(now time.Time) *accounts.Service {
	return accounts.New(nil, accounts.Options{Policy: accounts.DefaultPolicy(), Now: func() time.Time { return now }})
}

// recount counts keys the slow way: every key's status by the account
// rules at now.
func recount(keys map[string]store.Key, now time.Time) map[string]int {
	out := map[string]int{}
	for _, k := range keys {
		out[string(k.Kind)+"/"+string(rulesAt(now).KeyStatus(k))]++
	}
	return out
}

func snapshot(t *testing.T, c *keycounts.Counts) map[string]int {
	t.Helper()
	counts, _ := c.Snapshot()
	if len(counts) != len(keycounts.Kinds)*len(keycounts.Statuses) {
		t.Fatalf("%d counts, want every kind and status", len(counts))
	}
	out := map[string]int{}
	for _, n := range counts {
		if n.N != 0 {
			out[string(n.Kind)+"/"+string(n.Status)] = n.N
		}
	}
	return out
}

// TestCountsFollowChangesAndTime: through random creations, revocations,
// expiry changes and deletions, with time moving forward by random steps
// (across expiring-soon windows and expiries), the counts always equal a
// recount of every key by the account rules. The times are whole minutes
// (Resolution), so rounding changes nothing here.
func TestCountsFollowChangesAndTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clk := &clock{t: t0}
	rules := rulesAt(t0)
	c := keycounts.New(rules.KeyStatusUntil, clk.now)
	keys := map[string]store.Key{}
	minute := func(max int) time.Duration { return time.Duration(rng.IntN(max)) * time.Minute }
	newKey := func(id string) store.Key {
		k := store.Key{ID: id, Kind: keycounts.Kinds[rng.IntN(2)]}
		if rng.IntN(5) > 0 {
			k.ExpiresAt = clk.t.Truncate(time.Minute).Add(minute(20 * 24 * 60))
		}
		return k
	}
	for i := range 50 {
		keys[fmt.Sprint("initial", i)] = newKey(fmt.Sprint("initial", i))
	}
	var initial []store.Key
	for _, k := range keys {
		initial = append(initial, k)
	}
	c.Reset(initial)
	for step := range 2000 {
		switch op := rng.IntN(10); {
		case op < 3:
			id := fmt.Sprint("k", step)
			k := newKey(id)
			keys[id] = k
			c.Changed(store.KeyChange{New: &k})
		case op < 8 && len(keys) > 0:
			var id string
			for id = range keys {
				break
			}
			old := keys[id]
			switch rng.IntN(3) {
			case 0:
				delete(keys, id)
				c.Changed(store.KeyChange{Old: &old})
			case 1:
				k := old
				k.RevokedAt = clk.t.Truncate(time.Minute)
				keys[id] = k
				c.Changed(store.KeyChange{Old: &old, New: &k})
			default:
				k := old
				k.ExpiresAt = clk.t.Truncate(time.Minute).Add(minute(10 * 24 * 60))
				k.LastUsedAt = clk.t
				keys[id] = k
				c.Changed(store.KeyChange{Old: &old, New: &k})
			}
		default:
			clk.t = clk.t.Add(minute(12 * 60))
		}
		if got, want := snapshot(t, c), recount(keys, clk.t); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("step %d at %v: counts %v, recount %v", step, clk.t, got, want)
		}
	}
}

// TestCountsOutOfOrder: changes of different transactions may arrive out
// of order (bbolt); once all have arrived, the counts are right.
func TestCountsOutOfOrder(t *testing.T) {
	clk := &clock{t: t0}
	c := keycounts.New(rulesAt(t0).KeyStatusUntil, clk.now)
	c.Reset(nil)
	a := store.Key{ID: "a", Kind: store.KindServiceKey, ExpiresAt: t0.Add(30 * 24 * time.Hour)}
	b := a
	b.ExpiresAt = t0.Add(time.Hour)
	r := b
	r.RevokedAt = t0
	// Created as a, changed to b, then revoked (r); told r's change first.
	c.Changed(store.KeyChange{Old: &b, New: &r})
	c.Changed(store.KeyChange{New: &a})
	clk.t = t0.Add(2 * time.Hour) // b's expiry passes while the middle change is missing
	c.Changed(store.KeyChange{Old: &a, New: &b})
	if got := snapshot(t, c); fmt.Sprint(got) != "map[service_account/revoked:1]" {
		t.Fatalf("counts %v, want one revoked key", got)
	}
}

// TestCountsResolution: times are rounded up to the minute, so a key
// enters a status at most a minute late in the counts, never early.
func TestCountsResolution(t *testing.T) {
	clk := &clock{t: t0}
	c := keycounts.New(rulesAt(t0).KeyStatusUntil, clk.now)
	k := store.Key{ID: "k", Kind: store.KindPersonalToken, ExpiresAt: t0.Add(time.Hour + 30*time.Second)}
	c.Reset([]store.Key{k})
	for _, step := range []struct {
		at   time.Duration
		want string
	}{
		{0, "map[personal/expiring_soon:1]"},
		{time.Hour + 29*time.Second, "map[personal/expiring_soon:1]"},
		{time.Hour + 45*time.Second, "map[personal/expiring_soon:1]"}, // expired 15 s ago: counted within the minute
		{time.Hour + time.Minute, "map[personal/expired:1]"},
	} {
		clk.t = t0.Add(step.at)
		if got := snapshot(t, c); fmt.Sprint(got) != step.want {
			t.Fatalf("at +%v: %v, want %v", step.at, got, step.want)
		}
	}
	// A clock stepped back does not move the counts back.
	clk.t = t0
	if got := snapshot(t, c); fmt.Sprint(got) != "map[personal/expired:1]" {
		t.Fatalf("after a backward step: %v", got)
	}
}

// TestCountsNothingBeforeReset: no counts are reported before the first
// full count.
func TestCountsNothingBeforeReset(t *testing.T) {
	c := keycounts.New(rulesAt(t0).KeyStatusUntil, time.Now)
	k := store.Key{ID: "k", Kind: store.KindServiceKey}
	c.Changed(store.KeyChange{New: &k})
	if counts, at := c.Snapshot(); counts != nil || !at.IsZero() {
		t.Fatalf("counts before a reset: %v %v", counts, at)
	}
}
