package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
)

// ClaimValues are the values a federation rule accepts for one claim (any
// of them). On the wire a claim's value may be one value or a list, and a
// value a string, a number or a boolean: {"ref": "refs/heads/main"},
// {"repository_id": 123} and {"ref": ["refs/heads/main", "refs/heads/v2"]}
// are all read, numbers and booleans as their JSON text (a foreign
// token's number claim is compared by its decimal form, so 123 and "123"
// pin the same value). Responses always write a list of strings.
type ClaimValues []string

// UnmarshalJSON reads one value or a list of values.
func (v *ClaimValues) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		out := make(ClaimValues, 0, len(raw))
		for _, r := range raw {
			s, ok := claimScalar(r)
			if !ok {
				return claimTypeError(r)
			}
			out = append(out, s)
		}
		*v = out
		return nil
	}
	s, ok := claimScalar(b)
	if !ok {
		return claimTypeError(b)
	}
	*v = ClaimValues{s}
	return nil
}

// claimScalar reads a string, number or boolean as its text; a number in
// the shortest decimal form of its float64 value, as a foreign token's
// number claim decodes.
func claimScalar(b json.RawMessage) (string, bool) {
	b = bytes.TrimSpace(b)
	var x any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return "", false
	}
	switch x := x.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return "", false
		}
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}

func claimTypeError(b []byte) error {
	what := "object"
	switch {
	case len(b) > 0 && b[0] == '[':
		what = "array"
	case bytes.Equal(b, []byte("null")):
		what = "null"
	}
	return &json.UnmarshalTypeError{Value: what, Type: reflect.TypeFor[ClaimValues]()}
}
