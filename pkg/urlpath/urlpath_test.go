package urlpath

import (
	"errors"
	"testing"
)

// The gateway's table test (pkg/proxy) sends ~80 variants through a real
// gateway; this is the fast table of the rule itself, including what both
// the gateway and audience validation rely on.
func TestCheck(t *testing.T) {
	for _, p := range []string{"/", "/api/data", "/api/data/", "/api/Z%c3%bcrich.nsf", "/api/%E4%B8%AD%E6%96%87",
		"/api/a%20b", "/api/a.b", "/api/.well-known/x", "/api/a!$&'()+,=:@~", "/api/pre"} {
		if err := Check(p); err != nil {
			t.Errorf("Check(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/a/../b", "/a/./b", "/a/..;/b", "/a;x=y", "/a/%2e%2e/b", "/a/%2E/b", "/a%2fb",
		"/a%5cb", "/a\\b", "/a/%252e%252e", "/a/%C0%AE%C0%AE", "/a/%ED%A0%80", "/a/%EF%BC%8E%EF%BC%8E", "/a/\uff0e\uff0e",
		"/a/%E2%80%8B", "/a/%00", "/a//b", "/a/x*", "/a/%", "/a/%zz", "/a/\u3002\u3002", "/a/%3Fx", "/a b"} {
		err := Check(p)
		var pe *Error
		if !errors.As(err, &pe) || pe.Reason == "" {
			t.Errorf("Check(%q) = %v, want an *Error", p, err)
		}
	}
}
