package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/signing"
)

// BenchmarkTokenEndpoint drives POST /oauth/token over a real loopback
// listener with keep-alive clients (one per GOMAXPROCS × parallelism).
// Compare with BenchmarkRawRS256Sign: the signature is the ceiling.
func BenchmarkTokenEndpoint(b *testing.B) {
	// One client far above the abuse limits: the limiter is measured by
	// BenchmarkGoodClientDuringFlood instead.
	s := servertest.Start(b, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	driveTokenEndpoint(b, s)
}

// driveTokenEndpoint creates an account and a key on s and drives its
// token endpoint with parallel keep-alive clients, reporting tokens/s.
func driveTokenEndpoint(b *testing.B, s *servertest.Server) {
	s.CreateAccount(b, api.CreateServiceAccount{UserName: "bench", Email: "bench@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(b, "bench", api.CreateKey{Name: "bench"})
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: transport}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("bench", key.ClientSecret)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode != 200 {
				b.Fatalf("HTTP %d", resp.StatusCode)
			}
			var buf [4096]byte
			for {
				if _, err := resp.Body.Read(buf[:]); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkRawRS256Sign is the raw go-jose RS256-2048 signing rate on the
// same cores, the ceiling for BenchmarkTokenEndpoint.
func BenchmarkRawRS256Sign(b *testing.B) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv}, nil)
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"bench","aud":["https://domino.example.com"],"scope":"Domino.user.all"}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := signer.Sign(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

// BenchmarkTokenHandler measures the complete handler in-process
// (httptest, no sockets) for each algorithm, so the framework's share of
// a token is visible next to BenchmarkSign.
func BenchmarkTokenHandler(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			s := servertest.Start(b, servertest.Options{Configure: func(c *config.Config) {
				c.Signing.Algorithm = alg
				c.Limits.Enabled = false // see BenchmarkTokenEndpoint
			}})
			s.CreateAccount(b, api.CreateServiceAccount{UserName: "bench", Email: "bench@example.com", NotesName: "CN=bench/O=B",
				AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
			key := s.CreateKey(b, "bench", api.CreateKey{Name: "bench"})
			h := s.Server.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serveToken(b, h, key.ClientSecret)
			}
		})
	}
}

// BenchmarkTokenTracing measures the complete token handler in-process
// (as BenchmarkTokenHandler; ES256, the cheapest signature, where tracing's
// share shows most, and RS256, the default) with tracing off and on (samplingRatio 1, every
// request a server span plus its store spans, batched and exported over
// OTLP/HTTP to a receiver on 127.0.0.1 that discards them), in one run.
// docs/performance.md has the ratio.
func BenchmarkTokenTracing(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	for _, run := range []struct{ alg, mode string }{{"ES256", "off"}, {"ES256", "on"}, {"RS256", "off"}, {"RS256", "on"}} {
		mode := run.mode
		b.Run(run.alg+"/"+mode, func(b *testing.B) {
			s := servertest.Start(b, servertest.Options{Configure: func(c *config.Config) {
				c.Signing.Algorithm = run.alg
				c.Limits.Enabled = false // see BenchmarkTokenEndpoint
				if mode == "on" {
					c.Tracing.OTLPEndpoint, c.Tracing.SamplingRatio = sink.URL, 1
				}
			}})
			if s.Server.Tracing().Enabled() != (mode == "on") {
				b.Fatalf("tracing %s: Enabled() = %v", mode, s.Server.Tracing().Enabled())
			}
			s.CreateAccount(b, api.CreateServiceAccount{UserName: "bench", Email: "bench@example.com",
				AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
			key := s.CreateKey(b, "bench", api.CreateKey{Name: "bench"})
			h := s.Server.Handler()
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			for b.Loop() {
				serveToken(b, h, key.ClientSecret)
			}
			b.StopTimer()
			// CPU time of the whole process per token (the exporter's
			// goroutine included): on shared cores a steadier figure than
			// ns/op.
			if used := processCPU() - cpu; used > 0 {
				b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
			}
			s.Stop() // flushes the last spans outside the measurement
		})
	}
}

// BenchmarkSign is the raw go-jose signature for each algorithm, serially,
// for comparison with BenchmarkTokenHandler.
func BenchmarkSign(b *testing.B) {
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"bench","aud":["https://domino.example.com"],"scope":"Domino.user.all"}`)
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			priv, err := signing.GenerateKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := signer.Sign(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// serveToken has h answer one client-credentials request for the account
// "bench", in process, and fails b unless it is a token.
func serveToken(b *testing.B, h http.Handler, secret string) {
	req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bench", secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
}
