package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// conformance sends real requests to a real server and validates each
// request and response against openapi.yaml with kin-openapi's
// openapi3filter: the status must be one the operation documents, and the
// body must match its schema (types, enums, formats, required fields).
type conformance struct {
	t      *testing.T
	srv    *servertest.Server
	router routers.Router
	seen   map[string][]int // operationId -> statuses seen
}

func newConformance(t *testing.T, srv *servertest.Server) *conformance {
	doc := loadSpec(t)
	doc.Servers = openapi3.Servers{{URL: srv.URL + "/api/v1"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance{t: t, srv: srv, router: router, seen: map[string][]int{}}
}

// do sends method path with body (JSON-encoded unless a []byte) and the
// bearer token, validates both sides and decodes a JSON answer into out.
func (c *conformance) do(token, method, path string, body, out any) int {
	t := c.t
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.srv.URL+"/api/v1"+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.yaml: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	validateRequest := func() error {
		req.Body = io.NopCloser(bytes.NewReader(raw))
		return openapi3filter.ValidateRequest(context.Background(), in)
	}
	reqErr := validateRequest()
	req.Body = http.NoBody // a reset body of length 0 would go out chunked
	if raw != nil {
		req.Body = io.NopCloser(bytes.NewReader(raw))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// A request the spec calls valid must not be refused as invalid, and
	// one the server accepts must be valid by the spec.
	if resp.StatusCode < 300 && reqErr != nil {
		t.Errorf("%s %s: the server accepted (%d) a request the spec rejects: %v", method, path, resp.StatusCode, reqErr)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(data)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		t.Errorf("%s %s: the %d response does not match openapi.yaml: %v\n%s", method, path, resp.StatusCode, err, data)
	}
	c.seen[route.Operation.OperationID] = append(c.seen[route.Operation.OperationID], resp.StatusCode)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// TestOpenAPIResponsesConform drives the admin API through a real server
// (issue 16, finding 5) and validates every exchange against the spec:
// successes and the error statuses the spec now documents (400, 401, 404,
// 409, 413, 415, 429), so a response shape or status that drifts from
// openapi.yaml fails here.
func TestOpenAPIResponsesConform(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.Domino.Sites = []string{"https://domino.example.com"}
	}})
	c := newConformance(t, srv)
	admin := srv.AdminToken
	expect := func(want, got int) {
		t.Helper()
		if got != want {
			t.Fatalf("status %d, want %d (%v)", got, want, c.seen)
		}
	}

	expect(201, c.do(admin, "POST", "/users", api.CreateUser{UserName: "alice", Email: "alice@example.com"}, nil))
	expect(409, c.do(admin, "POST", "/users", api.CreateUser{UserName: "alice", Email: "alice2@example.com"}, nil))
	expect(200, c.do(admin, "GET", "/users", nil, nil))
	expect(200, c.do(admin, "GET", "/users/me", nil, nil))
	var pat api.KeyWithSecret
	expect(201, c.do(admin, "POST", "/users/alice/tokens", api.CreateKey{Name: "laptop"}, &pat))
	expect(200, c.do(admin, "GET", "/users/alice/tokens?limit=10", nil, nil))
	expect(200, c.do(admin, "GET", "/tokens?status=active", nil, nil))
	expect(400, c.do(admin, "GET", "/tokens?limit=0", nil, nil))
	expect(200, c.do(admin, "POST", "/users/alice/tokens/"+pat.ID+":revoke", nil, nil))

	expect(201, c.do(admin, "POST", "/service-accounts", api.CreateServiceAccount{UserName: "ci-bot", Email: "ci@example.com",
		Owners: []string{"alice"}, Claims: map[string]any{"team": "ops"}}, nil))
	expect(200, c.do(admin, "GET", "/service-accounts", nil, nil))
	expect(200, c.do(admin, "GET", "/service-accounts/ci-bot", nil, nil))
	expect(404, c.do(admin, "GET", "/service-accounts/nobody", nil, nil))
	desc := "builds"
	expect(200, c.do(admin, "PATCH", "/service-accounts/ci-bot", api.UpdateServiceAccount{Description: &desc}, nil))
	expect(200, c.do(admin, "POST", "/service-accounts/ci-bot:deactivate", nil, nil))
	expect(200, c.do(admin, "POST", "/service-accounts/ci-bot:activate", nil, nil))
	var key api.KeyWithSecret
	expect(201, c.do(admin, "POST", "/service-accounts/ci-bot/keys", api.CreateKey{Name: "deploy"}, &key))
	expect(200, c.do(admin, "GET", "/service-accounts/ci-bot/keys", nil, nil))
	expect(200, c.do(admin, "GET", "/service-accounts/ci-bot/keys/"+key.ID, nil, nil))
	expect(200, c.do(admin, "POST", "/service-accounts/ci-bot/keys/"+key.ID+":rotate", api.RotateKey{}, nil))
	expect(200, c.do(admin, "POST", "/service-accounts/ci-bot/keys/"+key.ID+":revoke", nil, nil))
	expect(409, c.do(admin, "POST", "/service-accounts/ci-bot/keys/"+key.ID+":rotate", nil, nil))
	expect(200, c.do(admin, "POST", "/service-accounts/ci-bot/keys:revokeAll", nil, nil))
	expect(204, c.do(admin, "DELETE", "/service-accounts/ci-bot/keys/"+key.ID, nil, nil))
	expect(400, c.do(admin, "POST", "/service-accounts/ci-bot/keys", []byte(`{"name": 1}`), nil))
	expect(400, c.do(admin, "POST", "/service-accounts/ci-bot/keys", []byte(`{"nam": "x"}`), nil))
	expect(413, c.do(admin, "POST", "/service-accounts/ci-bot/keys", append(append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), 70<<10)...), '"', '}'), nil))
	var rule api.FederationRule
	expect(201, c.do(admin, "POST", "/service-accounts/ci-bot/federation", []byte(`{"name":"gh","issuer":"https://token.actions.githubusercontent.com",
		"claims":{"repository_id":123,"ref":["refs/heads/main"]},"condition":"claims.ref_type == \"branch\"","maxTokenAge":600}`), &rule))
	expect(409, c.do(admin, "POST", "/service-accounts/ci-bot/federation", api.CreateFederationRule{Name: "gh", Issuer: "https://token.actions.githubusercontent.com", Subject: "x"}, nil))
	expect(400, c.do(admin, "POST", "/service-accounts/ci-bot/federation", api.CreateFederationRule{Name: "x", Issuer: "https://gitlab.com", Condition: "claims.ref"}, nil))
	expect(404, c.do(admin, "POST", "/service-accounts/nobody/federation", api.CreateFederationRule{Name: "x", Issuer: "https://gitlab.com", Subject: "x"}, nil))
	expect(200, c.do(admin, "GET", "/service-accounts/ci-bot/federation", nil, nil))
	expect(200, c.do(admin, "GET", "/service-accounts/ci-bot/federation/"+rule.ID, nil, nil))
	expect(204, c.do(admin, "DELETE", "/service-accounts/ci-bot/federation/"+rule.ID, nil, nil))
	expect(404, c.do(admin, "GET", "/service-accounts/ci-bot/federation/"+rule.ID, nil, nil))
	expect(200, c.do(admin, "GET", "/domino/setup", nil, nil))
	expect(200, c.do(admin, "GET", "/audit?limit=5", nil, nil))
	expect(400, c.do(admin, "GET", "/audit?since=yesterday", nil, nil))
	expect(200, c.do(admin, "GET", "/signing-keys", nil, nil))
	expect(204, c.do(admin, "DELETE", "/service-accounts/ci-bot", nil, nil))

	// Errors from the shared layers.
	expect(400, c.do(admin, "GET", "/service-accounts?client_secret=x", nil, nil)) // a credential in the URL
	expect(401, c.do("", "GET", "/service-accounts", nil, nil))
	expect(401, c.do("twp_not-a-token", "GET", "/users", nil, nil))
	expect(401, c.do(pat.ClientSecret, "GET", "/users", nil, nil)) // revoked above
	var alice api.KeyWithSecret
	expect(201, c.do(admin, "POST", "/users/alice/tokens", api.CreateKey{Name: "desk"}, &alice))
	expect(403, c.do(alice.ClientSecret, "GET", "/users", nil, nil))
	expect(200, c.do(alice.ClientSecret, "POST", "/users/me/tokens:revokeAll", nil, nil))
	expect(204, c.do(admin, "DELETE", "/users/alice/tokens/"+alice.ID, nil, nil))
	expect(204, c.do(admin, "DELETE", "/users/alice", nil, nil))
}

// TestOpenAPIUnsupportedMediaTypeConforms: a body that is not JSON is
// refused with 415, as documented.
func TestOpenAPIUnsupportedMediaTypeConforms(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	c := newConformance(t, srv)
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/users", bytes.NewReader([]byte("userName=x")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", resp.StatusCode)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(data)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		t.Errorf("the 415 does not match openapi.yaml: %v", err)
	}
}

// TestOpenAPIRateLimitConforms: the admin rate limit's 429 is documented,
// Retry-After included.
func TestOpenAPIRateLimitConforms(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.Limits.AdminRate, c.Limits.AdminBurst = 0.001, 2
	}})
	c := newConformance(t, srv)
	var statuses []int
	for range 5 {
		statuses = append(statuses, c.do(srv.AdminToken, "GET", "/users", nil, nil))
	}
	if !slices.Contains(statuses, http.StatusTooManyRequests) {
		t.Fatalf("statuses %v: no 429", statuses)
	}
}
