package servertest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// ClientCredentials asks s's token endpoint for a token with the
// client-credentials grant (client_secret_basic) and returns the HTTP
// status and, on failure, the OAuth error code.
func (s *Server) ClientCredentials(t testing.TB, clientID, secret string) (status int, errorCode string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("token endpoint answered non-JSON %q (HTTP %d)", body, resp.StatusCode)
	}
	return resp.StatusCode, out.Error
}

// WantToken fails the test unless s issues clientID a token.
func (s *Server) WantToken(t testing.TB, clientID, secret string) {
	t.Helper()
	if status, code := s.ClientCredentials(t, clientID, secret); status != http.StatusOK {
		t.Fatalf("token for %s: HTTP %d %s, want a token", clientID, status, code)
	}
}

// Metric is the value of one series (name and labels, as exposed) in a
// scrape of s's /metrics; false when the series is not there.
func (s *Server) Metric(t testing.TB, series string) (float64, bool) {
	t.Helper()
	resp, err := s.httpClient().Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Sample(string(body), series)
}

// Sample is the value of one series (name and labels, as exposed) in a
// Prometheus text exposition; false when the series is not there.
func Sample(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
