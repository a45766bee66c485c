package dominocheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// The Base URL is compared byte for byte, and the difference is named.
func TestBaseURLDifference(t *testing.T) {
	const iss = "https://idp.example.com"
	cases := map[string]string{
		iss:        "",
		iss + "/":  `ends with "/", the issuer`,
		iss + "//": `ends with "//"`,
		iss + "/.well-known/openid-configuration": "includes /.well-known/openid-configuration",
		"https://IDP.example.com":                 "differ in upper and lower case",
		"http://idp.example.com":                  "uses http, the issuer",
		"https://idp.example.com:443":             `has port "443", the issuer "https://idp.example.com" has ""`,
		"https://sso.example.com":                 "names host sso.example.com",
		"https://idp.example.com/tw":              `has path "/tw"`,
		"https://idp.example.com?x":               "differ from byte 23",
	}
	for base, want := range cases {
		got := baseURLDifference(base, iss)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", base, got, want)
		}
	}
	for _, base := range []string{iss + "/", iss + "/.well-known/openid-configuration", iss + "/.well-known/openid-configuration/"} {
		if fetchBase(base) != iss {
			t.Errorf("fetchBase(%s) = %s", base, fetchBase(base))
		}
	}
}

// Certificate problems are told apart by their x509 error, from a real
// verification.
func TestTransportFailureNamesTheCertificateProblem(t *testing.T) {
	now := time.Now()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp.example.com"},
		DNSNames: []string{"idp.example.com"}, NotBefore: now.Add(48 * time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	_, notYet := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now})
	wrap := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://idp.example.com", Err: fmt.Errorf("tls: %w", err)}
	}

	for err, want := range map[error]string{
		wrap(notYet): "is not valid before " + date(cert.NotBefore),
		wrap(cert.VerifyHostname("other.example.com")): "is not for other.example.com",
		wrap(x509.UnknownAuthorityError{Cert: cert}):   "not trusted here",
	} {
		c := &checker{now: now}
		c.transportFailure("discovery reachable", err)
		if len(c.out) != 1 || c.out[0].Status != Fail || c.out[0].Rule != "TLS certificate" || !strings.Contains(c.out[0].Detail, want) {
			t.Errorf("%v: %+v, want %q", err, c.out, want)
		}
	}
	c := &checker{now: now}
	c.transportFailure("discovery reachable", wrap(fmt.Errorf("connection refused")))
	if c.out[0].Rule != "discovery reachable" || !strings.Contains(c.out[0].Fix, "reachable from Domino") {
		t.Errorf("network error: %+v", c.out)
	}
}

// signingKeys is an Admin that knows only the signing-key list: a pending
// key with another algorithm (what `keys rotate --algorithm` makes) has
// no other source on this branch.
type signingKeys []api.SigningKey

func (signingKeys) GetServiceAccount(context.Context, string) (api.ServiceAccount, error) {
	return api.ServiceAccount{}, fmt.Errorf("not used")
}
func (signingKeys) GetKey(context.Context, string, string) (api.Key, error) {
	return api.Key{}, fmt.Errorf("not used")
}
func (s signingKeys) ListSigningKeys(context.Context) ([]api.SigningKey, error) { return s, nil }

// jwt mode: a pending key with another algorithm fails (the REST API will
// refuse every token once it signs); an RS256 one is dated.
func TestRESTAPIJWTModeNextKey(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 5, 0, 0, time.UTC)
	for alg, want := range map[string]Status{"ES256": Fail, "RS256": Warn} {
		c := &checker{opts: Options{RESTAPI: RESTAPIJWT, Admin: signingKeys{
			{KID: "next", Algorithm: alg, State: "pending", ActivateAt: at},
			{KID: "now", Algorithm: "RS256", State: "active"},
		}}}
		c.checkRESTAPIKeys(context.Background(), jose.JSONWebKeySet{}, "now")
		if c.out[0].Status != want || !strings.Contains(c.out[0].Detail, "2026-12-03 07:05 UTC") {
			t.Errorf("%s: %+v", alg, c.out)
		}
		if Failed(c.out) != (want == Fail) {
			t.Errorf("%s: failed %v", alg, Failed(c.out))
		}
	}
}
