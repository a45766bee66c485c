package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// CycloneDXEnv names the cyclonedx-gomod binary the end-to-end test uses
// (.ci/run sets it from scripts/cyclonedx/build).
const CycloneDXEnv = "TOKENWRIGHT_CYCLONEDX"

const (
	testVersion = "v0.9.1-test.1"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testDate    = "2026-01-02T03:04:05Z"
)

// TestRelease (issue 16, releases) runs the release program twice into
// two directories for linux/amd64 and windows/amd64 (the other two targets
// go through the same code; scripts/release builds all four) and checks
// that the two runs are byte-identical, that `sha256sum -c SHA256SUMS`
// passes, that the Linux binary prints the stamped identity, that the
// Windows zip holds a PE executable with the bundled files, and that each
// SBOM is CycloneDX JSON listing exactly the modules linked into that
// target's binary.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds tokenwright; skipped with -short")
	}
	cyclonedx := os.Getenv(CycloneDXEnv)
	if cyclonedx == "" {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatalf("%s is not set (scripts/cyclonedx/build prints the pinned cyclonedx-gomod)", CycloneDXEnv)
		}
		t.Skipf("%s is not set: run scripts/cyclonedx/build and point it there", CycloneDXEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	program := releaseProgram(ctx, t)
	release := func() string {
		out := filepath.Join(t.TempDir(), "dist")
		cmd := exec.CommandContext(ctx, program, "-version", testVersion, "-commit", testCommit, "-date", testDate,
			"-out", out, "-targets", "linux/amd64,windows/amd64", "-cyclonedx", cyclonedx)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tokenwright-release: %v\n%s", err, b)
		}
		return out
	}
	first, second := release(), release()

	sums := func(dir string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, SumsFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := sums(first), sums(second); !bytes.Equal(a, b) {
		t.Fatalf("two releases of the same inputs differ:\n%s\n%s", a, b)
	}
	wantFiles := []string{
		"tokenwright_0.9.1-test.1_linux_amd64.cdx.json", "tokenwright_0.9.1-test.1_linux_amd64.tar.gz",
		"tokenwright_0.9.1-test.1_windows_amd64.cdx.json", "tokenwright_0.9.1-test.1_windows_amd64.zip",
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums(first))), "\n") {
		_, name, _ := strings.Cut(line, "  ")
		listed = append(listed, name)
	}
	if !slices.Equal(listed, wantFiles) {
		t.Fatalf("SHA256SUMS lists %q, want %q", listed, wantFiles)
	}
	check := exec.Command("sha256sum", "--strict", "-c", SumsFile)
	check.Dir = first
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(first); len(entries) != len(wantFiles)+1 {
		t.Fatalf("release directory holds %d files, want %d (no build leftovers)", len(entries), len(wantFiles)+1)
	}

	// Linux: the archive's binary says what was stamped.
	files := untar(t, filepath.Join(first, wantFiles[1]))
	if names := slices.Sorted(maps.Keys(files)); !slices.Equal(names, []string{"CHANGELOG.md", "LICENSE", "README.md", "tokenwright"}) {
		t.Fatalf("tar.gz holds %q", names)
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		bin := filepath.Join(t.TempDir(), "tokenwright")
		if err := os.WriteFile(bin, files["tokenwright"], 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "version", "-o", "json").Output()
		if err != nil {
			t.Fatalf("version -o json: %v", err)
		}
		var v map[string]string
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("version -o json: %v: %s", err, out)
		}
		want := map[string]string{"version": testVersion, "commit": testCommit, "date": testDate, "go": runtime.Version()}
		if !maps.Equal(v, want) {
			t.Fatalf("version -o json = %v, want %v", v, want)
		}
	}

	// Windows: a PE executable and the same bundled files.
	zr, err := zip.OpenReader(filepath.Join(first, wantFiles[3]))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var zipped []string
	for _, f := range zr.File {
		zipped = append(zipped, f.Name)
		if f.Name == "tokenwright.exe" {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 2)
			_, err = io.ReadFull(r, head)
			r.Close()
			if err != nil || string(head) != "MZ" {
				t.Fatalf("tokenwright.exe starts %q: not a Windows executable", head)
			}
		}
	}
	if slices.Sort(zipped); !slices.Equal(zipped, []string{"CHANGELOG.md", "LICENSE", "README.md", "tokenwright.exe"}) {
		t.Fatalf("zip holds %q", zipped)
	}

	for _, target := range []struct{ goos, file string }{{"linux", wantFiles[0]}, {"windows", wantFiles[2]}} {
		checkSBOM(t, filepath.Join(first, target.file), target.goos)
	}
}

// releaseProgram builds this command as a plain program, as
// scripts/release runs it. TestRelease runs that, not run() inside the
// test binary: under `go test -race` the test binary's gzip of four
// 30 MB binaries is race-instrumented, and took two minutes of CI's
// time (147 s against 39 s for the whole test without -race).
func releaseProgram(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tokenwright-release")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building tokenwright-release: %v\n%s", err, b)
	}
	return bin
}

// checkSBOM holds an SBOM to CycloneDX's JSON shape and to the truth: its
// components are exactly the modules `go list -deps` says the target's
// binary links, and its main component is the module at the stamped
// version.
func checkSBOM(t *testing.T, path, goos string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct {
				Type, Name, Version, Purl string
			}
		}
		Components []struct {
			Type, Name, Version, Purl string
		}
		Properties []struct{ Name, Value string } `json:"properties"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" {
		t.Fatalf("%s: bomFormat %q specVersion %q", path, bom.BOMFormat, bom.SpecVersion)
	}
	mc := bom.Metadata.Component
	if mc.Type != "application" || mc.Name != "github.com/tokenwright/tokenwright" || mc.Version != testVersion ||
		!strings.Contains(mc.Purl, "goos="+goos) {
		t.Fatalf("%s: main component %+v", path, mc)
	}
	list := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}} {{.Version}}{{end}}", "./cmd/tokenwright")
	list.Dir = filepath.Join("..", "..")
	list.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, _, _ := strings.Cut(line, " "); path != "" && path != "github.com/tokenwright/tokenwright" && !slices.Contains(want, line) {
			want = append(want, line)
		}
	}
	var got []string
	for _, c := range bom.Components {
		if c.Type != "library" || !strings.HasPrefix(c.Purl, "pkg:golang/"+c.Name+"@"+c.Version) {
			t.Fatalf("%s: component %+v", path, c)
		}
		got = append(got, c.Name+" "+c.Version)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%s lists modules\n%q\nthe %s binary links\n%q", path, got, goos, want)
	}
}

// TestArchivesAreReproducible: the archive writers' bytes depend only on
// the entries and the date (not on file times, owners or the clock), and
// the entries carry the given modes.
func TestArchivesAreReproducible(t *testing.T) {
	dir := t.TempDir()
	bin, doc := filepath.Join(dir, "bin"), filepath.Join(dir, "doc")
	for _, f := range []string{bin, doc} {
		if err := os.WriteFile(f, []byte("content of "+f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	entries := []entry{{name: "tokenwright", path: bin, mode: 0o755}, {name: "LICENSE", path: doc, mode: 0o644}}
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, w := range []struct {
		name  string
		write func(string, []entry, time.Time) error
	}{{"a.tar.gz", writeTarGz}, {"a.zip", writeZip}} {
		first := filepath.Join(dir, "1-"+w.name)
		if err := w.write(first, entries, date); err != nil {
			t.Fatal(err)
		}
		// Different file times and a later clock: the same bytes.
		later := time.Now().Add(time.Hour)
		for _, f := range []string{bin, doc} {
			if err := os.Chtimes(f, later, later); err != nil {
				t.Fatal(err)
			}
		}
		second := filepath.Join(dir, "2-"+w.name)
		if err := w.write(second, entries, date); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(first)
		b, _ := os.ReadFile(second)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two writes of the same entries differ", w.name)
		}
	}
	zr, err := zip.OpenReader(filepath.Join(dir, "1-a.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for i, f := range zr.File {
		if f.Name != entries[i].name || f.Mode().Perm() != os.FileMode(entries[i].mode) || !f.Modified.Equal(date) {
			t.Fatalf("zip entry %s: mode %v, time %v", f.Name, f.Mode(), f.Modified)
		}
	}
}

// TestBuildRefusesBadInputs: a release with a malformed version, commit or
// date, or into a directory that already holds files, is refused before
// anything is built.
func TestBuildRefusesBadInputs(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Options{Version: "v1.2.3", Commit: testCommit, Date: testDate, Out: t.TempDir(), Targets: []string{"linux/amd64"}, CycloneDX: "/nonexistent"}
	for name, change := range map[string]func(*Options){
		"version without v":  func(o *Options) { o.Version = "1.2.3" },
		"version with space": func(o *Options) { o.Version = "v1.2.3 -X x=y" },
		"commit not hex":     func(o *Options) { o.Commit = "HEAD" },
		"date not RFC 3339":  func(o *Options) { o.Date = "yesterday" },
		"target without /":   func(o *Options) { o.Targets = []string{"linux"} },
		"non-empty out":      func(o *Options) { o.Out = full },
	} {
		o := ok
		change(&o)
		if _, err := Build(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Fatalf("%s: owner %d:%d %q, time %v: want 0:0 and the release date", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}
