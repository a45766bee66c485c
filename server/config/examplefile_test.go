package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokenwright/tokenwright/server/config"
)

// exampleConfig is the configuration file that shows every setting.
var exampleConfig = filepath.Join("..", "..", "testdata", "config", "tokenwright.yaml")

// configLeaves lists the dotted YAML path of every setting of t, found
// through the yaml tags: a struct is a section, and anything else (a
// scalar, a list, or a type that decodes itself, such as the CORS map or a
// Duration) is one setting.
func configLeaves(t reflect.Type, prefix string) []string {
	unmarshaler := reflect.TypeFor[yaml.Unmarshaler]()
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshaler) {
		return []string{prefix}
	}
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		out = append(out, configLeaves(f.Type, name)...)
	}
	return out
}

// commentedSetting is a setting written as a comment, "  # cert: x.pem":
// how the example shows a setting that excludes one it sets (tls.cert
// against tls.pkcs12), since both at once would not validate.
var commentedSetting = regexp.MustCompile(`(?m)^(\s*)# ?([A-Za-z][A-Za-z0-9]*:(\s|$))`)

// yamlPaths lists the dotted path of every mapping key in doc.
func yamlPaths(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			yamlPaths(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[p] = true
			yamlPaths(n.Content[i+1], p, out)
		}
	}
}

// The example configuration claims to show every setting: every leaf of
// config.Config must appear in it, set, or commented out where it
// excludes a setting the file sets.
func TestExampleConfigShowsEverySetting(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(commentedSetting.ReplaceAll(data, []byte("$1$2")), &doc); err != nil {
		t.Fatalf("%s with its commented settings uncommented: %v", exampleConfig, err)
	}
	present := map[string]bool{}
	yamlPaths(&doc, "", present)
	leaves := configLeaves(reflect.TypeFor[config.Config](), "")
	if len(leaves) < 40 {
		t.Fatalf("found only %d settings in config.Config: the walk is broken: %v", len(leaves), leaves)
	}
	for _, leaf := range leaves {
		if !present[leaf] {
			t.Errorf("%s does not show the setting %s", exampleConfig, leaf)
		}
	}
	// And nothing that is not a setting (a misspelt commented one would
	// not be caught by loading the file).
	for p := range present {
		if !slices.Contains(leaves, p) && !slices.ContainsFunc(leaves, func(l string) bool { return strings.HasPrefix(l, p+".") }) &&
			!slices.ContainsFunc(leaves, func(l string) bool { return strings.HasPrefix(p, l+".") }) {
			t.Errorf("%s shows %s, which is not a setting", exampleConfig, p)
		}
	}
}
