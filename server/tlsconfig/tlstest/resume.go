package tlstest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// ResumingClient is a TLS client configuration that trusts only the CA
// in caFile, speaks version (tls.VersionTLS12 or tls.VersionTLS13) and
// keeps session tickets in a cache of its own. ServerName is set, so
// that the cache holds one ticket for "localhost" whichever replica's
// address issued it: what a client behind a load balancer sees.
func ResumingClient(t testing.TB, caFile string, version uint16) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: version, MaxVersion: version,
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

// Handshake connects to addr with cfg, asks GET /readyz over HTTP/1.1 and
// reads the whole answer (a TLS 1.3 server sends its session ticket after
// the handshake: reading is what stores it in cfg's cache), and returns
// the connection's state: DidResume tells whether a cached ticket was
// accepted.
func Handshake(t testing.TB, addr string, cfg *tls.Config) tls.ConnectionState {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/readyz", nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatalf("request to %s: %v", addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("response from %s: %v", addr, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return conn.ConnectionState()
}
