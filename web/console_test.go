package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/servertest"
)

// noRedirect lets a test see redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestConsoleServesAssetsWithSecurityHeaders(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	cases := []struct {
		path, contentType, contains string
	}{
		{"/ui/", "text/html", `<script type="module" src="js/app.js"></script>`},
		{"/ui/style.css", "text/css", ".badge"},
		{"/ui/js/router.js", "javascript", "export async function refresh"},
		{"/ui/js/pages/accounts.js", "javascript", "accountsPage"},
	}
	for _, c := range cases {
		resp, body := get(t, srv.URL+c.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d", c.path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, c.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.contentType)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		h := resp.Header
		// Exactly one policy: browsers enforce every CSP header they get,
		// so a second, stricter one (the server's default) would break the page.
		if n := len(h.Values("Content-Security-Policy")); n != 1 {
			t.Errorf("GET %s: %d Content-Security-Policy headers, want 1", c.path, n)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", c.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline code", c.path, csp)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", c.path, got)
		}
		if got := h.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("GET %s: Referrer-Policy %q", c.path, got)
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q", c.path, got)
		}
	}

	resp, _ := get(t, srv.URL+"/ui")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: HTTP %d Location %q, want 301 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Unknown files and directories are JSON 404s, never a listing.
	for _, p := range []string{"/ui/nope.js", "/ui/js/", "/ui/js", "/ui/js/pages/", "/ui/../go.mod", "/ui/%2e%2e/web.go"} {
		resp, body := get(t, srv.URL+p)
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: HTTP 200, want an error (body %.80q)", p, body)
		}
		if resp.StatusCode == http.StatusNotFound && !strings.Contains(body, `"error":"not_found"`) {
			t.Errorf("GET %s: 404 body %q is not the JSON error", p, body)
		}
	}
	// The landing page links to the console.
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `href="/ui/"`) {
		t.Error("the landing page does not link the console")
	}
}

// TestConsoleSourcesNeverParseHTML guards the XSS rule at the source: API
// data (account names, descriptions, claims) is user input, so no script may
// hand strings to the HTML parser, and the page has no inline script for the
// CSP to allow. The browser test checks the same rule end to end.
func TestConsoleSourcesNeverParseHTML(t *testing.T) {
	sinks := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write|createContextualFragment|\beval\(|new Function\(|setHTMLUnsafe|DOMParser`)
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|style=`)
	var files int
	err := filepath.WalkDir("console", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		switch filepath.Ext(path) {
		case ".js":
			if m := sinks.Find(data); m != nil {
				t.Errorf("%s uses %q: build DOM nodes and use textContent instead", path, m)
			}
		case ".html":
			if m := inline.Find(data); m != nil {
				t.Errorf("%s has inline code or style %q, which the CSP forbids", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found only %d console files: wrong directory?", files)
	}
}

// TestConsoleModulesHaveNoImportCycle: the shell (app.js) imports the
// pages, so a page that needs navigate or refresh imports router.js, never
// the shell back. A cycle between ES modules runs one of them before the
// other has defined its exports, which works only by the accident of call
// order.
func TestConsoleModulesHaveNoImportCycle(t *testing.T) {
	from := regexp.MustCompile(`(?m)^\s*import\s[^;]*?\sfrom\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	imports := map[string][]string{}
	err := filepath.WalkDir("console", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".js" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		imports[path] = nil
		for _, m := range from.FindAllStringSubmatch(string(data), -1) {
			imports[path] = append(imports[path], filepath.Join(filepath.Dir(path), m[1]+m[2]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports["console/js/app.js"]) < 5 {
		t.Fatalf("found %d imports in console/js/app.js: does the pattern still match the sources?", len(imports["console/js/app.js"]))
	}
	// Depth-first search; a module met again while still on the path
	// closes a cycle.
	const onPath, done = 1, 2
	state := map[string]int{}
	var path []string
	var visit func(m string)
	visit = func(m string) {
		switch state[m] {
		case onPath:
			t.Errorf("import cycle: %s -> %s", strings.Join(path, " -> "), m)
			return
		case done:
			return
		}
		if _, ok := imports[m]; !ok {
			t.Errorf("%s imports %s, which does not exist", path[len(path)-1], m)
			return
		}
		state[m] = onPath
		path = append(path, m)
		for _, next := range imports[m] {
			visit(next)
		}
		path = path[:len(path)-1]
		state[m] = done
	}
	for m := range imports {
		visit(m)
	}
}
