package proxy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/proxy"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// countingTransport counts the gateway's token requests.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// rawGet sends one HTTP/1.1 request with the request target written
// exactly as given (no client-side cleaning or escaping), from a chosen
// loopback source address, and returns the status and body.
func rawGet(t *testing.T, src, addr, target, apiKey string) (int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Api-Key: %s\r\nConnection: close\r\n\r\n", target, addr, apiKey); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// traversals are request paths whose meaning depends on how the upstream
// normalises them. The key may reach /api/* only; each of these could be
// served as something else (/admin, /api/ with a different name, ...) by
// some upstream. goServer marks request lines that Go's HTTP server itself
// refuses before any handler runs (it still must not reach the upstream).
var traversals = []struct {
	path     string
	goServer bool
}{
	{"/api/x*", false}, // '*' marks audience patterns
	// ';' path parameters (Tomcat, Jetty and Spring strip them before
	// resolving dot segments)
	{path: "/api/..;/admin"},
	{path: "/api/..;x=y/admin"},
	{path: "/api/..;/..;/admin"},
	{path: "/api/.;/admin"},
	{path: "/api;/../admin"},
	{path: "/api;x=1/data"},
	{path: "/api/data;jsessionid=0123"},
	{path: "/api/..;%2fadmin"},
	{path: "/api/..%3b/admin"},
	{path: "/api/..%3B/admin"},
	// plain and encoded dot segments
	{path: "/api/../admin"},
	{path: "/api/./../admin"},
	{path: "/api/.."},
	{path: "/api/."},
	{path: "/api/..."},
	{path: "/api/%2e%2e/admin"},
	{path: "/api/%2E%2E/admin"},
	{path: "/api/.%2e/admin"},
	{path: "/api/%2e./admin"},
	{path: "/api/data/%2e"},
	// double and triple encoding
	{path: "/api/%252e%252e/admin"},
	{path: "/api/%252E%252E/admin"},
	{path: "/api/%25252e%25252e/admin"},
	{path: "/api/..%252fadmin"},
	{path: "/api/..%255cadmin"},
	{path: "/api/100%25"},
	// encoded and raw slashes and backslashes
	{path: "/api/..%2fadmin"},
	{path: "/api/..%2Fadmin"},
	{path: "/api%2f..%2fadmin"},
	{path: "/api/..%5cadmin"},
	{path: "/api/..%5Cadmin"},
	{path: `/api/..\admin`},
	{path: `/api\..\admin`},
	// empty segments
	{path: "/api//../admin"},
	{path: "//admin"},
	{path: "/api//data"},
	// overlong and invalid UTF-8
	{path: "/api/%c0%ae%c0%ae/admin"},
	{path: "/api/%C0%AE%C0%AE/admin"},
	{path: "/api/%e0%80%ae%e0%80%ae/admin"},
	{path: "/api/%f0%80%80%ae%f0%80%80%ae/admin"},
	{path: "/api/..%c0%afadmin"},
	{path: "/api/..%c1%9cadmin"},
	{path: "/api/%ff"},
	{path: "/api/%c3"},
	{path: "/api/%ed%a0%80"},
	// non-ASCII look-alikes of '.', '/' and '\'
	{path: "/api/%ef%bc%8e%ef%bc%8e/admin"},           // fullwidth full stop U+FF0E
	{path: "/api/%EF%BC%8E%EF%BC%8E/admin"},           // the same, upper case
	{path: "/api/%e2%80%a4%e2%80%a4/admin"},           // one dot leader U+2024
	{path: "/api/%e2%80%a5/admin"},                    // two dot leader U+2025
	{path: "/api/%ef%b9%92%ef%b9%92/admin"},           // small full stop U+FE52
	{path: "/api/%e3%80%82%e3%80%82/admin"},           // ideographic full stop U+3002
	{path: "/api/%ef%bd%a1%ef%bd%a1/admin"},           // halfwidth ideographic full stop U+FF61
	{path: "/api/..%ef%bc%8fadmin"},                   // fullwidth solidus U+FF0F
	{path: "/api/..%ef%bc%bcadmin"},                   // fullwidth reverse solidus U+FF3C
	{path: "/api/..%e2%88%95admin"},                   // division slash U+2215
	{path: "/api/..%e2%81%84admin"},                   // fraction slash U+2044
	{path: "/api/..%e2%a7%b5admin"},                   // reverse solidus operator U+29F5
	{path: "/api/..%ef%b9%a8admin"},                   // small reverse solidus U+FE68
	{path: "/api/\xef\xbc\x8e\xef\xbc\x8e/admin"},     // raw (unencoded) fullwidth dots
	{path: "/api/%ef%ac%81le"},                        // ligature U+FB01: NFKC makes it "fi"
	{path: "/api/e%cc%81"},                            // not NFC: e + combining acute
	{path: "/api/%e2%80%ae"},                          // right-to-left override
	{path: "/api/%e2%80%8b"},                          // zero-width space
	{path: "/api/%u002e%u002e/admin", goServer: true}, // IIS %u escapes: not percent-encoding
	// control characters
	{path: "/api/%00/../admin"},
	{path: "/api/data%00.json"},
	{path: "/api/data%0a"},
	{path: "/api/data%0d%0aX-Injected:%20x"},
	{path: "/api/data%09"},
	{path: "/api/data%7f"},
	{path: "/api/data\x00", goServer: true},
	{path: "/api/data\x7f", goServer: true},
	// encoded query and fragment delimiters, bad escapes
	{path: "/api/x%3f/../../admin"},
	{path: "/api/x%23y"},
	{path: "/api/%zz", goServer: true},
	{path: "/api/%2", goServer: true},
	// not origin-form
	{path: "*"},
	{path: "http://127.0.0.1/api/..;/admin"},
}

// Issue 13, finding 5: each traversal variant is refused with 400 in the
// gateway's JSON shape before a token is asked for and before the upstream
// sees anything. Each is sent from its own loopback address, so that the
// gateway's per-caller limit never answers in place of the path rule.
func TestGatewayRefusesAmbiguousPaths(t *testing.T) {
	t.Parallel()
	if len(traversals) < 50 {
		t.Fatalf("only %d traversal variants", len(traversals))
	}
	s := servertest.Start(t, servertest.Options{})
	up := startUpstream(t, s.URL)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "tool", Email: "tool@example.com",
		AllowedAudiences: []string{"Domino", up.URL + "/api/*"}})
	key := s.CreateKey(t, "tool", api.CreateKey{Name: "static"}).ClientSecret
	upURL, _ := url.Parse(up.URL)
	tokens := &countingTransport{}
	g, err := proxy.NewGateway(proxy.GatewayConfig{Upstream: upURL, TokenURL: client.TokenURL(s.URL),
		Audiences: []string{"Domino"}, HTTPClient: &http.Client{Transport: tokens}})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(serve(t, g), "http://")

	for i, tc := range traversals {
		src := fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250)
		_, _, seenBefore, _ := up.snapshot()
		asked := tokens.n.Load()
		status, body := rawGet(t, src, addr, tc.path, "tool:"+key)
		var e struct{ Error, Message string }
		jsonErr := json.Unmarshal([]byte(body), &e)
		switch {
		case status != http.StatusBadRequest:
			t.Errorf("%q: %d %s, want 400", tc.path, status, body)
		case !tc.goServer && (jsonErr != nil || e.Error != "invalid_request" || e.Message == ""):
			t.Errorf("%q: 400 %s, want the gateway's JSON error", tc.path, body)
		}
		if _, _, seen, _ := up.snapshot(); len(seen) != len(seenBefore) {
			t.Errorf("%q reached the upstream", tc.path)
		}
		if n := tokens.n.Load(); n != asked {
			t.Errorf("%q made the gateway ask for a token", tc.path)
		}
	}

	// Legitimate paths still pass, and the upstream sees what was authorised.
	for _, p := range []string{
		"/api/data",
		"/api/data/",
		"/api/v1/lists/reports",
		"/api/reports/2024-01",
		"/api/data.json",
		"/api/a.b.c",
		"/api/.well-known/x",
		"/api/~user/a-b_c",
		"/api/a:b@c",
		"/api/a+b,c=d",
		"/api/a!$&'()",
		"/api/a%20b",
		"/api/%41BC",
		"/api/%C3%A9t%C3%A9",
		"/api/Z%c3%bcrich.nsf",
		"/api/%E4%B8%AD%E6%96%87",
		"/api/data?q=..;&x=%2e%2e/",
	} {
		status, body := rawGet(t, "127.0.0.1", addr, p, "tool:"+key)
		var got struct{ Path string }
		_ = json.Unmarshal([]byte(body), &got)
		want, _ := url.PathUnescape(strings.SplitN(p, "?", 2)[0])
		if status != http.StatusOK || got.Path != want {
			t.Errorf("%q: %d %s, want 200 with path %q", p, status, body, want)
		}
	}
}
