package sso_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
)

// A refused sign-in is an HTML page (the browser lands on it) under the
// strict policy, and the reason, which can quote what the provider sent,
// is escaped: markup in a provider's error_description is shown as text.
func TestRefusalPageEscapesTheReason(t *testing.T) {
	e := start(t, nil, alice)
	browser := ssotest.Browser(t)
	c := *browser
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(e.tw.URL + sso.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("state") == "" {
		t.Fatalf("login answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := url.Values{"state": {loc.Query().Get("state")}, "error": {"access_denied"}, "error_description": {`<script>alert(1)</script>`}}
	resp, err = browser.Get(e.tw.URL + sso.CallbackPath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refusal: %d %v", resp.StatusCode, resp.Header)
	}
	if strings.Contains(page, "<script>") || !strings.Contains(page, "the identity provider refused: access_denied &lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("the reason is not escaped:\n%s", page)
	}
	if !strings.Contains(page, `<a id="back" href="/ui/">`) {
		t.Errorf("no way back to the console:\n%s", page)
	}
}
