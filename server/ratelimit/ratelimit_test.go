package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/tokenbucket"
	"github.com/tokenwright/tokenwright/server/ratelimit"
	"github.com/tokenwright/tokenwright/server/reqctx"
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

// authHandler plays an endpoint: X-Secret "right" authenticates as
// X-Client (and is refused if the limiter says so), anything else is a 401.
var authHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Secret") != "right" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if reqctx.Authenticated(r.Context(), r.Header.Get("X-Client")) != nil {
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if r.Header.Get("X-Fail") != "" {
		w.WriteHeader(http.StatusBadRequest) // the verified client's own mistake
	}
})

func TestGuardChargesByOutcome(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)} // never advanced: no refill
	pair := tokenbucket.Policy{Rate: 1, Burst: 20, SuccessCost: 1, FailureCost: 10}
	ip := pair
	ip.Burst = 40
	var rejected []string
	g := &ratelimit.Guard{
		Endpoint: "test",
		IP:       tokenbucket.New(ip, c.Now),
		ClaimIP:  tokenbucket.New(pair, c.Now),
		Client:   tokenbucket.New(pair, c.Now),
		Claimed:  func(r *http.Request) string { return r.Header.Get("X-Client") },
		Reject: func(w http.ResponseWriter, _ *http.Request, _ time.Duration) {
			w.WriteHeader(http.StatusTooManyRequests)
		},
		OnReject: func(e string, s ratelimit.Scope) { rejected = append(rejected, e+"/"+string(s)) },
	}
	h := g.Wrap(authHandler)
	do := func(ip, client, secret string, fail bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req = req.WithContext(reqctx.WithClientIP(req.Context(), netip.MustParseAddr(ip)))
		req.Header.Set("X-Client", client)
		req.Header.Set("X-Secret", secret)
		if fail {
			req.Header.Set("X-Fail", "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// Two wrong secrets for "victim" from one address spend that pair's
	// budget: the pair is refused before verifying, even with the right
	// secret ...
	for range 2 {
		if rec := do("10.0.0.1", "victim", "wrong", false); rec.Code != 401 {
			t.Fatalf("HTTP %d", rec.Code)
		}
	}
	rec := do("10.0.0.1", "victim", "right", false)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("third request of the pair: HTTP %d, headers %v", rec.Code, rec.Header())
	}
	// ... while the address still has budget for other claims, until its
	// own failures spend it.
	for range 2 {
		if rec := do("10.0.0.1", "other", "wrong", false); rec.Code != 401 {
			t.Fatalf("another claim from the address: HTTP %d, want 401", rec.Code)
		}
	}
	if rec := do("10.0.0.1", "third", "right", false); rec.Code != 429 {
		t.Fatalf("address after 4 failures: HTTP %d, want 429", rec.Code)
	}
	// The victim itself, from its own address, was charged nothing by all
	// that: its whole burst of 20 successes is there, then its own limit.
	for i := range 20 {
		if rec := do("10.0.0.2", "victim", "right", false); rec.Code != 200 {
			t.Fatalf("victim request %d: HTTP %d", i, rec.Code)
		}
	}
	if rec := do("10.0.0.2", "victim", "right", false); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("victim beyond its own burst: HTTP %d Retry-After=%q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// A verified client's own mistakes are charged to it, not to its
	// address: two 400s spend "good"'s budget, its address stays open.
	for range 2 {
		if rec := do("10.0.0.3", "good", "right", true); rec.Code != 400 {
			t.Fatalf("HTTP %d", rec.Code)
		}
	}
	if rec := do("10.0.0.3", "good", "right", false); rec.Code != 429 {
		t.Fatalf("good after its own two failures: HTTP %d, want 429", rec.Code)
	}
	if rec := do("10.0.0.3", "fourth", "right", false); rec.Code != 200 {
		t.Fatalf("another client on good's address: HTTP %d, want 200", rec.Code)
	}
	want := []string{"test/client_address", "test/ip", "test/client", "test/client"}
	if strings.Join(rejected, " ") != strings.Join(want, " ") {
		t.Fatalf("rejections observed: %v, want %v", rejected, want)
	}
}

func BenchmarkAllowCharge(b *testing.B) {
	l := tokenbucket.New(tokenbucket.Policy{Rate: 1e9, Burst: 1e9, SuccessCost: 1, FailureCost: 10}, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := "client-" + strconv.Itoa(i%64)
			l.Allow(k)
			l.Success(k)
			i++
		}
	})
}

func TestFreeSuccessIsNotCharged(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	p := tokenbucket.Policy{Rate: 1, Burst: 3, SuccessCost: 1, FailureCost: 3}
	g := &ratelimit.Guard{
		Client:      tokenbucket.New(p, c.Now),
		Reject:      func(w http.ResponseWriter, _ *http.Request, _ time.Duration) { w.WriteHeader(429) },
		FreeSuccess: func(r *http.Request) bool { return r.URL.Path == "/free" },
	}
	h := g.Wrap(authHandler)
	do := func(path string, fail bool) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("X-Client", "rs")
		req.Header.Set("X-Secret", "right")
		if fail {
			req.Header.Set("X-Fail", "1")
		}
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 50 {
		if code := do("/free", false); code != 200 {
			t.Fatalf("free success %d: HTTP %d", i, code)
		}
	}
	for i := range 3 {
		if code := do("/paid", false); code != 200 {
			t.Fatalf("paid success %d: HTTP %d", i, code)
		}
	}
	if code := do("/free", false); code != 429 {
		t.Fatalf("after the paid burst: HTTP %d, want 429 (the bucket is shared)", code)
	}
	c.Advance(3 * time.Second)
	do("/free", true) // a failure on the free path is charged
	if code := do("/free", false); code != 429 {
		t.Fatalf("after a failed introspection: HTTP %d, want 429", code)
	}
}
