// Package ssotest runs a real OpenID provider for tests: zitadel/oidc's
// example OP (the op command beside this package), built once per test
// process and started as its own process on 127.0.0.1, and drives its
// login page with plain net/http so that a test completes an
// authorization code flow without a browser.
package ssotest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/tokenwright/tokenwright/server/config"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is a person at the provider.
type User struct {
	ID, Username, Password, Email string
	EmailVerified                 bool
	Groups                        []string
	// GivenName is the given_name claim (default Username).
	GivenName string
	// Claims are extra claims (e.g. "email_verified": false).
	Claims map[string]any
}

// Provider is a running example OP.
type Provider struct {
	Issuer   string // http://127.0.0.1:PORT/ (with the trailing slash the OP publishes)
	ClientID string
	// OtherClientID is a second client with the same secret and redirect
	// URIs (tests of a code or token meant for another client).
	OtherClientID string
	ClientSecret  string
	// JWTClientID, with Options.JWTClient, is a client that authenticates
	// with private_key_jwt: the private key (PEM, PKCS#8 EC P-256) is in
	// JWTKeyFile under the key id JWTKeyID.
	JWTClientID, JWTKeyFile, JWTKeyID string
	claimsFile                        string
	users                             []User
	stdin                             io.WriteCloser
	mu                                sync.Mutex
	claims                            map[string]map[string]any
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the op command once per test process (the build cache
// makes later processes' builds a link).
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokenwright-ssotest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "op")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/tokenwright/tokenwright/server/sso/ssotest/op").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the example OP: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Cleanup removes the built provider; call it from TestMain after m.Run.
func Cleanup() {
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
}

// Options are the provider's optional behaviours.
type Options struct {
	// Sessions: a login leaves a browser session at the provider, so a
	// later sign-in from the same browser skips the password until
	// end_session (RP-initiated logout) ends it.
	Sessions bool
	// JWTClient registers a third client, "tokenwright-jwt", that
	// authenticates with private_key_jwt (Provider.JWTKeyFile).
	JWTClient bool
	// NoEndSession: the discovery document has no end_session_endpoint.
	NoEndSession bool
	// NoDeviceGrant: the discovery document names no device
	// authorization endpoint (a provider without RFC 8628).
	NoDeviceGrant bool
}

// Start starts a provider with users and a confidential client
// ("tokenwright", a random secret). The provider serves only once
// Register has given it the client's redirect URI.
func Start(t testing.TB, users ...User) *Provider {
	t.Helper()
	return StartWith(t, Options{}, users...)
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options, users ...User) *Provider {
	t.Helper()
	dir := t.TempDir()
	stored := map[string]map[string]any{}
	claims := map[string]map[string]any{}
	for _, u := range users {
		given := u.GivenName
		if given == "" {
			given = u.Username
		}
		stored[u.ID] = map[string]any{"ID": u.ID, "Username": u.Username, "Password": u.Password, "FirstName": given,
			"LastName": "Test", "Email": u.Email, "EmailVerified": u.EmailVerified, "PreferredLanguage": "en"}
		claims[u.ID] = map[string]any{}
		for k, v := range u.Claims {
			claims[u.ID][k] = v
		}
		if u.Groups != nil {
			claims[u.ID]["groups"] = u.Groups
		}
	}
	usersFile := filepath.Join(dir, "users.json")
	writeJSON(t, usersFile, stored)
	p := &Provider{ClientID: "tokenwright", OtherClientID: "other", ClientSecret: "secret-" + fmt.Sprint(time.Now().UnixNano()),
		claimsFile: filepath.Join(dir, "claims.json"), users: users, claims: claims}
	writeJSON(t, p.claimsFile, claims)
	args := []string{"-users", usersFile, "-claims", p.claimsFile, "-client-id", p.ClientID + "," + p.OtherClientID, "-client-secret", p.ClientSecret}
	if o.Sessions {
		args = append(args, "-sessions")
	}
	if o.NoEndSession {
		args = append(args, "-no-end-session")
	}
	if o.JWTClient {
		p.JWTClientID, p.JWTKeyID = "tokenwright-jwt", "key-1"
		p.JWTKeyFile = filepath.Join(dir, "client-key.pem")
		pub := filepath.Join(dir, "client-key.pub.pem")
		WriteKeyPair(t, p.JWTKeyFile, pub)
		args = append(args, "-jwt-client-id", p.JWTClientID, "-jwt-client-key", pub, "-jwt-client-key-id", p.JWTKeyID)
	}
	if o.NoDeviceGrant {
		args = append(args, "-no-device")
	}
	cmd := exec.Command(binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("example OP's stderr:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	issuer, ok := strings.CutPrefix(strings.TrimSpace(line), "ISSUER ")
	if err != nil || !ok {
		t.Fatalf("example OP did not announce its issuer (%q, %v): %s", line, err, stderr.String())
	}
	p.Issuer = issuer
	return p
}

// Register gives the provider the client's redirect URIs; it serves from
// then on.
func (p *Provider) Register(t testing.TB, redirectURIs ...string) {
	t.Helper()
	if _, err := fmt.Fprintln(p.stdin, strings.Join(redirectURIs, ",")); err != nil {
		t.Fatal(err)
	}
}

// RegisterWithLogout is Register with post-logout redirect URIs (the
// URIs a relying party may send the browser back to after end_session).
func (p *Provider) RegisterWithLogout(t testing.TB, redirectURIs, postLogoutURIs []string) {
	t.Helper()
	if _, err := fmt.Fprintln(p.stdin, strings.Join(redirectURIs, ",")+" "+strings.Join(postLogoutURIs, ",")); err != nil {
		t.Fatal(err)
	}
}

// WriteKeyPair writes a new EC P-256 private key (PKCS#8 PEM) to private
// and its public key (PKIX PEM) to public.
func WriteKeyPair(t testing.TB, private, public string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if public != "" {
		if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// SetGroups changes a user's groups for their next sign-in.
func (p *Provider) SetGroups(t testing.TB, userID string, groups ...string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claims[userID] == nil {
		p.claims[userID] = map[string]any{}
	}
	p.claims[userID]["groups"] = groups
	writeJSON(t, p.claimsFile, p.claims)
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// Written whole and renamed, so the provider never reads half a file.
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// Browser is an HTTP client with a cookie jar, as a browser signing in.
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

var authRequestID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// LoginPage follows start (tokenwright's /ui/login/sso) to the
// provider's login page and returns the auth request's id from its form.
func LoginPage(t testing.TB, browser *http.Client, start string) (loginURL *url.URL, id string) {
	t.Helper()
	resp, err := browser.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := authRequestID.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s ended at %s with %d, not the provider's login page:\n%s", start, resp.Request.URL, resp.StatusCode, body)
	}
	return resp.Request.URL, string(m[1])
}

// SubmitLogin posts the login form as the login page does; with
// stopAtCallback, the redirect to tokenwright's callback is not followed
// and its URL is returned (tampering tests); otherwise the response at the
// end of the redirects is returned.
func SubmitLogin(t testing.TB, browser *http.Client, loginURL *url.URL, id, username, password string, stopAtCallback string) (*http.Response, *url.URL) {
	t.Helper()
	c := *browser
	var callback *url.URL
	if stopAtCallback != "" {
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), stopAtCallback) {
				callback = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		}
	}
	form := url.Values{"id": {id}, "username": {username}, "password": {password}}
	resp, err := c.PostForm(loginURL.ResolveReference(&url.URL{Path: "/login/username"}).String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return resp, callback
}

// SignIn runs the whole flow from start and returns the final response
// (its body read into the returned string).
func SignIn(t testing.TB, browser *http.Client, start, username, password string) (*http.Response, string) {
	t.Helper()
	loginURL, id := LoginPage(t, browser, start)
	resp, _ := SubmitLogin(t, browser, loginURL, id, username, password, "")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// DeviceSignIn completes a device authorization (RFC 8628) at the
// provider as a person at another device does: the provider's device
// login page (verificationURI) with the user code, username and password,
// then Allow. It returns the provider's last page.
func DeviceSignIn(t testing.TB, verificationURI, userCode, username, password string) string {
	t.Helper()
	browser := Browser(t)
	u, err := url.Parse(verificationURI)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := browser.PostForm(u.ResolveReference(&url.URL{Path: "/device/login"}).String(),
		url.Values{"user_code": {userCode}, "username": {username}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "confirm?action=allowed") {
		t.Fatalf("the provider's device login answered %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	resp, err = browser.Get(u.ResolveReference(&url.URL{Path: "/device/confirm", RawQuery: "action=allowed"}).String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}

// Environ is a server environment that holds only the secret of the
// provider's "tokenwright" client (TOKENWRIGHT_SSO_CLIENT_SECRET): pass
// it as servertest.Options.Environ.
func (p *Provider) Environ(key string) string {
	if key == config.SSOClientSecretEnv {
		return p.ClientSecret
	}
	return ""
}
