package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

var (
	testWeb   = Props{Label: LabelWeb, CORS: CORSOff, Limit: LimitNone, Errors: ErrorsAPI, CSP: CSPStrict}
	testToken = Props{Label: LabelToken, CORS: CORSTokenEndpoint, Limit: LimitOAuth, Errors: ErrorsOAuth, CSP: CSPStrict, Form: true}
	testDocs  = Props{Label: LabelDiscovery, CORS: CORSOn, Limit: LimitNone, Errors: ErrorsAPI, CSP: CSPNone}
)

func bareTable() *Table {
	return newTable(func(_ Props, h http.Handler) http.Handler { return h }, testWeb)
}

// Every property must be declared: a zero value is refused.
func TestPropsValidate(t *testing.T) {
	t.Parallel()
	if err := testToken.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Props{
		"no label":  {CORS: CORSOff, Limit: LimitNone, Errors: ErrorsAPI, CSP: CSPStrict},
		"no CORS":   {Label: LabelWeb, Limit: LimitNone, Errors: ErrorsAPI, CSP: CSPStrict},
		"no limit":  {Label: LabelWeb, CORS: CORSOff, Errors: ErrorsAPI, CSP: CSPStrict},
		"no errors": {Label: LabelWeb, CORS: CORSOff, Limit: LimitNone, CSP: CSPStrict},
		"no CSP":    {Label: LabelWeb, CORS: CORSOff, Limit: LimitNone, Errors: ErrorsAPI},
	} {
		if p.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestUndeclaredPropertiesRefused: registering a route whose properties
// leave one undeclared stops the server from being built.
func TestUndeclaredPropertiesRefused(t *testing.T) {
	t.Parallel()
	tbl := bareTable()
	defer func() {
		if recover() == nil {
			t.Fatal("a route without a metrics label was registered")
		}
	}()
	tbl.Handle("/new", Props{CORS: CORSOff, Limit: LimitNone, Errors: ErrorsAPI, CSP: CSPStrict}, http.NotFoundHandler())
}

// The metrics label of a template route drops the variables' patterns,
// so a dashboard shows the route as its readers know it.
func TestBareTemplate(t *testing.T) {
	t.Parallel()
	const want = "/api/v1/service-accounts/{name}/keys/{id}:{action}"
	for _, tpl := range []string{want, "/api/v1/service-accounts/{name:[a-z0-9.-]+}/keys/{id:[a-z]{2,3}}:{action}"} {
		if got := bareTemplate(tpl); got != want {
			t.Errorf("bareTemplate(%q) = %q, want %q", tpl, got, want)
		}
	}
}

func BenchmarkEdgeMatch(b *testing.B) {
	tbl := bareTable()
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/oauth/authorize", "/keys"} {
		tbl.Handle(p, testDocs, http.NotFoundHandler())
	}
	tbl.Handle("/oauth/token", testToken, http.NotFoundHandler())
	tbl.Prefix("/", testWeb, http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, p := tbl.match(r); p != testToken {
			b.Fatal(p)
		}
	}
}
