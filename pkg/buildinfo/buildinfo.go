// Package buildinfo is tokenwright's build identity: which version, from
// which commit, built when and with which Go. `tokenwright version`, the
// startup log line, the tokenwright_build_info metric and the User-Agent of
// every outgoing request read it from here.
//
// A release stamps it with the linker (see README, Building):
//
//	go build -trimpath -ldflags "-X github.com/tokenwright/tokenwright/pkg/buildinfo.version=v1.2.3 \
//	  -X github.com/tokenwright/tokenwright/pkg/buildinfo.commit=$(git rev-parse HEAD) \
//	  -X github.com/tokenwright/tokenwright/pkg/buildinfo.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/tokenwright
//
// Without them, what the Go toolchain recorded is used: the module version
// (`go install ...@v1.2.3`, or the VCS-derived one of a `go build` in a
// checkout) and the vcs.revision and vcs.time settings. A build without
// VCS stamping (-buildvcs=false, a source tarball) says "dev" and
// "unknown".
package buildinfo

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"time"
)

// Set by -ldflags "-X ...": link-time constants, the one kind of package
// state the linker can write. Their names are also in LinkerFlags.
var version, commit, date string

// importPath is this package's import path, the prefix of every -X flag.
const importPath = "github.com/tokenwright/tokenwright/pkg/buildinfo"

// LinkerFlags returns the -X flags that stamp a build with version, commit
// and date, for `go build -ldflags`. The release program and (through a
// test that compares them) the Dockerfile use it, so renaming a variable
// above cannot silently leave releases saying "dev".
func LinkerFlags(version, commit, date string) []string {
	return []string{
		"-X", importPath + ".version=" + version,
		"-X", importPath + ".commit=" + commit,
		"-X", importPath + ".date=" + date,
	}
}

// Unknown is the value of a field the build did not record.
const Unknown = "unknown"

// Info is the build identity, with the JSON names `tokenwright version -o
// json` prints.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Date is when the release was built (-ldflags), else the time of the
	// commit it was built from (vcs.time).
	Date string `json:"date"`
	Go   string `json:"go"`
}

// Read returns the build identity: the -ldflags values where set, else what
// runtime/debug.ReadBuildInfo recorded, else "dev" / "unknown".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return resolve(version, commit, date, bi)
}

// resolve is Read with its inputs as arguments (tested without relinking).
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	var modVersion, revision, vcsTime, modified string
	if bi != nil {
		modVersion = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	if modVersion == "(devel)" {
		modVersion = ""
	}
	if revision != "" && modified == "true" {
		revision += "-dirty"
	}
	return Info{
		Version: first(version, modVersion, "dev"),
		Commit:  first(commit, revision, Unknown),
		Date:    first(date, vcsTime, Unknown),
		Go:      runtime.Version(),
	}
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// UserAgent is the User-Agent of tokenwright's outgoing requests:
// tokenwright/VERSION.
func UserAgent() string { return "tokenwright/" + Read().Version }

// Transport sets the User-Agent on each request that has none, then
// passes it to next (nil: http.DefaultTransport). Every HTTP client
// tokenwright builds wraps its transport in it, so requests made for it by
// other libraries (x/oauth2's token requests) carry it too.
func Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if t, ok := next.(userAgent); ok {
		return t
	}
	return userAgent{next: next, value: UserAgent()}
}

// Client returns a copy of c (nil: a client with the given timeout) whose
// transport is wrapped in Transport. The caller's client is not modified.
func Client(c *http.Client, timeout time.Duration) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = timeout
	}
	out.Transport = Transport(out.Transport)
	return &out
}

type userAgent struct {
	next  http.RoundTripper
	value string
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("User-Agent") != "" {
		return u.next.RoundTrip(r)
	}
	// A RoundTripper must not modify the caller's request.
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.value)
	return u.next.RoundTrip(r)
}
