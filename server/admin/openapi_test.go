package admin_test

import (
	"context"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// loadSpec parses openapi.yaml with a real OpenAPI 3 implementation
// (kin-openapi) and validates it: references resolve, operation ids are
// unique, schemas are well-formed, and no object carries a field OpenAPI
// does not define (a YAML slip such as an unquoted comma in a flow-style
// description turns into exactly such a stray field).
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(admin.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI %s: %v", doc.OpenAPI, err)
	}
	return doc
}

// routes returns "METHOD /path" for every route the real API registers.
func routes(t *testing.T) []string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := mux.NewRouter()
	admin.New(accounts.New(db, accounts.Options{}), zerolog.Nop()).Register(r)
	varPattern := regexp.MustCompile(`\{(\w+):[^}]*\}`)
	var out []string
	err = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // the subrouter's prefix
		}
		path := strings.TrimPrefix(varPattern.ReplaceAllString(tpl, "{$1}"), admin.Prefix)
		if path == "/openapi.yaml" {
			return nil
		}
		for _, m := range methods {
			out = append(out, m+" "+path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// operations returns every documented operation by "METHOD /path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

// TestOpenAPIValid is the spec's own validity (issue 16, finding 5): the
// file must load and validate under kin-openapi. The npm validators
// (Redocly, Spectral, swagger-parser) run in TestOpenAPILint.
func TestOpenAPIValid(t *testing.T) {
	doc := loadSpec(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not OpenAPI 3: %q", doc.OpenAPI)
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	ops := operations(doc)
	var documented []string
	for k := range ops {
		documented = append(documented, k)
	}
	sort.Strings(documented)
	real := routes(t)
	if !slices.Equal(documented, real) {
		for _, r := range real {
			if !slices.Contains(documented, r) {
				t.Errorf("route not documented: %s", r)
			}
		}
		for _, d := range documented {
			if !slices.Contains(real, d) {
				t.Errorf("documented but not routed: %s", d)
			}
		}
	}
	if len(real) < 25 {
		t.Fatalf("only %d routes found; the walk is broken", len(real))
	}
}

// TestOpenAPIOperations holds every operation to what generated clients
// and documentation tools need: an operationId (the method name in a
// generated client), a declared tag, a summary, and every error status
// the server's shared layers can answer on any admin route.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadSpec(t)
	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	// Every route: 400 (a credential in the query string, refused before
	// routing), 401 (authenticate), 429 (the admin rate limit), 500 and
	// 503 (the store unreachable while authenticating). A route with a
	// body also: 413 and 415 (decode). 403/404/409 depend on the handler
	// and are documented per operation.
	always := []string{"400", "401", "429", "500", "503"}
	withBody := []string{"413", "415"}
	for key, op := range operations(doc) {
		if op.OperationID == "" {
			t.Errorf("%s: no operationId", key)
		}
		if op.Summary == "" {
			t.Errorf("%s: no summary", key)
		}
		if len(op.Tags) == 0 {
			t.Errorf("%s: no tags", key)
		}
		for _, tag := range op.Tags {
			if !tags[tag] {
				t.Errorf("%s: tag %q is not declared in the top-level tags", key, tag)
			}
		}
		want := always
		if op.RequestBody != nil {
			want = append(slices.Clone(always), withBody...)
		}
		for _, status := range want {
			if op.Responses.Value(status) == nil {
				t.Errorf("%s: response %s is not documented", key, status)
			}
		}
		if op.Responses.Default() != nil {
			t.Errorf("%s: a default response hides which statuses the operation answers; list them", key)
		}
	}
}

// jsonFields returns a Go type's JSON field names (embedded structs
// flattened) and which of them are always present (no omitempty or
// omitzero).
func jsonFields(rt reflect.Type) (all, always []string) {
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			a, w := jsonFields(f.Type)
			all, always = append(all, a...), append(always, w...)
			continue
		}
		parts := strings.Split(f.Tag.Get("json"), ",")
		if parts[0] == "" || parts[0] == "-" {
			continue
		}
		all = append(all, parts[0])
		if !slices.Contains(parts[1:], "omitempty") && !slices.Contains(parts[1:], "omitzero") {
			always = append(always, parts[0])
		}
	}
	return all, always
}

// TestOpenAPISchemasMatchTypes holds each documented body to the Go type
// the server encodes or decodes: the same JSON field names, and required
// lists that say what is really there. A response schema requires exactly
// the fields the server always writes (no omitempty), so that generated
// clients neither make them optional nor expect one that may be absent; a
// request schema requires what the handlers refuse to do without.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := loadSpec(t)
	responses := map[string]any{
		"Error": api.Error{}, "ServiceAccount": api.ServiceAccount{}, "Key": api.Key{},
		"RevokeAllResult": api.RevokeAllResult{}, "User": api.User{}, "SigningKey": api.SigningKey{},
		"DominoSetup": api.DominoSetup{}, "DominoSection": api.DominoSection{}, "AuditEvent": api.AuditEvent{},
		"ServiceAccountList": api.List[api.ServiceAccount]{}, "KeyList": api.List[api.Key]{}, "UserList": api.List[api.User]{},
		"SigningKeyList": api.List[api.SigningKey]{}, "AuditEventList": api.List[api.AuditEvent]{},
		"FederationRule": api.FederationRule{}, "FederationRuleList": api.List[api.FederationRule]{},
	}
	// Request bodies: what the service refuses without (the rest is
	// optional: PATCH semantics, or a server default).
	requests := map[string]struct {
		v        any
		required []string
	}{
		"CreateServiceAccount": {api.CreateServiceAccount{}, []string{"email", "userName"}},
		"UpdateServiceAccount": {api.UpdateServiceAccount{}, nil},
		"CreateKey":            {api.CreateKey{}, []string{"name"}},
		"CreateFederationRule": {api.CreateFederationRule{}, []string{"issuer", "name"}},
		"RotateKey":            {api.RotateKey{}, nil},
		"Owner":                {api.Owner{}, []string{"userName"}},
		"CreateUser":           {api.CreateUser{}, []string{"email", "userName"}},
		"UpdateUser":           {api.UpdateUser{}, nil},
		"RotateSigningKey":     {api.RotateSigningKey{}, nil},
	}
	check := func(name string, v any, required []string) {
		ref, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			return
		}
		var documented []string
		for p := range ref.Value.Properties {
			documented = append(documented, p)
		}
		fields, _ := jsonFields(reflect.TypeOf(v))
		sort.Strings(documented)
		sort.Strings(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s documents %v, the Go type has %v", name, documented, fields)
		}
		got := slices.Sorted(slices.Values(ref.Value.Required))
		want := slices.Sorted(slices.Values(required))
		if !slices.Equal(got, want) {
			t.Errorf("schema %s requires %v, want %v", name, got, want)
		}
	}
	for name, v := range responses {
		_, always := jsonFields(reflect.TypeOf(v))
		check(name, v, always)
	}
	for name, r := range requests {
		check(name, r.v, r.required)
		if s := doc.Components.Schemas[name]; s != nil && (s.Value.AdditionalProperties.Has == nil || *s.Value.AdditionalProperties.Has) {
			// The server decodes with DisallowUnknownFields.
			t.Errorf("schema %s must say additionalProperties: false", name)
		}
	}
	// KeyWithSecret is Key plus the secret (api.KeyWithSecret embeds
	// api.Key): its allOf must be Key and an object with clientSecret only.
	kws := doc.Components.Schemas["KeyWithSecret"]
	if kws == nil || len(kws.Value.AllOf) != 2 || kws.Value.AllOf[0].Ref != "#/components/schemas/Key" {
		t.Fatalf("KeyWithSecret must be allOf [Key, {clientSecret}]")
	}
	if props := kws.Value.AllOf[1].Value.Properties; len(props) != 1 || props["clientSecret"] == nil {
		t.Errorf("KeyWithSecret adds %v, want only clientSecret", props)
	}
	_ = http.MethodGet
}
