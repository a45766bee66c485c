package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/proxy"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// clientFrom returns an HTTP client whose connections leave from a chosen
// loopback address: the gateway tells callers apart by their TCP peer.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}}
}

// floodCounts tallies what a junk-key caller got back.
type floodCounts struct {
	sent, unauthorized, limitedLocally, other atomic.Int64
}

// Issue 13, finding 4: one caller sending junk keys through the gateway
// starved another caller, because all of them reached tokenwright as the
// gateway's one address. The gateway now keys its own buckets by caller,
// refuses the junk-key caller itself, and forwards the caller's address to
// tokenwright by default. Clocks are frozen (nothing refills), so the
// counts do not depend on the machine's speed: what the flood cannot spend
// here it cannot spend later either.
func TestGatewayJunkKeyFloodDoesNotStarveOtherCallers(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trustedProxies=%v", trusted), func(t *testing.T) {
			t.Parallel()
			frozen := time.Now()
			now := func() time.Time { return frozen }
			s := servertest.Start(t, servertest.Options{Now: now, Configure: func(c *config.Config) {
				if trusted {
					c.TrustedProxies = []string{"127.0.0.1/32"} // the gateway's address towards tokenwright
				}
			}})
			up := startUpstream(t, s.URL)
			s.CreateAccount(t, api.CreateServiceAccount{UserName: "tool", Email: "tool@example.com",
				AllowedAudiences: []string{"Domino", up.URL + "/api/*"}})
			key := s.CreateKey(t, "tool", api.CreateKey{Name: "static"}).ClientSecret
			upURL, _ := url.Parse(up.URL)
			// The defaults, as `tokenwright proxy --accept-api-key` runs it.
			g, err := proxy.NewGateway(proxy.GatewayConfig{Upstream: upURL, TokenURL: client.TokenURL(s.URL),
				Audiences: []string{"Domino"}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			gw := serve(t, g)

			// The flood: 400 distinct junk keys for as many made-up accounts
			// (so neither the exchange cache nor tokenwright's per-client
			// buckets absorb them) from 127.0.0.3, four at a time.
			const floodTotal, workers = 400, 4
			var fc floodCounts
			started := make(chan struct{})
			var startOnce sync.Once
			var wg sync.WaitGroup
			var next atomic.Int64
			attacker := clientFrom("127.0.0.3")
			t.Cleanup(attacker.CloseIdleConnections)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= floodTotal; i = next.Add(1) {
						req, _ := http.NewRequest(http.MethodGet, gw+"/api/data", nil)
						req.Header.Set("X-Api-Key", fmt.Sprintf("nobody%d:twk_junk%06d", i, i))
						resp, err := attacker.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						fc.sent.Add(1)
						switch {
						case resp.StatusCode == http.StatusUnauthorized:
							fc.unauthorized.Add(1)
						case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" &&
							strings.Contains(string(body), `"error":"rate_limited"`) && strings.Contains(string(body), "this address"):
							fc.limitedLocally.Add(1)
						default:
							fc.other.Add(1)
						}
						if fc.sent.Load() >= 100 {
							startOnce.Do(func() { close(started) })
						}
					}
				}()
			}

			// The good caller starts once the flood has sent 100 requests
			// and runs beside the rest of it: 100 requests over 40 distinct
			// URLs, so 40 of them need a token exchange.
			select {
			case <-started:
			case <-time.After(time.Minute):
				t.Fatal("the flood did not get going")
			}
			good := clientFrom("127.0.0.2")
			t.Cleanup(good.CloseIdleConnections)
			const goodTotal = 100
			goodOK, goodOther := 0, map[string]int{}
			for i := range goodTotal {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/data/%d", gw, i%40), nil)
				req.Header.Set("X-Api-Key", "tool:"+key)
				resp, err := good.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					goodOK++
				} else {
					goodOther[fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))]++
				}
			}
			wg.Wait()
			t.Logf("flood: sent %d, 401 %d, refused by the gateway %d, other %d; good caller %d/%d OK, else %v",
				fc.sent.Load(), fc.unauthorized.Load(), fc.limitedLocally.Load(), fc.other.Load(), goodOK, goodTotal, goodOther)
			if goodOK*100 < goodTotal*99 {
				t.Errorf("the good caller got %d/%d: %v", goodOK, goodTotal, goodOther)
			}
			// The flood is refused by the gateway after the first few: with
			// the default burst (100) and failure cost (10), ten refusals
			// plus at most one per worker in flight reach tokenwright.
			if n := fc.unauthorized.Load(); n > 10+workers {
				t.Errorf("%d junk keys reached tokenwright", n)
			}
			if fc.limitedLocally.Load() < floodTotal-10-workers || fc.other.Load() != 0 {
				t.Errorf("the gateway refused %d of the flood itself; %d other answers", fc.limitedLocally.Load(), fc.other.Load())
			}
		})
	}
}

// A caller pays for what it costs tokenwright: a request served with a
// cached token is free, one that needs a token exchange costs SuccessCost,
// a refusal FailureCost; an empty bucket is answered 429 by the gateway.
func TestGatewayChargesCallersByOutcome(t *testing.T) {
	t.Parallel()
	frozen := time.Now()
	now := func() time.Time { return frozen }
	s := servertest.Start(t, servertest.Options{})
	up := startUpstream(t, s.URL)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "tool", Email: "tool@example.com",
		AllowedAudiences: []string{"Domino", up.URL + "/api/*"}})
	key := s.CreateKey(t, "tool", api.CreateKey{Name: "static"}).ClientSecret
	upURL, _ := url.Parse(up.URL)
	tokens := &countingTransport{}
	g, err := proxy.NewGateway(proxy.GatewayConfig{Upstream: upURL, TokenURL: client.TokenURL(s.URL), Audiences: []string{"Domino"},
		Now: now, HTTPClient: &http.Client{Transport: tokens},
		Limits: &proxy.CallerLimits{Rate: 1, Burst: 22, SuccessCost: 1, FailureCost: 10, MaxCallers: 10}})
	if err != nil {
		t.Fatal(err)
	}
	gw := serve(t, g)
	h := apiKey("tool:" + key)
	for i := range 20 { // one exchange (22 → 21), then the cache
		if r := getFrom(t, "127.0.0.2", gw+"/api/data", h); r.status != 200 {
			t.Fatalf("cached request %d: %d %s", i, r.status, r.body)
		}
	}
	for i := range 2 { // asked (21 → 11), then cached (11 → 1): a cached refusal costs the same
		if r := getFrom(t, "127.0.0.2", gw+"/admin", h); r.status != 403 {
			t.Fatalf("outside the patterns, %d: %d %s", i, r.status, r.body)
		}
	}
	if r := getFrom(t, "127.0.0.2", gw+"/api/other", h); r.status != 200 { // 1 → 0
		t.Fatalf("a new URL: %d %s", r.status, r.body)
	}
	asked := tokens.n.Load()
	if r := getFrom(t, "127.0.0.2", gw+"/api/third", h); r.status != 429 || !strings.Contains(r.body, `"rate_limited"`) {
		t.Fatalf("empty bucket: %d %s", r.status, r.body)
	}
	if asked != 3 || tokens.n.Load() != asked {
		t.Fatalf("token requests: %d, then %d (want 3, none for the refused one)", asked, tokens.n.Load())
	}
	if r := getFrom(t, "127.0.0.3", gw+"/api/data", h); r.status != 200 {
		t.Fatalf("another caller: %d %s", r.status, r.body)
	}
}
