package accounts_test

import (
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// TestKeyStatusUntil: the schedule KeyStatusUntil gives is that of
// KeyStatus itself: the status holds until just before the moment it
// names and has changed at that moment; with no moment, it never changes.
func TestKeyStatusUntil(t *testing.T) {
	policy := accounts.DefaultPolicy()
	soon := policy.ExpiringSoon
	at := func(now time.Time) *accounts.Service {
		return accounts.New(nil, accounts.Options{Policy: policy, Now: func() time.Time { return now }})
	}
	rules := at(t0)
	for name, k := range map[string]store.Key{
		"no expiry":      {Kind: store.KindServiceKey},
		"active":         {Kind: store.KindServiceKey, ExpiresAt: t0.Add(30 * 24 * time.Hour)},
		"at the window":  {Kind: store.KindServiceKey, ExpiresAt: t0.Add(soon)},
		"expiring soon":  {Kind: store.KindPersonalToken, ExpiresAt: t0.Add(time.Hour)},
		"expiring now":   {Kind: store.KindServiceKey, ExpiresAt: t0},
		"expired":        {Kind: store.KindServiceKey, ExpiresAt: t0.Add(-time.Hour)},
		"revoked":        {Kind: store.KindServiceKey, ExpiresAt: t0.Add(time.Hour), RevokedAt: t0.Add(-time.Minute)},
		"revoked, never": {Kind: store.KindPersonalToken, RevokedAt: t0.Add(-time.Minute)},
	} {
		now := t0
		for step := 0; ; step++ {
			st, next := rules.KeyStatusUntil(k, now)
			if want := at(now).KeyStatus(k); st != want {
				t.Fatalf("%s at %v: %s, KeyStatus says %s", name, now, st, want)
			}
			if next.IsZero() {
				// Never changes again: a year later it is the same.
				if later := at(now.Add(365 * 24 * time.Hour)).KeyStatus(k); later != st {
					t.Fatalf("%s: no change announced after %s, but a year later it is %s", name, st, later)
				}
				break
			}
			if !next.After(now) {
				t.Fatalf("%s at %v: next change %v is not later", name, now, next)
			}
			if before := at(next.Add(-time.Nanosecond)).KeyStatus(k); before != st {
				t.Fatalf("%s: %s changes to %s before %v", name, st, before, next)
			}
			if after := at(next).KeyStatus(k); after == st {
				t.Fatalf("%s: %s announced to change at %v, but does not", name, st, next)
			}
			if step > 3 {
				t.Fatalf("%s: more than 3 changes", name)
			}
			now = next
		}
	}
}
