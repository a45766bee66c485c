//go:build linux

package interop

// Apache httpd with mod_auth_openidc (both from Debian) as an OAuth 2.0
// resource server in front of a static file. The module validates tokenwright's JWTs locally
// against the JWKS it fetches over TLS from a real tokenwright server, and
// the test asserts what it accepts and what it refuses, with the reason
// taken from the module's own error log, so that a 401 for the wrong
// reason (an unreachable JWKS, a bad CA bundle) cannot pass for a refusal.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
)

// Where Debian's apache2 and libapache2-mod-auth-openidc packages put the
// server and its modules (.ci/run installs both).
const (
	apacheBinary    = "/usr/sbin/apache2"
	apacheModuleDir = "/usr/lib/apache2/modules"
	apachePKIDir    = "../../testdata/tls"
)

// apacheModules are the modules the test configuration loads: the MPM,
// AuthType (authn_core), Require (authz_core), the response header that
// echoes REMOTE_USER (headers) and the verifier itself.
var apacheModules = map[string]string{
	"mpm_event_module":    "mod_mpm_event.so",
	"authn_core_module":   "mod_authn_core.so",
	"authz_core_module":   "mod_authz_core.so",
	"headers_module":      "mod_headers.so",
	"auth_openidc_module": "mod_auth_openidc.so",
}

// apacheAudience is the audience the protected location requires; tokens
// for apacheOtherAudience (also allowed to the account) must be refused.
const (
	apacheAudience      = "https://api.example.com"
	apacheOtherAudience = "https://other.example.com"
)

// apacheNeed skips when Apache or one of its modules is missing, except
// under TOKENWRIGHT_TEST_STRICT=1 (CI), where that is a failure.
func apacheNeed(t *testing.T) {
	t.Helper()
	endToEnd(t)
	need := []string{apacheBinary}
	for _, file := range apacheModules {
		need = append(need, filepath.Join(apacheModuleDir, file))
	}
	for _, path := range need {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
				t.Fatalf("%s is required (Debian packages apache2 and libapache2-mod-auth-openidc) but missing: %v", path, err)
			}
			t.Skipf("%s missing (install Debian's apache2 and libapache2-mod-auth-openidc): %v", path, err)
		}
	}
}

// apacheClock is tokenwright's clock: the real time plus an offset the
// test moves. Starting in the past lets the test sign genuinely expired
// tokens and pass a key's pre-publication window (jwksMaxAge + 30m) in no
// time, while every token the module should accept still has an exp in
// the real future, which is the only clock mod_auth_openidc reads.
type apacheClock struct{ offset atomic.Int64 }

func (c *apacheClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *apacheClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// apacheIssuer is a tokenwright server over TLS with one service account.
type apacheIssuer struct {
	s      *servertest.Server
	clock  *apacheClock
	hc     *http.Client // trusts only the test CA
	client string
	secret string
	// jwksSeen is how many JWKS fetches expectJWKSFetches has accounted for.
	jwksSeen int
}

// apacheStartIssuer starts tokenwright over TLS signing with alg. The
// account "apache-rs" may ask for both audiences; its tokens live an hour
// (the cap) so that they outlive the clock moves.
func apacheStartIssuer(t *testing.T, alg string, offset time.Duration) *apacheIssuer {
	t.Helper()
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(apachePKIDir, "ca.pem"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("test CA: %v", err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	clock := &apacheClock{}
	clock.Advance(offset)
	s := servertest.Start(t, servertest.Options{Now: clock.Now, HTTPClient: hc, Configure: func(c *config.Config) {
		c.TLS = tlsconfig.Source{Cert: filepath.Join(apachePKIDir, "server.pem"), Key: filepath.Join(apachePKIDir, "server.key")}
		c.Issuer = "https://" + c.Listen
		c.Signing.Algorithm = alg
		// The shortest windows the configuration allows: a rotated key
		// is published 1m + 30m before it signs. No scheduled rotation.
		c.Signing.JWKSMaxAge = config.Duration(time.Minute)
		c.Signing.RotationPeriod = 0
	}})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "apache-rs", Email: "apache-rs@example.com",
		AllowedAudiences: []string{apacheAudience, apacheOtherAudience}, TokenLifetime: int64(accounts.MaxTokenLifetime.Seconds())})
	key := s.CreateKey(t, "apache-rs", api.CreateKey{Name: "apache"})
	return &apacheIssuer{s: s, clock: clock, hc: hc, client: key.ClientID, secret: key.ClientSecret}
}

// token gets a token for audience with x/oauth2's client-credentials
// client (client_secret_basic).
func (is *apacheIssuer) token(t *testing.T, audience string) string {
	t.Helper()
	cc := &clientcredentials.Config{ClientID: is.client, ClientSecret: is.secret, TokenURL: is.s.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"resource": {audience}}}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, is.hc))
	if err != nil {
		t.Fatalf("token for %s: %v", audience, err)
	}
	return tok.AccessToken
}

// jwksFetches counts the JWKS requests tokenwright has answered (its
// request log has one line per request, with the path).
func (is *apacheIssuer) jwksFetches() int {
	n := 0
	for line := range strings.SplitSeq(is.s.Logs(), "\n") {
		var entry struct{ Path string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Path == "/keys" {
			n++
		}
	}
	return n
}

// expectJWKSFetches fails the test unless the module fetched the JWKS
// exactly want times since the last call. tokenwright logs a request when
// its handler returns, which may be just after the module has read the
// answer, so the count is awaited before it is compared; a fetch that is
// logged later still shows at the next call.
func (is *apacheIssuer) expectJWKSFetches(t *testing.T, what string, want int) {
	t.Helper()
	var got int
	eventually.True(t, 10*time.Second, what+": the module's JWKS fetches logged", func() bool {
		got = is.jwksFetches() - is.jwksSeen
		return got >= want
	})
	if got != want {
		t.Fatalf("%s: the module fetched the JWKS %d times, want %d", what, got, want)
	}
	is.jwksSeen += got
}

// signingKeys lists the signing keys as the administrator.
func (is *apacheIssuer) signingKeys(t *testing.T) []api.SigningKey {
	t.Helper()
	var list api.List[api.SigningKey]
	if code := is.s.Do(t, is.s.AdminToken, http.MethodGet, "/api/v1/signing-keys", nil, &list); code != http.StatusOK {
		t.Fatalf("listing signing keys: HTTP %d", code)
	}
	return list.Items
}

// apacheDirectives is the verifier's configuration, exactly as
// docs/verifiers.md shows it (TestApacheConfigDocumented keeps the two
// equal); Audience empty leaves out the audience requirement.
const apacheDirectives = `# Only for a private CA: the PEM file of the CA that signed tokenwright's certificate.
OIDCCABundlePath {{.CABundle}}
OIDCOAuthVerifyJwksUri {{.Issuer}}/keys
OIDCOAuthRemoteUserClaim sub
<Location "/api">
  AuthType oauth20
  # mod_auth_openidc checks only the signature and exp of a JWT access token:
  # the audience and the issuer are required here.
  <RequireAll>
{{- if .Audience}}
    Require claim "aud:{{.Audience}}"
{{- end}}
    Require claim "iss:{{.Issuer}}"
  </RequireAll>
</Location>
`

// apacheConfigTemplate is the whole httpd configuration around it: one
// server on 127.0.0.1, everything in Dir, and a response header that
// shows the test which REMOTE_USER the module set.
var apacheConfigTemplate = template.Must(template.New("httpd.conf").Parse(`# written by server/interop/apache_test.go
ServerRoot "{{.Dir}}"
ServerName 127.0.0.1
Listen 127.0.0.1:{{.Port}}
PidFile "{{.Dir}}/httpd.pid"
DefaultRuntimeDir "{{.Dir}}"
ErrorLog "{{.Dir}}/error.log"
LogLevel warn
{{range $name, $file := .Modules}}LoadModule {{$name}} {{$.ModuleDir}}/{{$file}}
{{end}}{{if .User}}User {{.User}}
Group {{.Group}}
{{end}}# One child process keeps the test light (the module's JWKS cache is in
# shared memory, so more children would share it).
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MinSpareThreads 1
MaxSpareThreads 4
MaxRequestWorkers 4
DocumentRoot "{{.Dir}}/htdocs"

` + apacheDirectives + `
<Location "/api">
  Header always set X-Remote-User "expr=%{REMOTE_USER}"
</Location>
`))

// apacheDocExample is the configuration docs/verifiers.md shows.
var apacheDocExample = map[string]any{"CABundle": "/etc/ssl/tokenwright-ca.pem",
	"Issuer": "https://tokenwright.example.com", "Audience": "https://api.example.com"}

// TestApacheConfigDocumented: the Apache configuration in
// docs/verifiers.md is the one the tests run, with example values.
func TestApacheConfigDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/verifiers.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```apache\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("docs/verifiers.md has no apache code block")
	}
	var want strings.Builder
	if err := template.Must(template.New("").Parse(apacheDirectives)).Execute(&want, apacheDocExample); err != nil {
		t.Fatal(err)
	}
	if block != want.String() {
		t.Fatalf("docs/verifiers.md's apache block differs from what the tests run; want:\n%s", want.String())
	}
}

// apacheHTTPD is a running Apache httpd.
type apacheHTTPD struct {
	url     string
	dir     string
	done    chan struct{} // closed when the process has exited
	waitErr error
	hc      *http.Client
}

// apacheStart runs Apache in the foreground, verifying tokens from
// issuer against its JWKS and requiring audience (none if empty), and
// stops it when the test ends.
func apacheStart(t *testing.T, issuer, audience string) *apacheHTTPD {
	t.Helper()
	apacheNeed(t)
	// A port taken between the probe and Apache's bind (other tests run on
	// this machine) fails the start: try a few ports.
	var lastErr error
	for range 3 {
		a, err := apacheTryStart(t, issuer, audience)
		if err == nil {
			return a
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return nil
}

func apacheTryStart(t *testing.T, issuer, audience string) (*apacheHTTPD, error) {
	t.Helper()
	// Apache's children run as User (www-data when the test runs as root),
	// so the directory must be readable to them: t.TempDir is 0700.
	dir, err := os.MkdirTemp("", "tokenwright-apache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(apachePKIDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "htdocs", "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"ca.pem": caPEM, "htdocs/api/whoami": []byte("protected\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	params := map[string]any{"Dir": dir, "Port": port, "Issuer": issuer, "Audience": audience, "CABundle": filepath.Join(dir, "ca.pem"),
		"Modules": apacheModules, "ModuleDir": apacheModuleDir}
	if os.Geteuid() == 0 {
		// Apache refuses to serve as root; an unprivileged user reads dir.
		params["User"], params["Group"] = apacheUnprivileged(t)
	}
	var conf bytes.Buffer
	if err := apacheConfigTemplate.Execute(&conf, params); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(confFile, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(apacheBinary, "-f", confFile, "-DFOREGROUND")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	// Apache stops with the test binary even if the test dies mid-way.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &apacheHTTPD{url: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir,
		done: make(chan struct{}), hc: &http.Client{Timeout: 60 * time.Second}}
	go func() { a.waitErr = cmd.Wait(); close(a.done) }()
	stop := func() {
		select {
		case <-a.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM) // graceful: the parent stops its children
		select {
		case <-a.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-a.done
		}
	}

	// Ready when Apache has logged that it runs (AH00489, after binding
	// its port) and accepts connections; an exit before that is a failed
	// start (e.g. the port was taken), reported with Apache's own words.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if strings.Contains(a.readFile("error.log"), "AH00489") {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				_ = conn.Close()
				break
			}
		}
		select {
		case <-a.done:
			return nil, fmt.Errorf("apache2 exited during start (%v): %s\n%s", a.waitErr, a.readFile("stdout.log"), a.readFile("error.log"))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("apache2 did not start on port %d within 30s: %s", port, a.readFile("error.log"))
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("apache2 error log:\n%s", a.readFile("error.log"))
		}
	})
	return a, nil
}

// apacheUnprivileged is the user and group Apache's children run as when
// the test runs as root: www-data (Debian's), else nobody.
func apacheUnprivileged(t *testing.T) (string, string) {
	t.Helper()
	for _, name := range []string{"www-data", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			continue
		}
		return u.Username, g.Name
	}
	t.Fatal("no unprivileged user (www-data, nobody) for Apache's children")
	return "", ""
}

func (a *apacheHTTPD) readFile(name string) string {
	data, _ := os.ReadFile(filepath.Join(a.dir, name))
	return string(data)
}

// apacheAnswer is what Apache answered to one request.
type apacheAnswer struct {
	status     int
	remoteUser string // X-Remote-User: the REMOTE_USER the module set
	body       string
	wwwAuth    string
	log        string // what the error log gained during the request
}

// get requests the protected file with token as bearer.
func (a *apacheHTTPD) get(t *testing.T, token string) apacheAnswer {
	t.Helper()
	before := len(a.readFile("error.log"))
	req, err := http.NewRequest(http.MethodGet, a.url+"/api/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Apache writes the error log line before it sends the answer, so it
	// is complete once the answer is read.
	return apacheAnswer{status: resp.StatusCode, remoteUser: resp.Header.Get("X-Remote-User"), body: string(body),
		wwwAuth: resp.Header.Get("WWW-Authenticate"), log: a.readFile("error.log")[before:]}
}

// accepted fails the test unless Apache served the file to subject.
func (ans apacheAnswer) accepted(t *testing.T, what, subject string) {
	t.Helper()
	if ans.status != http.StatusOK || ans.body != "protected\n" || ans.remoteUser != subject {
		t.Fatalf("%s: HTTP %d, REMOTE_USER %q, body %q (want 200 for %q)\nerror log:\n%s",
			what, ans.status, ans.remoteUser, ans.body, subject, ans.log)
	}
}

// refused fails the test unless Apache answered 401 and its error log
// gives reason (so that the refusal is the one under test, not, say, an
// unreachable JWKS).
func (ans apacheAnswer) refused(t *testing.T, what, reason string) {
	t.Helper()
	if ans.status != http.StatusUnauthorized || !strings.Contains(ans.log, reason) {
		t.Fatalf("%s: HTTP %d, WWW-Authenticate %q; want 401 and %q in the error log, which gained:\n%s",
			what, ans.status, ans.wwwAuth, reason, ans.log)
	}
}

// unauthenticated fails the test unless the module refused the token
// itself: 401, a Bearer invalid_token challenge, no REMOTE_USER, reason in
// the error log.
func (ans apacheAnswer) unauthenticated(t *testing.T, what, reason string) {
	t.Helper()
	ans.refused(t, what, reason)
	if !strings.HasPrefix(ans.wwwAuth, "Bearer") || !strings.Contains(ans.wwwAuth, `error="invalid_token"`) || ans.remoteUser != "" {
		t.Fatalf("%s: WWW-Authenticate %q, REMOTE_USER %q; want a Bearer invalid_token challenge and no user", what, ans.wwwAuth, ans.remoteUser)
	}
}

// apacheClaims decodes a JWT's header and payload without verifying it.
func apacheClaims(t *testing.T, jwt string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	decode := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

// apacheTamper returns jwt with its payload's subject changed and the
// original signature kept.
func apacheTamper(t *testing.T, jwt string) string {
	t.Helper()
	_, claims := apacheClaims(t, jwt)
	claims["sub"] = "admin"
	raw, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

// Error log phrases of mod_auth_openidc 2.4.12 for each refusal.
const (
	apacheBadSignature = "JWT signature verification failed" // not "could not refresh JSON Web Keys"
	apacheExpired      = `"exp" validation failure`
	apacheNotParsed    = "could not parse JWT from access_token"
	// A valid token whose claims miss a "Require claim": Apache's own
	// authorization failure (401 without a challenge, the user known).
	apacheWrongClaim = "authorization failure"
)

// TestApacheModAuthOpenIDC: Apache httpd with Debian's mod_auth_openidc
// as a resource server accepts tokenwright's RS256 and ES256 tokens,
// fetching the JWKS over TLS with only the test CA trusted; refuses
// tampered, expired and wrong-audience tokens; and, without a restart,
// keeps accepting fresh tokens across a pre-published `keys rotate`.
func TestApacheModAuthOpenIDC(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) { apacheVerify(t, alg) })
	}
}

func apacheVerify(t *testing.T, alg string) {
	apacheNeed(t)
	// tokenwright's clock starts 40 minutes back: tokens signed now
	// expire 20 minutes from now (real time), before and after the clock
	// passes the 31-minute pre-publication window below.
	is := apacheStartIssuer(t, alg, -40*time.Minute)
	a := apacheStart(t, is.s.URL, apacheAudience)
	// docs/verifiers.md mentions this warning, logged at start.
	if log := a.readFile("error.log"); !strings.Contains(log, "OAuth 2.0 Resource Server functionality is deprecated") {
		t.Errorf("the module no longer warns that its resource-server function is deprecated: update docs/verifiers.md\n%s", log)
	}

	valid := is.token(t, apacheAudience)
	header, claims := apacheClaims(t, valid)
	// The default token shape (typ JWT, aud an array) is what the module
	// is shown to accept: Require claim matches any element of an array.
	if aud, _ := claims["aud"].([]any); header["alg"] != alg || header["typ"] != "JWT" || claims["sub"] != is.client ||
		len(aud) != 1 || aud[0] != apacheAudience {
		t.Fatalf("token header %v, claims %v", header, claims)
	}
	a.get(t, valid).accepted(t, "valid token", is.client)
	is.expectJWKSFetches(t, "first token", 1)
	// A second request is served from the module's JWKS cache.
	a.get(t, valid).accepted(t, "valid token again", is.client)

	a.get(t, apacheTamper(t, valid)).unauthenticated(t, "tampered token", apacheBadSignature)
	// The signature verifies (REMOTE_USER is set); Require claim aud refuses.
	other := a.get(t, is.token(t, apacheOtherAudience))
	other.refused(t, "wrong audience", apacheWrongClaim)
	if other.remoteUser != is.client || strings.Contains(other.body, "protected") {
		t.Fatalf("wrong audience: REMOTE_USER %q, body %q", other.remoteUser, other.body)
	}

	// Expired: signed with tokenwright's clock an hour and a minute
	// further back, so its exp is a minute in the real past (the module
	// allows no leeway on exp).
	is.clock.Advance(-61 * time.Minute)
	expired := is.token(t, apacheAudience)
	is.clock.Advance(61 * time.Minute)
	if _, c := apacheClaims(t, expired); int64(c["exp"].(float64)) >= time.Now().Unix() {
		t.Fatalf("the expired token's exp %v is not in the past", c["exp"])
	}
	a.get(t, expired).unauthenticated(t, "expired token", apacheExpired)
	is.expectJWKSFetches(t, "tokens of a known kid", 0)

	// Pre-published rotation (`keys rotate`): the new key is published
	// now and signs once jwksMaxAge + 30m have passed on tokenwright's
	// clock. The module keeps its cached JWKS meanwhile.
	var pending api.SigningKey
	if code := is.s.Do(t, is.s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, &pending); code != http.StatusCreated || pending.State != "pending" {
		t.Fatalf("rotate: HTTP %d %+v", code, pending)
	}
	a.get(t, is.token(t, apacheAudience)).accepted(t, "token from the old key while the new one is pending", is.client)
	is.clock.Advance(time.Minute + signing.PublishMargin + time.Second)
	if _, err := is.s.Server.Signing().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys := is.signingKeys(t)
	if len(keys) != 2 || keys[0].KID != pending.KID || keys[0].State != "active" {
		t.Fatalf("after the window the new key should sign: %+v", keys)
	}
	fresh := is.token(t, apacheAudience)
	if h, _ := apacheClaims(t, fresh); h["kid"] != pending.KID {
		t.Fatalf("fresh token's kid %v, want the new key %s", h["kid"], pending.KID)
	}
	// The same Apache process, never restarted or reloaded.
	for i := range 3 {
		a.get(t, fresh).accepted(t, fmt.Sprintf("fresh token from the new key (request %d)", i+1), is.client)
	}
	a.get(t, valid).accepted(t, "token from the retired key", is.client)
	select {
	case <-a.done:
		t.Fatalf("apache2 exited: %v", a.waitErr)
	default:
	}
	// Measured, and what docs/verifiers.md states: the module refetched the
	// JWKS once, for the first token whose kid its cache did not have
	// (the cache otherwise lives OIDCJWKSRefreshInterval, default 3600 s).
	is.expectJWKSFetches(t, "across the pre-published rotation (once, on the unknown kid)", 1)

	// `keys rotate --now` (for a compromised key): the new key signs at
	// once, unseen by the module, whose refetch on the unknown kid makes
	// even the first such token pass.
	var now api.SigningKey
	if code := is.s.Do(t, is.s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", api.RotateSigningKey{Immediate: true}, &now); code != http.StatusCreated || now.State != "active" {
		t.Fatalf("rotate --now: HTTP %d %+v", code, now)
	}
	immediate := is.token(t, apacheAudience)
	if h, _ := apacheClaims(t, immediate); h["kid"] != now.KID {
		t.Fatalf("token after rotate --now has kid %v, want %s", h["kid"], now.KID)
	}
	a.get(t, immediate).accepted(t, "first token after rotate --now", is.client)
	a.get(t, fresh).accepted(t, "token from the key rotate --now retired", is.client)
	is.expectJWKSFetches(t, "after rotate --now (once, on the unknown kid)", 1)

	// The refetch is not rate-limited: each token naming a kid the JWKS
	// does not have costs one JWKS request (docs/verifiers.md says so).
	for i := range 3 {
		a.get(t, apacheWithKID(t, immediate, fmt.Sprintf("unknown-%d", i))).unauthenticated(t, "token with an unknown kid", apacheBadSignature)
	}
	is.expectJWKSFetches(t, "3 tokens with unknown kids", 3)
}

// apacheWithKID returns jwt with the kid in its header replaced (and so
// its signature broken).
func apacheWithKID(t *testing.T, jwt, kid string) string {
	t.Helper()
	header, _ := apacheClaims(t, jwt)
	header["kid"] = kid
	raw, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw) + jwt[strings.Index(jwt, "."):]
}

// TestApacheModAuthOpenIDCRejectsEdDSA measures what docs/verifiers.md
// says: mod_auth_openidc 2.4 (cjose) cannot verify EdDSA tokens, so it
// refuses every one, valid as it is.
func TestApacheModAuthOpenIDCRejectsEdDSA(t *testing.T) {
	apacheNeed(t)
	is := apacheStartIssuer(t, "EdDSA", 0)
	a := apacheStart(t, is.s.URL, apacheAudience)
	tok := is.token(t, apacheAudience)
	if h, _ := apacheClaims(t, tok); h["alg"] != "EdDSA" {
		t.Fatalf("token header %v", h)
	}
	ans := a.get(t, tok)
	if ans.status == http.StatusOK {
		t.Fatal("mod_auth_openidc accepted an EdDSA token: update docs/verifiers.md (and this test)")
	}
	ans.unauthenticated(t, "EdDSA token", apacheNotParsed)
	t.Logf("EdDSA: HTTP %d, error log:\n%s", ans.status, ans.log)
}

// TestApacheModAuthOpenIDCChecksNoAudience measures why the configuration
// in docs/verifiers.md requires the audience itself: without a Require
// claim for aud, the module admits a token issued for another audience.
func TestApacheModAuthOpenIDCChecksNoAudience(t *testing.T) {
	apacheNeed(t)
	is := apacheStartIssuer(t, "RS256", 0)
	a := apacheStart(t, is.s.URL, "")
	a.get(t, is.token(t, apacheOtherAudience)).accepted(t, "token for another audience, no aud requirement", is.client)
}
