package config_test

import (
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
)

// TestIssuerDerivedFromListen (issue 16, finding 1): the rule of
// Config.Validate for an unset issuer, as a table.
func TestIssuerDerivedFromListen(t *testing.T) {
	for _, tc := range []struct {
		listen, issuer string
		tls            bool
		want           string // "" means refused
	}{
		{listen: "127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{listen: "127.0.0.1:18081", want: "http://127.0.0.1:18081"},
		{listen: "localhost:9000", want: "http://localhost:9000"},
		{listen: "[::1]:9000", want: "http://[::1]:9000"},
		{listen: "127.0.0.1:8443", tls: true, want: "https://127.0.0.1:8443"},
		{listen: "0.0.0.0:8080"},
		{listen: ":8080"},
		{listen: "[::]:8080"},
		{listen: "192.0.2.10:8080"},
		{listen: "127.0.0.1:0"},
		{listen: "0.0.0.0:8080", issuer: "https://idp.example.com", want: "https://idp.example.com"},
		{listen: "0.0.0.0:8080", issuer: "http://idp.example.com"},
		{listen: "127.0.0.1:0", issuer: "http://127.0.0.1:9999", want: "http://127.0.0.1:9999"},
	} {
		c := config.Default()
		c.DataDir = t.TempDir()
		c.Listen, c.Issuer = tc.listen, tc.issuer
		if tc.tls {
			c.TLS.Cert, c.TLS.Key = "cert.pem", "key.pem"
		}
		err := c.Validate()
		switch {
		case tc.want == "" && (err == nil || !strings.Contains(err.Error(), "issuer")):
			t.Errorf("listen %s issuer %q: %v, want refused naming issuer", tc.listen, tc.issuer, err)
		case tc.want == "" && tc.issuer == "" && !strings.Contains(err.Error(), "TOKENWRIGHT_ISSUER"):
			t.Errorf("listen %s: %v, want it to name TOKENWRIGHT_ISSUER", tc.listen, err)
		case tc.want != "" && (err != nil || c.Issuer != tc.want):
			t.Errorf("listen %s issuer %q: %q, %v; want %q", tc.listen, tc.issuer, c.Issuer, err, tc.want)
		}
	}
}
