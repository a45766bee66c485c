package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// hostileEndpoint is one route of the server with a representative path.
type hostileEndpoint struct {
	method, path string
	admin        bool // send the administrator's token
	body         bool // the handler reads a body (form or JSON)
	form         bool // the body is a form (the token endpoint)
}

// hostileMutation turns a baseline request into a hostile one. must4xx
// says whether the answer must be a client error; otherwise it must just
// not be a 5xx (a GET of the JWKS with junk in the query is a fine 200).
type hostileMutation struct {
	name    string
	applies func(e hostileEndpoint) bool
	must4xx func(e hostileEndpoint) bool
	build   func(e hostileEndpoint, r *rawRequest)
}

// rawRequest is written byte for byte, so that requests no well-behaved
// client library would produce (invalid UTF-8 in the path, duplicated
// headers, bodies that lie about their encoding) reach the server.
type rawRequest struct {
	method, target string
	headers        [][2]string
	body           []byte
}

func (r *rawRequest) set(name, value string) {
	for i, h := range r.headers {
		if strings.EqualFold(h[0], name) {
			r.headers[i][1] = value
			return
		}
	}
	r.headers = append(r.headers, [2]string{name, value})
}

func (r *rawRequest) add(name, value string) { r.headers = append(r.headers, [2]string{name, value}) }

func (r *rawRequest) bytes(host string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, r.target, host)
	for _, h := range r.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if r.body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}

func sendRaw(addr string, req []byte) (*http.Response, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	// A server may answer (413, 431) before reading everything we send;
	// write in the background so that does not block us.
	go func() { _, _ = conn.Write(req) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

func always(hostileEndpoint) bool    { return true }
func never(hostileEndpoint) bool     { return false }
func hasBody(e hostileEndpoint) bool { return e.body }
func jsonBody(e hostileEndpoint) bool {
	return e.body && !e.form
}
func formBody(e hostileEndpoint) bool { return e.form }

func hostileMutations(adminToken string) []hostileMutation {
	big := strings.Repeat("A", 2<<20)
	setJSON := func(r *rawRequest, body string) {
		r.set("Content-Type", "application/json")
		r.body = []byte(body)
	}
	setForm := func(r *rawRequest, body string) {
		r.set("Content-Type", "application/x-www-form-urlencoded")
		r.body = []byte(body)
	}
	validForm := "grant_type=client_credentials"
	return []hostileMutation{
		// Paths.
		{"path NUL", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "%00" }},
		{"path overlong UTF-8 slash", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "/%C0%AF..%C0%AF" }},
		{"path raw invalid UTF-8", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "\xc0\xaf\xff" }},
		{"path traversal", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "/..%2f..%2f..%2fetc%2fpasswd" }},
		{"path RTL override", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "%E2%80%AEgpj.exe" }},
		{"path homoglyph name", func(e hostileEndpoint) bool { return strings.Contains(e.path, "ci-bot") }, always,
			func(e hostileEndpoint, r *rawRequest) {
				r.target = strings.Replace(r.target, "ci-bot", "\u0441i-bot", 1)
			}},
		{"path homoglyph percent-encoded", func(e hostileEndpoint) bool { return strings.Contains(e.path, "ci-bot") }, always,
			func(e hostileEndpoint, r *rawRequest) {
				r.target = strings.Replace(r.target, "ci-bot", "%D1%81i-bot", 1)
			}},
		// Queries.
		{"query bad escape", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "?a=%zz&%%=1" }},
		{"query 6 KiB", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "?x=" + strings.Repeat("%E2%80%AE", 700) }},
		{"query duplicated", always, never, func(e hostileEndpoint, r *rawRequest) { r.target += "?limit=1&limit=2&page=-1&page=x" }},
		{"query client_secret", always, always, func(e hostileEndpoint, r *rawRequest) { r.target += "?client_secret=s3cret" }},
		{"query ACCESS_TOKEN mixed case", always, always, func(e hostileEndpoint, r *rawRequest) { r.target += "?x=1&Access_Token=abc" }},
		{"query api_key encoded name", always, always, func(e hostileEndpoint, r *rawRequest) { r.target += "?api%5Fkey=abc" }},
		// Headers.
		{"header 20 KiB", always, always, func(e hostileEndpoint, r *rawRequest) { r.add("X-Big", strings.Repeat("b", 20<<10)) }},
		{"authorization NUL", always, func(e hostileEndpoint) bool { return e.admin }, func(e hostileEndpoint, r *rawRequest) {
			r.set("Authorization", "Bearer twp_\x00\x01\x02")
		}},
		{"authorization duplicated", always, never, func(e hostileEndpoint, r *rawRequest) {
			r.add("Authorization", "Bearer "+adminToken)
			r.add("Authorization", "Basic Y2ktYm90Og==")
		}},
		{"authorization basic garbage", always, func(e hostileEndpoint) bool { return e.admin || e.form }, func(e hostileEndpoint, r *rawRequest) {
			r.set("Authorization", "Basic !!!not-base64\xff")
		}},
		{"authorization basic invalid UTF-8 user", always, func(e hostileEndpoint) bool { return e.admin || e.form }, func(e hostileEndpoint, r *rawRequest) {
			r.set("Authorization", "Basic wK/Ar/8=") // "\xc0\xaf\xc0\xaf\xff"
		}},
		{"authorization overlong bearer", always, func(e hostileEndpoint) bool { return e.admin }, func(e hostileEndpoint, r *rawRequest) {
			r.set("Authorization", "Bearer "+strings.Repeat("twp_", 2000))
		}},
		// Bodies: sizes and encodings.
		{"body 2 MiB", always, hasBody, func(e hostileEndpoint, r *rawRequest) {
			r.set("Content-Type", map[bool]string{true: "application/x-www-form-urlencoded", false: "application/json"}[e.form])
			r.body = []byte(big)
		}},
		{"body wrong content type", hasBody, always, func(e hostileEndpoint, r *rawRequest) {
			r.set("Content-Type", "text/plain")
			r.body = []byte("grant_type=client_credentials")
		}},
		{"body multipart", hasBody, always, func(e hostileEndpoint, r *rawRequest) {
			r.set("Content-Type", "multipart/form-data; boundary=x")
			r.body = []byte("--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n")
		}},
		{"body content type garbage", hasBody, always, func(e hostileEndpoint, r *rawRequest) {
			r.set("Content-Type", ";;;=\x00")
			r.body = []byte("{}")
		}},
		{"body UTF-16", hasBody, always, func(e hostileEndpoint, r *rawRequest) {
			ct := map[bool]string{true: "application/x-www-form-urlencoded; charset=utf-16", false: "application/json; charset=utf-16"}[e.form]
			r.set("Content-Type", ct)
			r.body = []byte("\xff\xfe{\x00\"\x00u\x00\"\x00:\x001\x00}\x00")
		}},
		{"body gzip lie", hasBody, always, func(e hostileEndpoint, r *rawRequest) {
			r.set("Content-Type", map[bool]string{true: "application/x-www-form-urlencoded", false: "application/json"}[e.form])
			r.set("Content-Encoding", "gzip")
			r.body = []byte("\x1f\x8b\x08\x00garbage")
		}},
		// JSON bodies.
		{"json garbage", jsonBody, always, func(e hostileEndpoint, r *rawRequest) { setJSON(r, "\x00\xff{{{") }},
		{"json truncated", jsonBody, always, func(e hostileEndpoint, r *rawRequest) { setJSON(r, `{"userName":"x`) }},
		{"json two values", jsonBody, always, func(e hostileEndpoint, r *rawRequest) { setJSON(r, `{} {}`) }},
		{"json array", jsonBody, always, func(e hostileEndpoint, r *rawRequest) { setJSON(r, `[1,2,3]`) }},
		{"json deep nesting", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, `{"claims":`+strings.Repeat(`{"a":`, 20000)+"1"+strings.Repeat("}", 20000)+"}")
		}},
		{"json duplicated keys", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, `{"userName":"dup","userName":"ci-bot","email":"x@example.com","email":"","name":"a","name":"","tokenLifetime":-1}`)
		}},
		{"json wrong types", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, `{"userName":1,"email":[],"roles":"x","name":{},"expiresIn":"soon","tokenLifetime":1e400}`)
		}},
		{"json unknown field", jsonBody, always, func(e hostileEndpoint, r *rawRequest) { setJSON(r, `{"isAdmin":true}`) }},
		{"json NUL in string", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, `{"userName":"a\u0000b","email":"a\u0000@example.com","name":"k\u0000","description":"\u0000"}`)
		}},
		{"json overlong UTF-8", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, "{\"userName\":\"\xc0\xaf\xe0\x80\xaf\",\"email\":\"\xc0\xae@example.com\",\"name\":\"\xc0\xaf\",\"description\":\"\xc0\xaf\"}")
		}},
		{"json RTL override", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, `{"userName":"evil\u202etxt.exe","email":"rtl@example.com","name":"rtl\u202e","description":"\u202egnp.exe","notesName":"CN=\u202enimda"}`)
		}},
		{"json homoglyph name", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			setJSON(r, `{"userName":"\u0441i-bot","email":"homoglyph@example.com","name":"\u0441i","roles":["\u0430dmin"]}`)
		}},
		{"json huge strings", jsonBody, always, func(e hostileEndpoint, r *rawRequest) {
			s := strings.Repeat("x", 60<<10)
			setJSON(r, `{"userName":"`+s+`"}`)
		}},
		// Forms (token endpoint).
		{"form bad escape", formBody, always, func(e hostileEndpoint, r *rawRequest) { setForm(r, "grant_type=%zz&client_id=%") }},
		{"form duplicated grant_type", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, validForm+"&grant_type=password&client_id=a&client_id=b&client_secret=x&client_secret=y")
		}},
		{"form unsupported grant", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x")
		}},
		{"form NUL and RTL", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, validForm+"&client_id=ci%00bot&client_secret=%E2%80%AEtwk_x")
		}},
		{"form homoglyph client", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, validForm+"&client_id=%D1%81i-bot&client_secret=twk_x")
		}},
		{"form overlong UTF-8", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, "grant_type=client%C0%AFcredentials&client_id=%C0%AF&client_secret=%E0%80%AF")
		}},
		{"form client assertion garbage", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, validForm+"&client_id=ci-bot&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"+
				"&client_assertion=eyJhbGciOiJub25lIn0.eyJpc3MiOiJjaS1ib3QifQ.")
		}},
		{"form scope 7 KiB", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, validForm+"&client_id=ci-bot&client_secret=x&scope="+strings.Repeat("a+", 3500))
		}},
		{"form 9 KiB", formBody, always, func(e hostileEndpoint, r *rawRequest) {
			setForm(r, validForm+"&pad="+strings.Repeat("p", 9<<10))
		}},
	}
}

func TestHostileInputNeverGets5xx(t *testing.T) {
	t.Parallel()
	// Limits off: the point is to reach every handler, not the limiter
	// (which answers 429 with a proper body and is tested elsewhere).
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Limits.Enabled = false }})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"})
	var pat api.KeyWithSecret
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/users/admin/tokens", map[string]any{"name": "p"}, &pat); code != 201 {
		t.Fatalf("creating a PAT: HTTP %d", code)
	}

	sa, k, user, pk := "/api/v1/service-accounts/ci-bot", key.ID, "/api/v1/users/admin", pat.ID
	endpoints := []hostileEndpoint{
		{method: "GET", path: "/.well-known/openid-configuration"},
		{method: "GET", path: "/.well-known/oauth-authorization-server"},
		{method: "GET", path: "/keys"},
		{method: "POST", path: "/oauth/token", body: true, form: true},
		{method: "POST", path: "/oauth/introspect", body: true, form: true},
		{method: "POST", path: "/oauth/revoke", body: true, form: true},
		{method: "GET", path: "/oauth/authorize"},
		{method: "POST", path: "/oauth/authorize", body: true, form: true},
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/readyz"},
		{method: "GET", path: "/metrics"},
		{method: "GET", path: "/"},
		{method: "GET", path: "/api/v1/openapi.yaml"},
		{method: "POST", path: "/api/v1/service-accounts", admin: true, body: true},
		{method: "GET", path: "/api/v1/service-accounts", admin: true},
		{method: "GET", path: sa, admin: true},
		{method: "PATCH", path: sa, admin: true, body: true},
		{method: "POST", path: sa + "/keys", admin: true, body: true},
		{method: "GET", path: sa + "/keys", admin: true},
		{method: "GET", path: sa + "/keys/" + k, admin: true},
		{method: "POST", path: sa + "/owners", admin: true, body: true},
		{method: "POST", path: "/api/v1/users", admin: true, body: true},
		{method: "GET", path: "/api/v1/users", admin: true},
		{method: "GET", path: user, admin: true},
		{method: "PATCH", path: user, admin: true, body: true},
		{method: "POST", path: user + "/tokens", admin: true, body: true},
		{method: "GET", path: user + "/tokens", admin: true},
		{method: "GET", path: "/api/v1/tokens", admin: true},
		{method: "GET", path: "/api/v1/audit", admin: true},
		{method: "GET", path: "/api/v1/signing-keys", admin: true},
		{method: "POST", path: "/api/v1/signing-keys:rotate", admin: true, body: true},
		{method: "DELETE", path: "/api/v1/signing-keys/no-such-kid", admin: true},
		{method: "GET", path: "/api/v1/domino/setup", admin: true},
		{method: "GET", path: "/api/v1/backup", admin: true},
		// State-changing routes without bodies go last: a hostile request
		// that is (correctly) accepted changes what later ones see.
		{method: "POST", path: sa + "/keys/" + k + ":rotate", admin: true},
		{method: "POST", path: sa + "/keys/" + k + ":revoke", admin: true},
		{method: "POST", path: sa + "/keys:revokeAll", admin: true},
		{method: "POST", path: sa + ":deactivate", admin: true},
		{method: "POST", path: sa + ":activate", admin: true},
		{method: "DELETE", path: sa + "/owners/admin", admin: true},
		{method: "POST", path: user + "/tokens/" + pk + ":revoke", admin: true},
		{method: "POST", path: user + "/tokens:revokeAll", admin: true},
		{method: "DELETE", path: user + "/tokens/" + pk, admin: true},
		{method: "DELETE", path: sa + "/keys/" + k, admin: true},
		{method: "DELETE", path: sa, admin: true},
		{method: "DELETE", path: user, admin: true},
	}
	type failure struct{ what, why string }
	var failures []failure
	sent, fiveXX, fourXX, byNetHTTP := 0, 0, 0, 0
	perEndpoint := map[string]int{}
	for _, e := range endpoints {
		for _, m := range hostileMutations(s.AdminToken) {
			if !m.applies(e) {
				continue
			}
			r := &rawRequest{method: e.method, target: e.path}
			if e.admin {
				r.set("Authorization", "Bearer "+s.AdminToken)
			}
			if e.form {
				r.set("Authorization", "Basic Y2ktYm90Ondyb25n") // ci-bot:wrong
			}
			m.build(e, r)
			what := e.method + " " + e.path + " [" + m.name + "]"
			resp, body, err := sendRaw(s.Addr, r.bytes(s.Addr))
			sent++
			perEndpoint[e.method+" "+e.path]++
			if err != nil {
				failures = append(failures, failure{what, "no HTTP answer: " + err.Error()})
				continue
			}
			if resp.StatusCode >= 500 {
				fiveXX++
				failures = append(failures, failure{what, fmt.Sprintf("HTTP %d %q", resp.StatusCode, body)})
				continue
			}
			if resp.StatusCode >= 400 {
				fourXX++
			}
			if m.must4xx(e) && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
				failures = append(failures, failure{what, fmt.Sprintf("HTTP %d, want 4xx: %.200q", resp.StatusCode, body)})
				continue
			}
			if resp.StatusCode >= 400 {
				// net/http itself answers requests it cannot parse (431,
				// malformed request line) in plain text before any
				// handler runs; everything else must be our JSON.
				if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") && (resp.StatusCode == 431 || resp.StatusCode == 400) {
					byNetHTTP++
					continue
				}
				var eb map[string]any
				if err := json.Unmarshal(body, &eb); err != nil || eb["error"] == nil || eb["error"] == "" {
					failures = append(failures, failure{what, fmt.Sprintf("HTTP %d without a JSON error body: %.200q", resp.StatusCode, body)})
					continue
				}
				_, oauthStyle := eb["error_description"]
				_, adminStyle := eb["message"]
				if !oauthStyle && !adminStyle {
					failures = append(failures, failure{what, fmt.Sprintf("error body has neither error_description nor message: %.200q", body)})
				}
			}
		}
	}
	// The server is still healthy afterwards.
	if code := s.Do(t, "", http.MethodGet, "/readyz", nil, nil); code != 200 {
		t.Errorf("readyz after the hostile suite: HTTP %d", code)
	}
	if strings.Contains(s.Logs(), "handler panicked") {
		t.Error("a handler panicked (recovered) during the hostile suite")
	}
	names := make([]string, 0, len(perEndpoint))
	for n := range perEndpoint {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("hostile requests sent: %d over %d endpoints; 4xx: %d (of which %d answered by net/http itself); 5xx: %d",
		sent, len(endpoints), fourXX, byNetHTTP, fiveXX)
	for _, f := range failures {
		t.Errorf("%s: %s", f.what, f.why)
	}
}
