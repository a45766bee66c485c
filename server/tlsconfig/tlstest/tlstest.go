// Package tlstest issues throwaway certificates for tests that need a
// validity the committed test PKI (testdata/tls, valid for a century)
// cannot have: expired, not yet valid, or ending in a few days. Each call
// makes its own private CA, so a client that trusts the system roots, or
// another test's CA, does not trust it.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA and a server certificate for 127.0.0.1, ::1 and localhost,
// written as PEM files in a test's temporary directory.
type PKI struct {
	CAFile   string // the CA certificate (what a client passes as --cacert)
	CertFile string // the server certificate (leaf only)
	KeyFile  string // its private key
	Leaf     *x509.Certificate
}

// CA is a private certificate authority.
type CA struct {
	File string // its certificate, PEM
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid for ten years either side of now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{Organization: []string{"tokenwright tests"}, CommonName: "tlstest CA"},
		NotBefore: now.AddDate(-10, 0, 0), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{File: filepath.Join(t.TempDir(), "ca.pem"), cert: cert, key: caKey}
	writePEM(t, ca.File, "CERTIFICATE", caDER)
	return ca
}

// Issue makes a new CA and a server certificate valid from notBefore to
// notAfter.
func Issue(t testing.TB, notBefore, notAfter time.Time) PKI {
	t.Helper()
	return NewCA(t).Issue(t, notBefore, notAfter)
}

// Issue makes a server certificate signed by ca, valid from notBefore to
// notAfter.
func (ca *CA) Issue(t testing.TB, notBefore, notAfter time.Time) PKI {
	t.Helper()
	dir := t.TempDir()
	key := newKey(t)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{Organization: []string{"tokenwright tests"}, CommonName: "tlstest.localhost"},
		NotBefore: notBefore, NotAfter: notAfter,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := PKI{CAFile: ca.File, CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key"), Leaf: leaf}
	writePEM(t, p.CertFile, "CERTIFICATE", leafDER)
	writePEM(t, p.KeyFile, "PRIVATE KEY", keyDER)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Client is an HTTPS client that trusts only the CA in caFile. It keeps
// no connection alive, so every request sees the server's current
// certificate.
func Client(t testing.TB, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
}
