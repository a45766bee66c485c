package buildinfo

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-01-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		// CI builds with GOFLAGS=-buildvcs=false: no VCS settings at all.
		{"no VCS, no ldflags", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Info{"dev", Unknown, Unknown, runtime.Version()}},
		{"no build info", "", "", "", nil, Info{"dev", Unknown, Unknown, runtime.Version()}},
		{"VCS stamping", "", "", "", vcs, Info{"v0.0.0-20260101000000-0123456789ab", "0123456789abcdef-dirty", "2026-01-01T00:00:00Z", runtime.Version()}},
		{"ldflags win", "v1.2.3", "abc", "2026-02-02T00:00:00Z", vcs, Info{"v1.2.3", "abc", "2026-02-02T00:00:00Z", runtime.Version()}},
	} {
		if got := resolve(tc.version, tc.commit, tc.date, tc.bi); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestClientSetsUserAgentWithoutTouchingTheCallers(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.UserAgent()) }))
	defer srv.Close()
	mine := &http.Client{}
	c := Client(mine, 0)
	if mine.Transport != nil {
		t.Fatal("Client modified the caller's client")
	}
	for _, ua := range []string{"", "custom/1"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("User-Agent") != ua {
			t.Fatal("the caller's request was modified")
		}
	}
	if want := []string{UserAgent(), "custom/1"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("User-Agents %q, want %q", got, want)
	}
	// Wrapping twice does not stack.
	if _, ok := Transport(Transport(nil)).(userAgent).next.(userAgent); ok {
		t.Fatal("Transport wrapped itself")
	}
}
