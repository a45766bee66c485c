package tlsconfig_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

func pki(name string) string { return filepath.Join("..", "..", "testdata", "tls", name) }

// TestLoadFormats: the three formats yield the same certificate and key.
func TestLoadFormats(t *testing.T) {
	var serials []string
	for _, src := range []tlsconfig.Source{
		{Cert: pki("server.pem"), Key: pki("server.key")},
		{PKCS12: pki("server.p12"), Password: "tokenwright-test"},
		{PKCS12: pki("server.p12"), PasswordFile: pki("password.txt")},
		{JKS: pki("server.jks"), PasswordFile: pki("password.txt")},
		{JKS: pki("server.jks"), Password: "tokenwright-test", Alias: "tokenwright"},
	} {
		cert, err := tlsconfig.Load(src)
		if err != nil {
			t.Fatalf("%+v: %v", src, err)
		}
		if cert.Leaf.Subject.CommonName != "server.localhost" || len(cert.Certificate) < 1 {
			t.Fatalf("%+v: leaf %s, chain %d", src, cert.Leaf.Subject, len(cert.Certificate))
		}
		serials = append(serials, cert.Leaf.SerialNumber.String())
	}
	for _, s := range serials[1:] {
		if s != serials[0] {
			t.Fatalf("formats disagree: %v", serials)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		src  tlsconfig.Source
		want string
	}{
		{tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server2.key")}, "tls.cert/tls.key"},
		{tlsconfig.Source{Cert: pki("missing.pem"), Key: pki("server.key")}, "tls.cert/tls.key"},
		{tlsconfig.Source{PKCS12: pki("server.p12"), Password: "nope"}, "wrong password"},
		{tlsconfig.Source{PKCS12: pki("server.pem"), Password: "x"}, "tls.pkcs12"},
		{tlsconfig.Source{JKS: pki("server.jks"), Password: "nope"}, "wrong password"},
		{tlsconfig.Source{JKS: pki("server.jks"), Password: "tokenwright-test", Alias: "other"}, `tls.alias "other"`},
		{tlsconfig.Source{PKCS12: pki("server.p12"), PasswordFile: pki("missing")}, "tls.passwordFile"},
	}
	for _, tc := range cases {
		_, err := tlsconfig.Load(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := []tlsconfig.Source{{}, {Cert: "c", Key: "k"}, {PKCS12: "p", Password: "x"}, {JKS: "j", PasswordFile: "f", Alias: "a"}}
	for _, s := range ok {
		if err := s.Validate("tls"); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := map[string]tlsconfig.Source{
		"tls.cert and tls.key": {Key: "k"},
		"set only one":         {JKS: "j", PKCS12: "p"},
		"tls.password":         {Cert: "c", Key: "k", Password: "x"},
		"passwordFile":         {PKCS12: "p", Password: "x", PasswordFile: "f"},
		"tls.alias":            {PKCS12: "p", Alias: "a"},
		"need tls.pkcs12":      {Password: "x"},
	}
	for want, s := range bad {
		if err := s.Validate("tls"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", s, err, want)
		}
	}
}
