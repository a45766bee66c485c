package proxy

import (
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

// The gateway's defaults make failures cost ten times what exchanges
// cost (the bucket arithmetic itself is tested in pkg/tokenbucket).
func TestCallerBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	cb := newCallerBuckets(DefaultCallerLimits(), clock)
	for i := range 10 {
		if ok, _ := cb.Allow("a"); !ok {
			t.Fatalf("failure %d refused", i)
		}
		cb.Failure("a")
	}
	if ok, wait := cb.Allow("a"); ok || wait != 50*time.Millisecond {
		t.Fatalf("after 10 failures: %v, retry after %v (want 1 token at 20/s: 50ms)", ok, wait)
	}
	for i := range 100 {
		if ok, _ := cb.Allow("b"); !ok {
			t.Fatalf("exchange %d refused", i)
		}
		cb.Success("b")
	}
	if ok, _ := cb.Allow("b"); ok {
		t.Fatal("101st exchange admitted")
	}
	if ok, _ := cb.Allow("c"); !ok {
		t.Fatal("another caller refused")
	}
	// Rate 0: no limits.
	off := newCallerBuckets(CallerLimits{}, clock)
	for range 100 {
		off.Failure("a")
	}
	if ok, _ := off.Allow("a"); !ok || off.Len() != 0 {
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
