package proxy

import (
	"fmt"
	"testing"
	"time"
)

func TestCallerKey(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.2:5000":                    "127.0.0.2",
		"[::ffff:192.0.2.7]:80":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":        "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:ffff:0:1]:1234": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:1234":            "2001:db8:1:3::/64",
		"not an address":                    "",
	} {
		if got := callerKey(addr); got != want {
			t.Errorf("callerKey(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestCallerBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	l := DefaultCallerLimits()
	cb := newCallerBuckets(l, clock)

	// Failures cost ten times what successes cost: 10 refusals empty the
	// default bucket, 100 exchanges do.
	for i := range 10 {
		if ok, _ := cb.allow("a"); !ok {
			t.Fatalf("failure %d refused", i)
		}
		cb.charge("a", l.FailureCost)
	}
	ok, wait := cb.allow("a")
	if ok || wait != 50*time.Millisecond {
		t.Fatalf("after 10 failures: %v, retry after %v (want 1 token at 20/s: 50ms)", ok, wait)
	}
	for i := range 100 {
		if ok, _ := cb.allow("b"); !ok {
			t.Fatalf("success %d refused", i)
		}
		cb.charge("b", l.SuccessCost)
	}
	if ok, _ := cb.allow("b"); ok {
		t.Fatal("101st exchange admitted")
	}
	// Other callers are untouched; the bucket refills at Rate.
	if ok, _ := cb.allow("c"); !ok {
		t.Fatal("another caller refused")
	}
	now = now.Add(50 * time.Millisecond)
	if ok, _ := cb.allow("a"); !ok {
		t.Fatal("not refilled after Retry-After")
	}
	// Debt is bounded by one burst.
	for range 1000 {
		cb.charge("a", l.FailureCost)
	}
	if _, wait := cb.allow("a"); wait != 5050*time.Millisecond {
		t.Fatalf("retry after %v with full debt, want (1+100)/20 s", wait)
	}

	// Memory is bounded: the least recently seen callers are dropped.
	small := l
	small.MaxCallers = 100
	cb = newCallerBuckets(small, clock)
	for i := range 10 * small.MaxCallers {
		cb.charge(fmt.Sprint("caller", i), l.FailureCost)
	}
	if n := cb.len(); n != small.MaxCallers {
		t.Fatalf("%d buckets held, want %d", n, small.MaxCallers)
	}

	// Rate 0: no limits.
	off := newCallerBuckets(CallerLimits{}, clock)
	for range 100 {
		off.charge("a", 10)
	}
	if ok, _ := off.allow("a"); !ok || off.len() != 0 {
		t.Fatal("disabled limits refused or kept buckets")
	}
}

func TestCallerLimitsValidate(t *testing.T) {
	d := DefaultCallerLimits()
	for name, tc := range map[string]struct {
		edit func(*CallerLimits)
		ok   bool
	}{
		"defaults":        {func(*CallerLimits) {}, true},
		"off":             {func(c *CallerLimits) { *c = CallerLimits{} }, true},
		"negative rate":   {func(c *CallerLimits) { c.Rate = -1 }, false},
		"burst below one": {func(c *CallerLimits) { c.Burst = 0.5 }, false},
		"negative cost":   {func(c *CallerLimits) { c.FailureCost = -1 }, false},
		"free successes":  {func(c *CallerLimits) { c.SuccessCost = 0 }, true},
		"no room":         {func(c *CallerLimits) { c.MaxCallers = 0 }, false},
	} {
		c := d
		tc.edit(&c)
		if err := c.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
