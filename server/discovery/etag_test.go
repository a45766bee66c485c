package discovery

import "testing"

// If-None-Match (RFC 9110 §13.1.2): a list of strong tags, or "*".
func TestETagMatches(t *testing.T) {
	t.Parallel()
	const etag = `"abc"`
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{`"abc"`, true},
		{`"x", "abc"`, true},
		{` "abc" ,"y"`, true},
		{`*`, true},
		{``, false},
		{`"ab"`, false},
		{`W/"abc"`, false}, // a weak tag never matches a strong comparison
		{`abc`, false},
	} {
		if got := etagMatches(tc.header, etag); got != tc.want {
			t.Errorf("If-None-Match %q: %v, want %v", tc.header, got, tc.want)
		}
	}
}
