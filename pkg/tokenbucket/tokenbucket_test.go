package tokenbucket_test

import (
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestFailuresCostMoreAndRefill(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := tokenbucket.New(tokenbucket.Policy{Rate: 2, Burst: 10, SuccessCost: 1, FailureCost: 5}, c.Now)

	// Ten successes fit the burst; the eleventh is refused.
	for i := range 10 {
		if ok, _ := l.Allow("good"); !ok {
			t.Fatalf("success %d refused", i)
		}
		l.Success("good")
	}
	if ok, wait := l.Allow("good"); ok || wait != 500*time.Millisecond {
		t.Fatalf("after burst: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}

	// Two failures exhaust the same burst.
	for i := range 2 {
		if ok, _ := l.Allow("bad"); !ok {
			t.Fatalf("failure %d refused early", i)
		}
		l.Failure("bad")
	}
	if ok, _ := l.Allow("bad"); ok {
		t.Fatal("third failure allowed: failures must cost more than successes")
	}
	// Debt is bounded by the burst: after Burst/Rate + 1/Rate seconds the
	// worst debtor gets one more try.
	for range 100 {
		l.Failure("bad")
	}
	c.Advance(10 * time.Second) // -10 → +10 would need 10s; -10+20 = 10 capped
	if ok, _ := l.Allow("bad"); !ok {
		t.Fatal("debt not bounded: still refused after 2×Burst/Rate")
	}
	// Other keys are never affected.
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("unrelated key refused")
	}
}

func TestMemoryIsBoundedUnderRandomKeys(t *testing.T) {
	l := tokenbucket.New(tokenbucket.Policy{Rate: 1, Burst: 1, FailureCost: 1, MaxKeys: 1600}, nil)
	for i := range 200_000 {
		l.Failure("random-" + strconv.Itoa(i))
	}
	if n := l.Len(); n > 1600 {
		t.Fatalf("%d buckets held, cap 1600", n)
	}
	// The most recent key is still tracked (LRU keeps it).
	if ok, _ := l.Allow("random-199999"); ok {
		t.Fatal("most recent debtor forgotten")
	}
}

func TestAddressKeyGroupsIPv6By64(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"::ffff:192.0.2.7":        "192.0.2.7",
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"::1":                     "::/64",
	} {
		if got := tokenbucket.AddressKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("AddressKey(%s) = %s, want %s", in, got, want)
		}
	}
	if tokenbucket.AddressKey(netip.Addr{}) != "" {
		t.Error("invalid address got a key")
	}
}
