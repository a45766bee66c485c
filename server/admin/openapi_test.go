package admin_test

import (
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/store/bolt"
)

type spec struct {
	OpenAPI    string                    `yaml:"openapi"`
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
			Required   []string       `yaml:"required"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	var s spec
	if err := yaml.Unmarshal(admin.OpenAPI, &s); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(s.OpenAPI, "3.") {
		t.Fatalf("not OpenAPI 3: %q", s.OpenAPI)
	}
	return s
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

func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := loadSpec(t)
	var documented []string
	for path, ops := range s.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			opMap, _ := op.(map[string]any)
			if opMap["responses"] == nil || opMap["summary"] == nil {
				t.Errorf("%s %s lacks a summary or responses", method, path)
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
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

// TestOpenAPISchemasMatchTypes holds each documented body to the Go type
// the server encodes or decodes, by JSON field name.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	s := loadSpec(t)
	types := map[string]any{
		"Error": api.Error{}, "CreateServiceAccount": api.CreateServiceAccount{}, "UpdateServiceAccount": api.UpdateServiceAccount{},
		"ServiceAccount": api.ServiceAccount{}, "CreateKey": api.CreateKey{}, "RotateKey": api.RotateKey{}, "Key": api.Key{},
		"RevokeAllResult": api.RevokeAllResult{}, "User": api.User{}, "CreateUser": api.CreateUser{}, "UpdateUser": api.UpdateUser{},
		"SigningKey": api.SigningKey{}, "RotateSigningKey": api.RotateSigningKey{},
		"DominoSetup": api.DominoSetup{}, "DominoSection": api.DominoSection{},
	}
	for name, v := range types {
		schema, ok := s.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		var documented, fields []string
		for p := range schema.Properties {
			documented = append(documented, p)
		}
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			tag := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
			if tag != "" && tag != "-" {
				fields = append(fields, tag)
			}
		}
		sort.Strings(documented)
		sort.Strings(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s documents %v, the Go type has %v", name, documented, fields)
		}
	}
}
