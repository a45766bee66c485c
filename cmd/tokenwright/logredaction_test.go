package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// credentialLike is what must appear in no log line, audit record or error
// body: a tokenwright credential prefix or a JWT.
var credentialLike = regexp.MustCompile(`twk_|twp_|eyJ[0-9A-Za-z_-]*\.[0-9A-Za-z_-]*\.`)

// postToken sends a token request with the given form, and Basic
// credentials when user is not empty; it returns status and body.
func postToken(t *testing.T, base string, form url.Values, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestJSONLogsCarryNoCredential is issue 13's "done means" for findings 7
// and 8: `TOKENWRIGHT_LOG_FORMAT=json tokenwright serve` on an empty data
// directory, a lifecycle through the real HTTP API with a secret or a JWT
// sent in every wrong field, then: every line on stdout and stderr is JSON,
// none holds a credential, nor does the audit trail or any error body; the
// bootstrap token is only in DATA/admin.token (0600).
func TestJSONLogsCarryNoCredential(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data, "TOKENWRIGHT_LOG_FORMAT=json", "TOKENWRIGHT_LOG_LEVEL=debug")
	tok := adminToken(t, data)
	if fi, err := os.Stat(filepath.Join(data, "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v, mode %v", err, fi.Mode().Perm())
	}

	mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": "etl", "email": "etl@example.com",
		"allowedScopes": []string{"read"}, "allowedAudiences": []string{"https://api.example.com"}}, 201)
	secret := mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/etl/keys", map[string]any{"name": "k"}, 201)["clientSecret"].(string)
	mustCall(t, d.url, tok, "POST", "/api/v1/users", map[string]any{"userName": "bob", "email": "bob@example.com"}, 201)
	pat := mustCall(t, d.url, tok, "POST", "/api/v1/users/bob/tokens", map[string]any{"name": "laptop"}, 201)["clientSecret"].(string)

	code, body := postToken(t, d.url, url.Values{"grant_type": {"client_credentials"}}, "etl", secret)
	if code != 200 {
		t.Fatalf("token: HTTP %d %s", code, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tr)
	jwt := tr.AccessToken

	bodies := map[string]string{} // what clients were told when refused
	grant := func(extra url.Values) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	for _, s := range []string{secret, pat, jwt} {
		// Swapped Basic user and password.
		_, bodies["swapped basic"] = postToken(t, d.url, grant(nil), s, "etl")
		// The secret as client_id (form and Basic), with and without a secret.
		_, bodies["client_id=secret"] = postToken(t, d.url, grant(url.Values{"client_id": {s}, "client_secret": {"etl"}}), "", "")
		_, bodies["client_id=secret alone"] = postToken(t, d.url, grant(url.Values{"client_id": {s}}), "", "")
		// The secret as scope, resource and audience values of a valid client.
		_, bodies["scope"] = postToken(t, d.url, grant(url.Values{"scope": {"read " + s}}), "etl", secret)
		_, bodies["resource"] = postToken(t, d.url, grant(url.Values{"resource": {s}}), "etl", secret)
		_, bodies["resource url"] = postToken(t, d.url, grant(url.Values{"resource": {"https://api.example.com/" + s}}), "etl", secret)
		_, bodies["audience"] = postToken(t, d.url, grant(url.Values{"audience": {s}}), "etl", secret)
		// Values the OAuth library quotes in its own error descriptions.
		_, bodies["grant_type"] = postToken(t, d.url, url.Values{"grant_type": {s}}, "etl", secret)
		_, bodies["client_assertion_type"] = postToken(t, d.url, grant(url.Values{"client_id": {"etl"},
			"client_assertion_type": {s}, "client_assertion": {"x.y.z"}}), "", "")
		// In the URL query and path.
		for _, p := range []string{"/oauth/token?client_secret=" + url.QueryEscape(s), "/api/v1/service-accounts?x=" + url.QueryEscape(s),
			"/api/v1/service-accounts/" + url.PathEscape(s), "/" + url.PathEscape(s)} {
			refused(bodies, "GET "+p)(call(http.DefaultClient, d.url, tok, "GET", p, nil))
		}
		// Rejected admin input, which the audit trail records.
		for _, in := range []map[string]any{
			{"userName": s, "email": "x@example.com"},
			{"userName": "ok-name", "email": s},
			{"userName": "ok-name2", "email": s + "@example.com"},
			{"userName": "ok-name3", "email": "y@example.com", "allowedScopes": []string{s}},
			{"userName": "ok-name4", "email": "z@example.com", "allowedAudiences": []string{s}},
		} {
			refused(bodies, "create account")(call(http.DefaultClient, d.url, tok, "POST", "/api/v1/service-accounts", in))
			refused(bodies, "create user")(call(http.DefaultClient, d.url, tok, "POST", "/api/v1/users", in))
		}
		refused(bodies, "delete")(call(http.DefaultClient, d.url, tok, "DELETE", "/api/v1/service-accounts/"+url.PathEscape(s), nil))
		refused(bodies, "user update")(call(http.DefaultClient, d.url, tok, "PATCH", "/api/v1/users/bob", map[string]any{"email": s}))
		// A credential of the wrong kind as the admin bearer token.
		refused(bodies, "bearer")(call(http.DefaultClient, d.url, s, "GET", "/api/v1/users/me", nil))
		for name, b := range bodies {
			if credentialLike.MatchString(b) {
				t.Errorf("%s: the answer quotes a credential: %s", name, b)
			}
		}
	}

	_, audit := call(http.DefaultClient, d.url, tok, "GET", "/api/v1/audit?limit=1000", nil)
	if !strings.Contains(string(audit), "service_account.create") && !strings.Contains(string(audit), "create") {
		t.Fatalf("audit trail looks empty: %s", audit)
	}
	if m := credentialLike.FindString(string(audit)); m != "" {
		t.Errorf("the audit trail holds a credential (%q...): %s", m, audit)
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = d.wait()
	lines := 0
	for stream, text := range map[string]string{"stdout": d.stdout.String(), "stderr": d.stderr.String()} {
		for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
			if line == "" && text == "" {
				continue
			}
			lines++
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("%s: not JSON: %q", stream, line)
			}
			if m := credentialLike.FindString(line); m != "" {
				t.Errorf("%s: a credential in the log: %s", stream, line)
			}
		}
	}
	if !strings.Contains(d.stderr.String(), `"reason":"malformed_credential"`) ||
		!strings.Contains(d.stderr.String(), `"reason":"credential_kind_mismatch","ip":"127.0.0.1","time"`) ||
		!strings.Contains(d.stderr.String(), `"token_file":"`+filepath.Join(data, "admin.token")+`"`) {
		t.Errorf("the log lacks the reason codes or the token file's path:\n%s", d.stderr.String())
	}
	t.Logf("%d log lines, all JSON, no credential", lines)
}

// refused records an answer's body under name if the request was refused
// (what an accepted admin request stores is the administrator's business;
// what a refusal quotes back must hold no credential).
func refused(bodies map[string]string, name string) func(int, []byte) {
	return func(code int, body []byte) {
		if code >= 400 {
			bodies[name] = string(body)
		}
	}
}

// TestGatewayLogsCarryNoKey (issue 13, finding 7, gateway): a key sent as
// the wrong field of the gateway's credentials (a swapped Basic user and
// password, the account part of X-Api-Key) or in the path reaches neither
// the gateway's log nor its error answers.
func TestGatewayLogsCarryNoKey(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	up := verifyingUpstream(t, d.url)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(d.data, "admin.token")}
	run(t, env, false, "sa", "create", "nb", "--email", "nb@example.com", "--audience", "Domino", "--audience", up+"/api/*")
	var key struct{ ClientSecret string }
	if err := json.Unmarshal([]byte(run(t, env, false, "key", "create", "nb", "--name", "k", "-o", "json")), &key); err != nil {
		t.Fatal(err)
	}
	g, glog := startProxy(t, env, "--upstream", up, "--accept-api-key", "--audience", "Domino", "--client-id", "nb")
	basic := func(user, pass string) http.Header {
		r, _ := http.NewRequest(http.MethodGet, g, nil)
		r.SetBasicAuth(user, pass)
		return r.Header
	}
	for name, c := range map[string]struct {
		path   string
		header http.Header
	}{
		"swapped basic":    {"/api/data", basic(key.ClientSecret, "nb")},
		"key as account":   {"/api/data", http.Header{"X-Api-Key": {key.ClientSecret + ":nb"}}},
		"key in the path":  {"/other/" + key.ClientSecret, http.Header{"X-Api-Key": {key.ClientSecret}}},
		"key in the query": {"/other?k=" + key.ClientSecret, http.Header{"X-Api-Key": {key.ClientSecret}}},
	} {
		code, body := fetch(t, g+c.path, c.header)
		if code < 400 {
			t.Fatalf("%s: HTTP %d", name, code)
		}
		if credentialLike.MatchString(body) {
			t.Errorf("%s: the answer quotes the key: %s", name, body)
		}
	}
	// A refused request logs synchronously before it is answered, and the
	// answers above have all arrived.
	if !strings.Contains(glog.String(), "key refused") {
		t.Fatalf("the gateway logged no refusal:\n%s", glog)
	}
	for line := range strings.SplitSeq(glog.String(), "\n") {
		if credentialLike.MatchString(line) {
			t.Errorf("gateway log: %s", line)
		}
	}
}
