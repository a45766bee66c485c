//go:build unix

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLS client behaviours (-tls-conn).
const (
	tlsKeepAlive = "keepalive" // one TLS connection per worker, reused
	tlsNew       = "new"       // a new connection per request, full handshake
	tlsResume    = "resume"    // a new connection per request, TLS 1.3 resumption
)

// benchPKI is a throwaway CA and the server certificate it signed, written
// into the run's data directory for the child server.
type benchPKI struct {
	certFile, keyFile string
	roots             *x509.CertPool
}

func newKey(kind string) (crypto.Signer, error) {
	switch kind {
	case "p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unknown -tls-cert %q (rsa2048, p256)", kind)
}

// writePKI makes a CA and a server certificate for 127.0.0.1 whose keys
// are both of the given kind (as a real chain of that kind would be).
func writePKI(dir, kind string) (*benchPKI, error) {
	caKey, err := newKey(kind)
	if err != nil {
		return nil, err
	}
	leafKey, err := newKey(kind)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tokenwright-bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, isRSA := leafKey.(*rsa.PrivateKey); isRSA {
		leaf.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, leafKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return nil, err
	}
	p := &benchPKI{certFile: filepath.Join(dir, "bench-cert.pem"), keyFile: filepath.Join(dir, "bench-key.pem"),
		roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(p.certFile, chain, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// clientTLS is a worker's TLS configuration for -tls-conn: resumption
// needs a session cache (the worker's own, as one curl process or one SDK
// client would keep); without one the client never offers a session and
// every connection is a full handshake.
func clientTLS(roots *x509.CertPool, conn string) *tls.Config {
	c := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
	if conn == tlsResume {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	return c
}
