package clientip_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/tokenwright/tokenwright/server/clientip"
)

func TestResolve(t *testing.T) {
	trusted, err := clientip.ParseProxies([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		remote, xff, want string
		trusted           bool
	}{
		{"192.0.2.1:5000", "203.0.113.9", "192.0.2.1", true},                          // peer not a proxy: header ignored
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9", true},                         // one trusted hop
		{"10.1.2.3:5000", "198.51.100.1, 203.0.113.9, 10.9.9.9", "203.0.113.9", true}, // chain of proxies
		{"10.1.2.3:5000", "garbage, 10.9.9.9", "10.9.9.9", true},                      // malformed hop stops the walk
		{"10.1.2.3:5000", "", "10.1.2.3", true},                                       // no header
		{"[::1]:5000", "2001:db8::7", "2001:db8::7", true},
		{"10.1.2.3:5000", "203.0.113.9", "10.1.2.3", false}, // no trusted list
		{"[::ffff:192.0.2.1]:5000", "", "192.0.2.1", true},  // v4-mapped unmapped
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		list := trusted
		if !tc.trusted {
			list = nil
		}
		got, ok := clientip.Resolve(r, list)
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s / %q: got %v, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if _, err := clientip.ParseProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}
