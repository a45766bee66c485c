package main_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
)

// startTLSServer starts an in-process server with certFile/keyFile whose
// admin helpers trust caFile.
func startTLSServer(t *testing.T, caFile string, src tlsconfig.Source, now func() time.Time, edit func(*config.Config)) *servertest.Server {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return servertest.Start(t, servertest.Options{HTTPClient: hc, Now: now, Configure: func(c *config.Config) {
		c.TLS = src
		c.Issuer = "https://" + c.Listen
		c.Domino.Sites = []string{site}
		c.Domino.RestAPI = true
		if edit != nil {
			edit(c)
		}
	}})
}

// dominoCheck runs `domino check` for account against s and returns its
// output (stdout and stderr) and exit status.
func dominoCheck(t *testing.T, serverURL, account, secret string, env []string, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"domino", "check", "--server", serverURL, "--site", site, "--client-id", account}, extra...)
	out, stderr, code := runStatus(t, append([]string{"TOKENWRIGHT_CLIENT_SECRET=" + secret}, env...), args...)
	return out + stderr, code
}

// line returns the output line starting with prefix, failing the test
// if there is none.
func line(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no line starting %q in:\n%s", prefix, out)
	return ""
}

// fixAfter returns the "fix:" line that follows the line starting with prefix.
func fixAfter(t *testing.T, out, prefix string) string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) && i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "fix:") {
			return lines[i+1]
		}
	}
	t.Fatalf("no fix under %q in:\n%s", prefix, out)
	return ""
}

func wantIn(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%q does not contain %q", s, w)
		}
	}
}

// TestDominoCheckBaseURLByteForByte (issue 15, finding 7a): the Base URL
// is compared with the issuer byte for byte, as Domino compares iss; a
// trailing slash, a /.well-known suffix or an explicit default port fail
// with what differs.
func TestDominoCheckBaseURLByteForByte(t *testing.T) {
	ca := filepath.Join(pkiDir, "ca.pem")
	s := startTLSServer(t, ca, tlsconfig.Source{Cert: filepath.Join(pkiDir, "server.pem"), Key: filepath.Join(pkiDir, "server.key")}, nil, nil)
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme"})
	secret := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"}).ClientSecret

	out, code := dominoCheck(t, s.URL, "ci-bot", secret, nil, "--cacert", ca)
	if code != 0 {
		t.Fatalf("exact Base URL: exit %d\n%s", code, out)
	}
	line(t, out, "PASS  issuer equals the idpcat Base URL: "+s.URL)

	for base, want := range map[string]string{
		s.URL + "/": `ends with "/", the issuer "` + s.URL + `" does not`,
		s.URL + "/.well-known/openid-configuration":         "includes /.well-known/openid-configuration",
		strings.Replace(s.URL, "127.0.0.1", "localhost", 1): "names host localhost",
	} {
		out, code := dominoCheck(t, base, "ci-bot", secret, nil, "--cacert", ca)
		if code != 1 {
			t.Fatalf("Base URL %s: exit %d\n%s", base, code, out)
		}
		wantIn(t, line(t, out, "FAIL  issuer equals the idpcat Base URL:"), want, "byte for byte")
		wantIn(t, fixAfter(t, out, "FAIL  issuer equals the idpcat Base URL:"), `enter exactly "`+s.URL+`"`)
		// The rest is still checked against the server behind the URL.
		line(t, out, "PASS  aud contains the site:")
	}
}

// TestDominoCheckKeyStates (finding 7b): a refused key is explained. With
// an administrator's token the check looks the key up and names the one
// cause (expired, revoked, account deactivated, wrong secret); without one
// it lists the possible causes. The token endpoint answers all of them
// alike: the explanation comes from the admin API only.
func TestDominoCheckKeyStates(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ca := filepath.Join(pkiDir, "ca.pem")
	s := startTLSServer(t, ca, tlsconfig.Source{Cert: filepath.Join(pkiDir, "server.pem"), Key: filepath.Join(pkiDir, "server.key")}, now, nil)
	for _, name := range []string{"expiring", "revoked", "inactive", "mistyped", "rotated"} {
		s.CreateAccount(t, api.CreateServiceAccount{UserName: name, Email: name + "@example.com", NotesName: "CN=" + name + "/O=Acme"})
	}
	hour := int64(3600)
	expiring := s.CreateKey(t, "expiring", api.CreateKey{Name: "short", ExpiresIn: &hour})
	revoked := s.CreateKey(t, "revoked", api.CreateKey{Name: "k"})
	inactive := s.CreateKey(t, "inactive", api.CreateKey{Name: "k"})
	mistyped := s.CreateKey(t, "mistyped", api.CreateKey{Name: "k"})
	rotated := s.CreateKey(t, "rotated", api.CreateKey{Name: "k"})
	zero := int64(0)
	var rotatedKey api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/rotated/keys/"+rotated.ID+":rotate",
		api.RotateKey{GracePeriod: &zero}, &rotatedKey); code != http.StatusOK {
		t.Fatalf("rotate: HTTP %d", code)
	}
	var revokedKey api.Key
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/revoked/keys/"+revoked.ID+":revoke", nil, &revokedKey); code != http.StatusOK {
		t.Fatalf("revoke: HTTP %d", code)
	}
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/inactive:deactivate", nil, nil); code != http.StatusOK {
		t.Fatalf("deactivate: HTTP %d", code)
	}
	offset.Store(int64(2 * time.Hour)) // the short key has expired

	admin := []string{"TOKENWRIGHT_TOKEN=" + s.AdminToken}
	cases := []struct {
		account, secret string
		want            []string
		fix             string
	}{
		{"expiring", expiring.ClientSecret, []string{`key "short" (` + expiring.ID + ") expired on " + expiring.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")},
			"tokenwright key create expiring"},
		{"revoked", revoked.ClientSecret, []string{`key "k" (` + revoked.ID + ") was revoked on " + revokedKey.RevokedAt.UTC().Format("2006-01-02 15:04 UTC")},
			"tokenwright key create revoked"},
		{"inactive", inactive.ClientSecret, []string{"service account inactive is deactivated"}, "tokenwright sa activate inactive"},
		{"mistyped", otherSecret(t, mistyped.ID), []string{"are active, so the secret itself is wrong"},
			"tokenwright key rotate mistyped " + mistyped.ID},
		{"rotated", rotated.ClientSecret, []string{"the secret itself is wrong (the key was rotated on " + rotatedKey.RotatedAt.UTC().Format("2006-01-02 15:04 UTC")},
			"tokenwright key rotate rotated " + rotated.ID},
		{"mistyped", revoked.ClientSecret, []string{"key " + revoked.ID + " is not one of mistyped's keys"}, "check --client-id"},
		{"nobody", mistyped.ClientSecret, []string{`there is no service account "nobody"`}, "tokenwright sa list"},
	}
	var endpointSaid []string
	for _, c := range cases {
		out, code := dominoCheck(t, s.URL, c.account, c.secret, admin, "--cacert", ca)
		if code != 1 {
			t.Fatalf("%s: exit %d\n%s", c.account, code, out)
		}
		endpointSaid = append(endpointSaid, line(t, out, "FAIL  token obtained:"))
		wantIn(t, line(t, out, "FAIL  credentials:"), c.want...)
		wantIn(t, fixAfter(t, out, "FAIL  credentials:"), c.fix)

		// Without a token: the possible causes, not a guess.
		out, _ = dominoCheck(t, s.URL, c.account, c.secret, nil, "--cacert", ca)
		wantIn(t, line(t, out, "FAIL  credentials:"), "does not say why", "wrong", "expired", "revoked", "deactivated")
		wantIn(t, fixAfter(t, out, "FAIL  credentials:"), "--token-file")
	}
	for _, said := range endpointSaid[1:] {
		if said != endpointSaid[0] {
			t.Fatalf("the token endpoint tells the cases apart:\n%s\n%s", endpointSaid[0], said)
		}
	}
	wantIn(t, endpointSaid[0], "invalid_client")

	// What the secret says about itself needs no token.
	out, _ := dominoCheck(t, s.URL, "mistyped", "not-a-key", nil, "--cacert", ca)
	wantIn(t, line(t, out, "FAIL  credentials:"), "not a tokenwright API key")
	pat, err := apikey.Generate(apikey.PersonalToken, mistyped.ID)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = dominoCheck(t, s.URL, "mistyped", pat.String(), nil, "--cacert", ca)
	wantIn(t, line(t, out, "FAIL  credentials:"), "a personal access token (twp_...), not a service-account key")
}

// otherSecret is a well-formed secret for key id that is not its secret.
func otherSecret(t *testing.T, id string) string {
	t.Helper()
	cred, err := apikey.Generate(apikey.ServiceKey, id)
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

// TestDominoCheckRESTAPIMode (finding 7c): --rest-api jwt requires RS256
// and warns that the REST API must be restarted for the next rotation,
// naming its date; oidc-idpcat requires the configured scope.
func TestDominoCheckRESTAPIMode(t *testing.T) {
	ca := filepath.Join(pkiDir, "ca.pem")
	src := tlsconfig.Source{Cert: filepath.Join(pkiDir, "server.pem"), Key: filepath.Join(pkiDir, "server.key")}
	rs := startTLSServer(t, ca, src, nil, nil)
	rs.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		AllowedScopes: []string{"$DATA"}})
	rs.CreateAccount(t, api.CreateServiceAccount{UserName: "nodata", Email: "nodata@example.com", NotesName: "CN=nodata/O=Acme"})
	secret := rs.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"}).ClientSecret
	admin := []string{"TOKENWRIGHT_TOKEN=" + rs.AdminToken}

	t.Run("jwt mode, RS256, no rotation planned", func(t *testing.T) {
		out, code := dominoCheck(t, rs.URL, "ci-bot", secret, admin, "--cacert", ca, "--rest-api", "jwt")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		line(t, out, "PASS  REST API jwt mode: alg RS256: RS256")
		line(t, out, "PASS  REST API: aud contains Domino:")
		line(t, out, "PASS  REST API: CN is a Notes name:")
		var keys api.List[api.SigningKey]
		if code := rs.Do(t, rs.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &keys); code != http.StatusOK || len(keys.Items) != 1 {
			t.Fatalf("signing keys: HTTP %d %+v", code, keys)
		}
		active := keys.Items[0]
		wantIn(t, line(t, out, "WARN  REST API jwt mode: keys read once at start:"), "no new signing key is published yet",
			"the active key "+active.KID, "by default 30 days: "+active.ActivatedAt.Add(30*24*time.Hour).UTC().Format("2006-01-02 15:04 UTC"))
	})
	t.Run("jwt mode, rotation planned", func(t *testing.T) {
		var pending api.SigningKey
		if code := rs.Do(t, rs.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, &pending); code != http.StatusCreated {
			t.Fatalf("rotate: HTTP %d", code)
		}
		when := pending.ActivateAt.UTC().Format("2006-01-02 15:04 UTC")
		out, code := dominoCheck(t, rs.URL, "ci-bot", secret, admin, "--cacert", ca, "--rest-api", "jwt")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		wantIn(t, line(t, out, "WARN  REST API jwt mode: keys read once at start:"), "planned for "+when, pending.KID)
		wantIn(t, fixAfter(t, out, "WARN  REST API jwt mode: keys read once at start:"), "before "+when, "tell restapi quit")
		// Without a token the check cannot date it, and says so.
		out, code = dominoCheck(t, rs.URL, "ci-bot", secret, nil, "--cacert", ca, "--rest-api", "jwt")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		wantIn(t, line(t, out, "WARN  REST API jwt mode: keys read once at start:"), "every signing-key rotation needs the REST API restarted")
	})
	t.Run("oidc-idpcat mode needs the configured scope", func(t *testing.T) {
		out, code := dominoCheck(t, rs.URL, "ci-bot", secret, nil, "--cacert", ca, "--rest-api", "oidc-idpcat")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		line(t, out, "PASS  REST API: scope has $DATA:")
		if strings.Contains(out, "keys read once") {
			t.Fatalf("oidc-idpcat uses Domino's refreshing key cache:\n%s", out)
		}
		nodata := rs.CreateKey(t, "nodata", api.CreateKey{Name: "k"}).ClientSecret
		out, code = dominoCheck(t, rs.URL, "nodata", nodata, nil, "--cacert", ca, "--rest-api", "oidc-idpcat")
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		line(t, out, "FAIL  REST API: scope has $DATA:")
	})
	t.Run("jwt mode refuses ES256", func(t *testing.T) {
		es := startTLSServer(t, ca, src, nil, func(c *config.Config) { c.Signing.Algorithm = "ES256" })
		es.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
			AllowedScopes: []string{"$DATA"}})
		esSecret := es.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"}).ClientSecret
		// Core Domino accepts ES256 ...
		out, code := dominoCheck(t, es.URL, "ci-bot", esSecret, nil, "--cacert", ca)
		if code != 0 {
			t.Fatalf("core Domino: exit %d\n%s", code, out)
		}
		// ... the REST API's jwt mode does not.
		out, code = dominoCheck(t, es.URL, "ci-bot", esSecret, nil, "--cacert", ca, "--rest-api", "jwt")
		if code != 1 {
			t.Fatalf("jwt mode: exit %d\n%s", code, out)
		}
		wantIn(t, line(t, out, "FAIL  REST API jwt mode: alg RS256:"), "ES256")
	})
	t.Run("unknown mode", func(t *testing.T) {
		_, stderr, code := runStatus(t, []string{"TOKENWRIGHT_CLIENT_SECRET=" + secret}, "domino", "check", "--server", rs.URL, "--site", site,
			"--client-id", "ci-bot", "--rest-api", "oidc")
		if code == 0 || !strings.Contains(stderr, "--rest-api must be jwt or oidc-idpcat") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}

// TestDominoCheckExpiredCertificate (finding 7): a server whose
// certificate has expired is reported as exactly that, with the date.
func TestDominoCheckExpiredCertificate(t *testing.T) {
	now := time.Now()
	pki := tlstest.Issue(t, now.AddDate(-1, 0, 0), now.Add(-72*time.Hour))
	s := startTLSServer(t, filepath.Join(pkiDir, "ca.pem"), tlsconfig.Source{Cert: pki.CertFile, Key: pki.KeyFile, AllowExpired: true}, nil, nil)
	out, code := dominoCheck(t, s.URL, "ci-bot", "twk_unused", nil, "--cacert", pki.CAFile)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	wantIn(t, line(t, out, "FAIL  TLS certificate:"), "expired on "+pki.Leaf.NotAfter.UTC().Format("2006-01-02 15:04 UTC"))
	wantIn(t, fixAfter(t, out, "FAIL  TLS certificate:"), "renew the certificate")
}
