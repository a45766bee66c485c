package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// UnknownSettingError is a key in the configuration file that names no
// setting. Path is the setting's dotted path as the file spells it
// (tokens.lifetme), Suggestion the nearest real setting, if one is close.
type UnknownSettingError struct {
	Path, Suggestion string
	Line             int
}

func (e *UnknownSettingError) Error() string {
	msg := fmt.Sprintf("line %d: %s: unknown setting", e.Line, e.Path)
	if e.Suggestion != "" {
		msg += "; did you mean " + e.Suggestion + "?"
	}
	return msg
}

// checkKeys walks the YAML document against the Config struct's yaml tags
// and reports the first key that names no setting. yaml.v3's own
// KnownFields error names the Go type ("field lifetme not found in type
// struct { … }"), which tells an operator nothing; this one names the
// setting's path. Only plain structs are walked: a type with its own
// UnmarshalYAML reads its node itself and reports its own errors.
func checkKeys(doc *yaml.Node) error {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	return checkNode(doc, reflect.TypeOf(Config{}), "")
}

var yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func checkNode(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) || t.Implements(yamlUnmarshaler) {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			p := join(path, key.Value)
			ft, ok := fields[key.Value]
			if !ok {
				return &UnknownSettingError{Path: p, Suggestion: suggest(key.Value, path, fields), Line: key.Line}
			}
			if err := checkNode(value, ft, p); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			if err := checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	// Anything else (a scalar where a mapping belongs, say) is left to the
	// decoder, whose type errors carry the line.
	return nil
}

// yamlFields collects the keys of struct t by their yaml tags, following
// ",inline" fields as yaml.v3 does.
func yamlFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				yamlFields(ft, out)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		out[name] = f.Type
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest is the setting beside the misspelt key whose name is nearest to
// it, if it is near enough to be a typo: an edit distance of at most a
// third of the name (at least 1), ignoring case.
func suggest(key, path string, fields map[string]reflect.Type) string {
	best, bestD := "", -1
	for name := range fields {
		d := editDistance(strings.ToLower(key), strings.ToLower(name))
		if bestD < 0 || d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	if best == "" || bestD > max(1, len(best)/3) {
		return ""
	}
	return join(path, best)
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours (the
// commonest typo, ulr for url) each count 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
