package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// instruction is one Dockerfile instruction: its keyword and the rest of
// its (continuation-joined) line.
type instruction struct{ cmd, args string }

// stage is one FROM ... section.
type stage struct {
	from, name string
	body       []instruction
}

// parseDockerfile splits the Dockerfile into stages. It knows what this
// Dockerfile uses (comments, backslash continuations, FROM ... AS name);
// no Docker engine runs where the tests do, so the image's properties are
// held by reading the file.
func parseDockerfile(t *testing.T, path string) (args []instruction, stages []stage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var joined []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		joined = append(joined, cur.String())
		cur.Reset()
	}
	for _, l := range joined {
		cmd, rest, _ := strings.Cut(l, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(rest)}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			args = append(args, in)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return args, stages
}

// keyValues parses ENV / LABEL arguments of the form k=v k2="v 2".
func keyValues(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`) + 1
			v, s = rest[1:end], rest[end+1:]
		} else {
			v, s, _ = strings.Cut(rest, " ")
		}
		out[k] = v
	}
	return out
}

// TestDockerfile (issue 16, finding 2): the image's data directory exists
// and belongs to the runtime user (distroless nonroot, uid 65532), it runs
// as that user, HEALTHCHECK runs `tokenwright healthcheck` (exec form: the
// image has no shell), the OCI labels are set with version and revision
// from build arguments, and TOKENWRIGHT_ISSUER is not defaulted: with the
// image's environment and no issuer, the binary refuses to start and says
// to set it.
func TestDockerfile(t *testing.T) {
	_, stages := parseDockerfile(t, filepath.Join("..", "..", "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("want a build stage and a runtime stage, got %d stages", len(stages))
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") || !strings.Contains(final.from, "nonroot") {
		t.Fatalf("runtime base %q: want distroless static, nonroot", final.from)
	}
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}

	var user, volume string
	var healthcheck []string
	env, labels := map[string]string{}, map[string]string{}
	dataOwned, finalArgs := false, map[string]bool{}
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "VOLUME":
			volume = in.args
		case "ENV":
			for k, v := range keyValues(in.args) {
				env[k] = v
			}
		case "LABEL":
			for k, v := range keyValues(in.args) {
				labels[k] = v
			}
		case "ARG":
			name, _, _ := strings.Cut(in.args, "=")
			finalArgs[name] = true
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(in.args, "CMD ")
			if !ok || json.Unmarshal([]byte(strings.TrimSpace(cmd)), &healthcheck) != nil {
				t.Fatalf("HEALTHCHECK %q: want the exec form CMD [...] (the image has no shell)", in.args)
			}
		case "COPY":
			// COPY --from=STAGE --chown=65532:65532 SRC /data
			f := strings.Fields(in.args)
			if f[len(f)-1] != "/data" && f[len(f)-1] != "/data/" {
				continue
			}
			var from, chown string
			for _, o := range f {
				if v, ok := strings.CutPrefix(o, "--from="); ok {
					from = v
				}
				if v, ok := strings.CutPrefix(o, "--chown="); ok {
					chown = v
				}
			}
			if chown != "65532:65532" && chown != "nonroot:nonroot" {
				t.Fatalf("COPY to /data with --chown=%q: want 65532:65532", chown)
			}
			src := f[len(f)-2]
			made := false
			for _, b := range byName[from].body {
				if b.cmd == "RUN" && strings.Contains(b.args, "mkdir") && strings.Contains(b.args, strings.TrimSuffix(src, "/")) {
					made = true
				}
			}
			if !made {
				t.Fatalf("COPY --from=%s %s /data: stage %q does not mkdir %s", from, src, from, src)
			}
			if volume != "" {
				t.Fatal("VOLUME /data comes before the directory is created: Docker would create it root-owned")
			}
			dataOwned = true
		}
	}
	if !dataOwned {
		t.Fatal("no COPY --chown=65532:65532 ... /data: the data directory would be created root-owned at run time, unwritable by nonroot")
	}
	if volume != "/data" || env["TOKENWRIGHT_DATA"] != "/data" {
		t.Fatalf("VOLUME %q, TOKENWRIGHT_DATA %q: want /data", volume, env["TOKENWRIGHT_DATA"])
	}
	if user != "nonroot:nonroot" && user != "65532:65532" && user != "nonroot" {
		t.Fatalf("USER %q: want nonroot (65532)", user)
	}
	if len(healthcheck) < 4 || !strings.HasSuffix(healthcheck[0], "/tokenwright") || healthcheck[1] != "healthcheck" ||
		healthcheck[2] != "--url" || !strings.HasSuffix(healthcheck[3], "/readyz") || !strings.HasPrefix(healthcheck[3], "http://127.0.0.1:") {
		t.Fatalf("HEALTHCHECK CMD %q: want [/usr/local/bin/tokenwright healthcheck --url http://127.0.0.1:PORT/readyz]", healthcheck)
	}
	for _, l := range []string{"title", "description", "source", "licenses", "version", "revision", "created"} {
		if labels["org.opencontainers.image."+l] == "" {
			t.Fatalf("LABEL org.opencontainers.image.%s missing (labels %v)", l, labels)
		}
	}
	for _, l := range []string{"version", "revision", "created"} {
		v := labels["org.opencontainers.image."+l]
		arg := strings.Trim(v, "${}")
		if !strings.HasPrefix(v, "$") || !finalArgs[arg] {
			t.Fatalf("org.opencontainers.image.%s = %q: want a build argument declared in the runtime stage", l, v)
		}
	}
	if _, ok := env["TOKENWRIGHT_ISSUER"]; ok {
		t.Fatal("the image defaults TOKENWRIGHT_ISSUER: it must be required at run time")
	}

	// The image's environment, no issuer: refused, naming what to set.
	var environ []string
	for k, v := range env {
		if k == "TOKENWRIGHT_DATA" {
			v = filepath.Join(t.TempDir(), "data")
		}
		environ = append(environ, k+"="+v)
	}
	_, stderr, code := runBounded(t, environ, "serve")
	if code == 0 || !strings.Contains(stderr, "TOKENWRIGHT_ISSUER") {
		t.Fatalf("the image's environment without TOKENWRIGHT_ISSUER: exit %d: %s", code, stderr)
	}
}

// TestDockerfileBuildStage (issue 16, container): what the build stage
// does matches what the binary needs. Its -X flags are exactly
// buildinfo.LinkerFlags over the build arguments (a renamed variable in
// pkg/buildinfo would otherwise build an image that says "dev"), the build
// is static (CGO_ENABLED=0 on distroless/static) and -trimpath, the Go
// image is at least go.mod's go version, the binary it writes is the one
// the runtime stage copies to the path ENTRYPOINT and HEALTHCHECK run, and
// the default CMD is a real subcommand.
func TestDockerfileBuildStage(t *testing.T) {
	_, stages := parseDockerfile(t, filepath.Join("..", "..", "Dockerfile"))
	if len(stages) < 2 || stages[0].name == "" {
		t.Fatalf("want a named build stage and a runtime stage, got %+v", stages)
	}
	build, final := stages[0], stages[len(stages)-1]

	// FROM golang:X.Y[.Z][@sha256:...]: at least go.mod's go line, else
	// the image build fails (or downloads a toolchain) after a go.mod bump.
	goImage, ok := strings.CutPrefix(build.from, "golang:")
	if !ok {
		t.Fatalf("build stage FROM %q: want golang:VERSION", build.from)
	}
	goImage, _, _ = strings.Cut(goImage, "@")
	goImage, _, _ = strings.Cut(goImage, "-")
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil || !versionAtLeast(goImage, string(m[1])) {
		t.Fatalf("build stage golang:%s is older than go.mod's go %s", goImage, m[1])
	}

	var goBuild string
	for _, in := range build.body {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	if goBuild == "" {
		t.Fatal("build stage has no RUN ... go build")
	}
	for _, want := range []string{"CGO_ENABLED=0 ", "-trimpath", "-o /out/tokenwright ./cmd/tokenwright"} {
		if !strings.Contains(goBuild, want) {
			t.Fatalf("go build line %q lacks %q", goBuild, want)
		}
	}
	var stamps []string
	f := strings.Fields(strings.ReplaceAll(goBuild, `"`, " "))
	for i := range f {
		if f[i] == "-X" && i+1 < len(f) {
			stamps = append(stamps, "-X", f[i+1])
		}
	}
	if want := buildinfo.LinkerFlags("${VERSION}", "${REVISION}", "${CREATED}"); !slices.Equal(stamps, want) {
		t.Fatalf("Dockerfile -X flags %q, want buildinfo.LinkerFlags: %q", stamps, want)
	}
	declared := map[string]bool{}
	for _, in := range build.body {
		if in.cmd == "ARG" {
			name, _, _ := strings.Cut(in.args, "=")
			declared[name] = true
		}
	}
	for _, a := range []string{"VERSION", "REVISION", "CREATED"} {
		if !declared[a] {
			t.Fatalf("build stage uses ${%s} without ARG %s", a, a)
		}
	}

	var copied, entrypoint, cmd string
	for _, in := range final.body {
		switch in.cmd {
		case "COPY":
			if f := strings.Fields(in.args); slices.Contains(f, "--from="+build.name) && f[len(f)-2] == "/out/tokenwright" {
				copied = f[len(f)-1]
			}
		case "ENTRYPOINT":
			var e []string
			if json.Unmarshal([]byte(in.args), &e) != nil || len(e) != 1 {
				t.Fatalf("ENTRYPOINT %s: want the exec form with the binary alone", in.args)
			}
			entrypoint = e[0]
		case "CMD":
			var c []string
			if json.Unmarshal([]byte(in.args), &c) != nil || len(c) == 0 {
				t.Fatalf("CMD %s: want the exec form", in.args)
			}
			cmd = c[0]
		}
	}
	if copied == "" || copied != entrypoint {
		t.Fatalf("the runtime stage copies /out/tokenwright to %q, ENTRYPOINT runs %q", copied, entrypoint)
	}
	// The default command and the health check are real subcommands of
	// the binary the image ships: their help's usage line names them (for
	// an unknown word cobra prints the root's help, also with exit 0).
	for _, sub := range []string{cmd, "healthcheck"} {
		stdout, stderr, code := runBounded(t, nil, sub, "--help")
		if code != 0 || !strings.Contains(stdout, "Usage:\n  tokenwright "+sub+" ") {
			t.Fatalf("the image runs `tokenwright %s`, which the binary does not have: exit %d: %s%s", sub, code, stdout, stderr)
		}
	}
}

// versionAtLeast reports whether Go version have (1.26, 1.26.8) is at
// least want (1.26), comparing numerically.
func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range w {
		if i >= len(h) {
			return false
		}
		hn, _ := strconv.Atoi(h[i])
		wn, _ := strconv.Atoi(w[i])
		if hn != wn {
			return hn > wn
		}
	}
	return true
}
