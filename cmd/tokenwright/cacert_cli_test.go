package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
)

// TestCACertFlag (issue 15, finding 9): a server whose certificate comes
// from a private CA is refused with a clear x509 error and a hint, and
// trusted with --cacert FILE (on every command that talks to a server) or
// with SSL_CERT_FILE.
func TestCACertFlag(t *testing.T) {
	pki := tlstest.Issue(t, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	s := startTLSServer(t, pki.CAFile, tlsconfig.Source{Cert: pki.CertFile, Key: pki.KeyFile}, nil, nil)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme"})
	secret := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"}).ClientSecret
	admin := []string{"TOKENWRIGHT_SERVER=" + s.URL, "TOKENWRIGHT_TOKEN=" + s.AdminToken}

	_, stderr, code := runStatus(t, admin, "sa", "list")
	if code == 0 {
		t.Fatal("a certificate from a private CA was trusted without --cacert")
	}
	wantIn(t, stderr, "x509: certificate signed by unknown authority", "pass --cacert FILE", "SSL_CERT_FILE")

	out, stderr, code := runStatus(t, admin, "sa", "list", "--cacert", pki.CAFile)
	if code != 0 || !strings.Contains(out, "ci-bot") {
		t.Fatalf("sa list --cacert: exit %d\n%s%s", code, out, stderr)
	}
	// The environment variable Go reads on Linux does the same.
	out, stderr, code = runStatus(t, append(admin, "SSL_CERT_FILE="+pki.CAFile), "sa", "list")
	if code != 0 || !strings.Contains(out, "ci-bot") {
		t.Fatalf("SSL_CERT_FILE: exit %d\n%s%s", code, out, stderr)
	}
	// The token command, which does not use the admin API.
	client := []string{"TOKENWRIGHT_SERVER=" + s.URL, "TOKENWRIGHT_CLIENT_SECRET=" + secret}
	if _, stderr, code = runStatus(t, client, "token", "--client-id", "ci-bot", "--no-cache"); code == 0 || !strings.Contains(stderr, "unknown authority") {
		t.Fatalf("token without --cacert: exit %d %s", code, stderr)
	}
	out, stderr, code = runStatus(t, client, "token", "--client-id", "ci-bot", "--no-cache", "--cacert", pki.CAFile)
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token --cacert: exit %d\n%s%s", code, out, stderr)
	}
	// A file without certificates is an error that names the flag.
	if _, stderr, code = runStatus(t, admin, "sa", "list", "--cacert", pki.KeyFile); code == 0 || !strings.Contains(stderr, "--cacert: no PEM certificates") {
		t.Fatalf("key file as --cacert: exit %d %s", code, stderr)
	}

	// Every command that talks to a server has the flag.
	for _, args := range [][]string{
		{"sa", "list"}, {"key", "list"}, {"user", "list"}, {"pat", "list"}, {"audit"}, {"keys", "list"}, {"keys", "rotate"},
		{"domino", "config"}, {"domino", "check"}, {"backup"}, {"token"}, {"proxy"},
	} {
		out, _, _ := runStatus(t, nil, append(args, "--help")...)
		if !strings.Contains(out, "--cacert") {
			t.Errorf("%s has no --cacert", strings.Join(args, " "))
		}
	}
}
