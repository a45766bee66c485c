package deploy_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestChartREADMEListsEveryValue holds the chart README's values table to
// values.yaml: every value (a leaf, or a map or list that is empty by
// default) has a row, and every row names a value.
func TestChartREADMEListsEveryValue(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		// resources and config are documented as one value each.
		if !ok || len(m) == 0 || prefix == "resources" || prefix == "config" {
			want[prefix] = true
			return
		}
		for k, sub := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			walk(k, sub)
		}
	}
	walk("", values)

	readme, err := os.ReadFile(chartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Values\n")
	if !ok {
		t.Fatal("README.md has no ## Values section")
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ = strings.Cut(name, "`")
			rows[name] = true
		}
	}
	var missing, extra []string
	for k := range want {
		if !rows[k] {
			missing = append(missing, k)
		}
	}
	for k := range rows {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("README.md's values table: missing %v, names no value %v", missing, extra)
	}
}
