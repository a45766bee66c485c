package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// clientFrom returns an HTTP client whose connections come from the given
// loopback source address (every 127/8 address is local on Linux), so one
// test can play an attacker and a good client on different addresses.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 16,
	}}
}

// tokenRequest builds a client_secret_basic token request.
func tokenRequest(ctx context.Context, base, id, secret string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth/token",
		strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req
}

type floodResult struct {
	sent, ok, unauthorized, limited, other atomic.Int64
}

// flood sends n wrong secrets from src with a few workers (n 0: until ctx
// ends). Even requests name clientID with a well-formed credential for its
// key keyID but a wrong secret (they reach the hash compare); odd requests
// name a fresh random client id with garbage, which only the per-address
// limit can catch.
func flood(t testing.TB, ctx context.Context, base, src, clientID, keyID string, n int, res *floodResult) {
	c := clientFrom(src)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if n > 0 && i > int64(n) || ctx.Err() != nil {
					return
				}
				id, secret := "random-"+strconv.FormatInt(i, 10), "twk_wrong"+strconv.FormatInt(i, 10)
				if i%2 == 0 {
					cred, _ := apikey.Generate(apikey.ServiceKey, keyID)
					id, secret = clientID, cred.String()
				}
				resp, err := c.Do(tokenRequest(ctx, base, id, secret))
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					t.Errorf("flood request: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res.sent.Add(1)
				switch resp.StatusCode {
				case 200:
					res.ok.Add(1)
				case 401:
					res.unauthorized.Add(1)
				case 429:
					res.limited.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						t.Errorf("429 without Retry-After")
					}
				default:
					res.other.Add(1)
				}
			}
		})
	}
	wg.Wait()
}

func TestBruteForceFloodDoesNotHurtOtherClients(t *testing.T) {
	// A frozen clock: buckets never refill, so every count below is exact
	// whatever the machine's speed.
	frozen := time.Now()
	s := servertest.Start(t, servertest.Options{Now: func() time.Time { return frozen }})
	for _, name := range []string{"victim", "good"} {
		s.CreateAccount(t, api.CreateServiceAccount{UserName: name, Email: name + "@example.com",
			AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	}
	good := s.CreateKey(t, "good", api.CreateKey{Name: "k"})
	victim := s.CreateKey(t, "victim", api.CreateKey{Name: "k"})
	base := "http://" + s.Addr

	var attack floodResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		flood(t, context.Background(), base, "127.0.0.2", "victim", victim.ID, 400, &attack)
	}()

	// The good client asks for 80 tokens while the flood runs, from its
	// own address.
	c := clientFrom("127.0.0.3")
	goodOK, goodOther := 0, map[int]int{}
	for range 80 {
		resp, err := c.Do(tokenRequest(context.Background(), base, "good", good.ClientSecret))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			goodOK++
		} else {
			goodOther[resp.StatusCode]++
		}
	}
	<-done
	t.Logf("flood: sent %d, 401 %d, 429 %d, other %d; good client: %d/80 OK",
		attack.sent.Load(), attack.unauthorized.Load(), attack.limited.Load(), attack.other.Load(), goodOK)
	if goodOK != 80 {
		t.Fatalf("good client: %d of 80 succeeded, failures by status %v", goodOK, goodOther)
	}
	if attack.ok.Load() != 0 || attack.other.Load() != 0 {
		t.Fatalf("flood got %d successes and %d unexpected answers", attack.ok.Load(), attack.other.Load())
	}
	// Default limits: the address's burst (200) at 10 per failure allows
	// 20 failures (plus up to 3 the other workers had admitted before the
	// 20th was charged).
	if attack.unauthorized.Load() > 23 || attack.limited.Load() != attack.sent.Load()-attack.unauthorized.Load() {
		t.Fatalf("flood not limited: %d refused with 429, %d reached authentication", attack.limited.Load(), attack.unauthorized.Load())
	}

	// The refusal is an OAuth error body.
	resp, err := clientFrom("127.0.0.2").Do(tokenRequest(context.Background(), base, "victim", "twk_x"))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 429 || body["error"] != "slow_down" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refusal: HTTP %d %v %v", resp.StatusCode, body, resp.Header)
	}

	// From a fresh address, wrong secrets for the victim's id are judged
	// until that (client id, address) pair has spent its own failure
	// budget; the flood from 127.0.0.2 did not spend it.
	fresh, unauthorized := clientFrom("127.0.0.5"), 0
	for {
		resp, err := fresh.Do(tokenRequest(context.Background(), base, "victim", "twk_x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			break
		}
		if unauthorized++; resp.StatusCode != 401 || unauthorized > 10 {
			t.Fatalf("victim id from a fresh address: HTTP %d after %d failures; the pair limit allows 10", resp.StatusCode, unauthorized)
		}
	}
	if unauthorized != 10 {
		t.Fatalf("victim id from a fresh address: refused after %d failures, want 10 (its own pair budget)", unauthorized)
	}

	// The metrics saw it, with bounded labels and no client names (the
	// metrics are public here).
	metrics := s.DoRaw(t, "", http.MethodGet, "/metrics")
	for _, want := range []string{
		`tokenwright_tokens_issued_total 80`,
		`tokenwright_rate_limited_total{endpoint="oauth",limiter="ip"}`,
		`tokenwright_rate_limited_total{endpoint="oauth",limiter="client_address"}`,
		`tokenwright_tokens_failed_total{result="invalid_client"}`,
		`tokenwright_signing_keys{state="active"} 1`,
		`tokenwright_signing_key_age_seconds`,
		`tokenwright_http_request_duration_seconds_bucket{code="2xx",route="token"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `client="victim"`) || strings.Contains(metrics, `client="random-`) {
		t.Error("an id that never authenticated became a metric label")
	}
}

func TestAdminAPIRateLimit(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	c := clientFrom("127.0.0.4")
	limited := 0
	for range 40 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr+"/api/v1/service-accounts", nil)
		req.Header.Set("Authorization", "Bearer twp_wrong")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body api.Error
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 401:
		case 429:
			limited++
			if body.Code != api.CodeRateLimited || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("admin 429: %+v %v", body, resp.Header)
			}
		default:
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
	if limited < 20 {
		t.Fatalf("only %d of 40 bad admin tokens refused with 429", limited)
	}
	// The administrator, from another address, is unaffected.
	var list api.List[api.ServiceAccount]
	if code := s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts", nil, &list); code != 200 {
		t.Fatalf("admin during flood: HTTP %d", code)
	}
}

// BenchmarkGoodClientDuringFlood is the lockout measurement of
// docs/hardening.md: with the real clock and the default limits, a good
// client asks for a token 10 times a second from 127.0.0.3 (under its own
// limit of 20/s) while wrong secrets for its own client id (well-formed
// credentials naming its key, so each reaches the hash compare unless a
// bucket refuses it) arrive from 127.0.0.2, at 50 requests a second and
// unthrottled (four workers as fast as they go), for 10 s each
// (TOKENWRIGHT_FLOOD_DURATION overrides). It runs once per sub-benchmark
// whatever b.N is:
//
//	go test ./server -run '^$' -bench GoodClientDuringFlood -benchtime 1x
func BenchmarkGoodClientDuringFlood(b *testing.B) {
	duration := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("TOKENWRIGHT_FLOOD_DURATION")); err == nil {
		duration = d
	}
	for _, floodRate := range []int{50, 0} {
		name := "flood=" + strconv.Itoa(floodRate) + "/s"
		if floodRate == 0 {
			name = "flood=unthrottled"
		}
		b.Run(name, func(b *testing.B) {
			s := servertest.Start(b, servertest.Options{})
			s.CreateAccount(b, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
			key := s.CreateKey(b, "ci-bot", api.CreateKey{Name: "k"})
			base := "http://" + s.Addr
			ctx, cancel := context.WithTimeout(context.Background(), duration)
			defer cancel()
			b.ResetTimer()

			var attack floodResult
			var wg sync.WaitGroup
			attacker := clientFrom("127.0.0.2")
			send := func() {
				cred, _ := apikey.Generate(apikey.ServiceKey, key.ID)
				resp, err := attacker.Do(tokenRequest(ctx, base, "ci-bot", cred.String()))
				if err != nil {
					return // the run's end cancels requests in flight
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				attack.sent.Add(1)
				switch resp.StatusCode {
				case 401:
					attack.unauthorized.Add(1)
				case 429:
					attack.limited.Add(1)
				default:
					attack.other.Add(1)
				}
			}
			if floodRate > 0 {
				wg.Go(func() { pace(ctx, floodRate, send) })
			} else {
				for range 4 {
					wg.Go(func() {
						for ctx.Err() == nil {
							send()
						}
					})
				}
			}
			good := clientFrom("127.0.0.3")
			var sent, ok int
			refused := map[int]int{}
			pace(ctx, 10, func() {
				resp, err := good.Do(tokenRequest(context.Background(), base, "ci-bot", key.ClientSecret))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sent++
				if resp.StatusCode == 200 {
					ok++
				} else {
					refused[resp.StatusCode]++
				}
			})
			wg.Wait()
			b.StopTimer()
			secs := duration.Seconds()
			b.Logf("%s for %v: good client %d/%d OK (refused by status: %v); flood %d requests (%.0f/s): %d reached verification (401), %d refused (429), %d other",
				name, duration, ok, sent, refused, attack.sent.Load(), float64(attack.sent.Load())/secs,
				attack.unauthorized.Load(), attack.limited.Load(), attack.other.Load())
			b.ReportMetric(100*float64(ok)/float64(max(sent, 1)), "good-ok-%")
			b.ReportMetric(float64(sent), "good-sent")
			b.ReportMetric(float64(attack.sent.Load())/secs, "flood-req/s")
			b.ReportMetric(float64(attack.unauthorized.Load()), "flood-401")
			b.ReportMetric(float64(attack.limited.Load()), "flood-429")
		})
	}
}

// pace calls f perSecond times a second until ctx ends (a call that overruns
// its slot delays the next; none is skipped).
func pace(ctx context.Context, perSecond int, f func()) {
	t := time.NewTicker(time.Second / time.Duration(perSecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
