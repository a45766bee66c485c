package sso_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/store/bolt"
)

const pkiDir = "../../testdata/tls"

// Over https the cookies are __Host- prefixed and Secure (flow and
// session), and the whole sign-in works.
func TestHTTPSCookiesAreHostPrefixedAndSecure(t *testing.T) {
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in ca.pem")
	}
	op := ssotest.Start(t, alice)
	tw := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.TLS = tlsconfig.Source{Cert: filepath.Join(pkiDir, "server.pem"), Key: filepath.Join(pkiDir, "server.key")}
			c.Issuer = "https://" + c.Listen
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID
		},
		Environ: op.Environ,
	})
	op.Register(t, tw.URL+sso.CallbackPath)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(tw.URL + sso.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantHostCookie(t, resp, "__Host-tokenwright_sso_flow")

	loginURL, id := ssotest.LoginPage(t, browser, tw.URL+sso.LoginPath)
	_, callback := ssotest.SubmitLogin(t, browser, loginURL, id, alice.Username, alice.Password, tw.URL+sso.CallbackPath)
	if callback == nil {
		t.Fatal("no redirect to the callback")
	}
	resp, err = noFollow.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	wantHostCookie(t, resp, "__Host-tokenwright_session")
	e := env{op: op, tw: tw}
	if status, me := e.me(t, browser); status != http.StatusOK || me.UserName != "alice" {
		t.Fatalf("users/me over https: %d %+v", status, me)
	}
}

func wantHostCookie(t *testing.T, resp *http.Response, name string) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("%s: %+v", name, c)
			}
			return
		}
	}
	t.Fatalf("no %s cookie in %q", name, resp.Header.Values("Set-Cookie"))
}

// The store keeps only the SHA-256 of the session's secret: the database
// file holds the hash and nowhere the cookie's value.
func TestSessionSecretStoredOnlyAsHash(t *testing.T) {
	e := start(t, nil, alice)
	browser := e.signIn(t, alice)
	var secret string
	for _, c := range browser.Jar.Cookies(mustURL(t, e.tw.URL)) {
		if c.Name == "tokenwright_session" {
			secret = c.Value
		}
	}
	if len(secret) < 43 { // 256 bits in unpadded base64url
		t.Fatalf("session secret %q", secret)
	}
	e.tw.Stop()
	db, err := os.ReadFile(filepath.Join(e.tw.DataDir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(secret)) {
		t.Fatal("the database file contains the session cookie's secret")
	}
	if !bytes.Contains(db, []byte(sso.HashSessionSecret(secret))) {
		t.Fatal("the database file does not hold the session under the secret's hash")
	}
}
