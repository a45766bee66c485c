package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// BenchmarkTokenEndpointEtcd is BenchmarkTokenEndpoint on a replica backed
// by a one-member etcd cluster: lookups come from the watched in-memory
// index, so the figure should match the bbolt one (the signature is still
// the cost).
func BenchmarkTokenEndpointEtcd(b *testing.B) {
	c := etcdtest.Start(b, 1)
	s := replica(b, c, nil)
	s.CreateAccount(b, api.CreateServiceAccount{UserName: "bench", Email: "bench@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(b, "bench", api.CreateKey{Name: "bench"})
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
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
