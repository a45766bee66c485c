package interop

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated table in docs/verifiers.md")

const (
	docPath     = "../../docs/verifiers.md"
	beginMarker = "<!-- BEGIN GENERATED TABLE: edit server/interop/cases_test.go, then run go test ./server/interop -update -->"
	endMarker   = "<!-- END GENERATED TABLE -->"
)

// TestVerifiersDoc: the table in docs/verifiers.md is the rendering of the
// suite's own table; -update rewrites it.
func TestVerifiersDoc(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := bytes.Cut(doc, []byte(beginMarker))
	_, after, ok2 := bytes.Cut(rest, []byte(endMarker))
	if !ok1 || !ok2 {
		t.Fatalf("%s: the markers %q and %q are missing", docPath, beginMarker, endMarker)
	}
	want := "\n" + renderTable(components()) + "\n"
	if string(rest[:len(rest)-len(after)-len(endMarker)]) == want {
		return
	}
	if !*update {
		t.Fatalf("%s's table is not the rendering of server/interop/cases_test.go: run go test ./server/interop -update and commit the result", docPath)
	}
	out := slices.Concat(before, []byte(beginMarker), []byte(want), []byte(endMarker), after)
	if err := os.WriteFile(docPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote the table in %s", docPath)
}

// renderTable renders the clients and the verifiers as two markdown tables.
func renderTable(rows []component) string {
	var b strings.Builder
	for _, section := range []struct {
		role  role
		title string
	}{{roleClient, "Clients (obtain tokens)"}, {roleVerifier, "Verifiers (accept tokens)"}} {
		fmt.Fprintf(&b, "\n### %s\n\n", section.title)
		b.WriteString("| Product | Version | What works | What to configure | Algorithms | Proven by this suite |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
		for _, r := range rows {
			if r.Role != section.role {
				continue
			}
			cells := []string{product(r), versions(r), works(r), configure(r), algorithms(r), proven(r)}
			for i, c := range cells {
				cells[i] = strings.ReplaceAll(c, "|", `\|`)
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	return strings.TrimPrefix(b.String(), "\n")
}

func product(r component) string {
	s := "**" + r.Name + "** (" + r.Language + ")"
	if r.API != "" {
		s += "<br>" + r.API
	}
	return s
}

func versions(r component) string {
	if len(r.Pins) == 0 {
		return "not recorded"
	}
	var vs []string
	for _, p := range r.Pins {
		switch p.Source {
		case goModule:
			vs = append(vs, fmt.Sprintf("`%s` %s (go.mod)", p.Package, p.Version))
		case npmPackage:
			vs = append(vs, fmt.Sprintf("`%s` %s (npm, package-lock.json)", p.Package, p.Version))
		case debianPackage:
			vs = append(vs, fmt.Sprintf("`%s` %s (Debian 12)", p.Package, p.Version))
		}
	}
	return strings.Join(vs, "<br>")
}

// works is generated for run rows: the methods that work and the cases
// that are refused (clients), or the verifier checks.
func works(r component) string {
	switch {
	case !r.tested():
		return r.Works // written by hand: reported, or proven by the row's own tests
	case r.Role == roleVerifier:
		return verifierWorks(r)
	}
	var ok []string
	var refused []string
	for _, c := range r.Cases {
		m := "`" + string(c.Method) + "`"
		switch {
		case !c.Works:
			refused = append(refused, m+": "+c.Note)
		case !slices.Contains(ok, m):
			ok = append(ok, m)
		}
	}
	s := "client credentials with " + strings.Join(ok, ", ")
	if len(refused) > 0 {
		s += "<br>not: " + strings.Join(refused, "; ")
	}
	return s
}

// configure adds, for run clients, how each working case authenticates.
func configure(r component) string {
	s := r.Configure
	for _, c := range r.Cases {
		if c.Works && c.Note != "" {
			s += "<br>`" + string(c.Method) + "`: " + c.Note
		}
	}
	if s == "" {
		return "—"
	}
	return strings.TrimPrefix(s, "<br>")
}

func algorithms(r component) string {
	if !r.tested() {
		if r.Algorithms == "" {
			return "—"
		}
		return r.Algorithms
	}
	s := strings.Join(suiteAlgorithms, ", ")
	if r.Role == roleClient && slices.ContainsFunc(r.Cases, func(c clientCase) bool { return c.Method == privateKeyJWT && c.Works }) {
		s += "; `private_key_jwt` assertions signed with " + strings.Join(suiteAlgorithms, ", ")
	}
	if r.Algorithms != "" {
		s += "; " + r.Algorithms
	}
	return s
}

func proven(r component) string {
	if r.ProvenBy != "" {
		return r.ProvenBy
	}
	if r.tested() {
		return "yes, over TLS, for " + strings.Join(suiteAlgorithms, " and ")
	}
	return "no: as reported in issue 15"
}

// TestPinnedVersions: the versions the table states are the ones the suite
// runs. Go modules are read from go.mod (test binaries carry no module
// list), npm packages from
// package-lock.json and node_modules, Debian packages from dpkg-query.
func TestPinnedVersions(t *testing.T) {
	deps := goModRequires(t)
	var lock struct {
		Packages map[string]struct{ Version string }
	}
	data, err := os.ReadFile(filepath.Join(nodeDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	for _, r := range components() {
		for _, p := range r.Pins {
			t.Run(r.Name+"/"+p.Package, func(t *testing.T) {
				differs := func(where, got string) {
					t.Errorf("docs/verifiers.md says %s %s for %s, but %s has %s: the suite runs %s. "+
						"Set the row's version in server/interop/cases_test.go and run go test ./server/interop -update",
						p.Package, p.Version, r.Name, where, got, got)
				}
				switch p.Source {
				case goModule:
					if got := deps[p.Package]; got != p.Version {
						differs("go.mod", got)
					}
				case npmPackage:
					if got := lock.Packages["node_modules/"+p.Package].Version; got != p.Version {
						differs(nodeDir+"/package-lock.json", got)
					}
					if why := nodePackages(); why != "" {
						missing(t, "%s", why)
					}
					var pkg struct{ Version string }
					data, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", p.Package, "package.json"))
					if err != nil {
						t.Fatal(err)
					}
					decodeJSON(t, p.Package+"/package.json", data, &pkg)
					if pkg.Version != p.Version {
						differs(nodeDir+"/node_modules (run npm ci)", pkg.Version)
					}
				case debianPackage:
					got, err := debianVersion(p.Package)
					if err != nil {
						missing(t, "%v", err)
					}
					if upstream(got) != p.Version {
						differs("this machine's Debian package ("+got+")", upstream(got))
					}
				default:
					t.Fatalf("no version source for %s", p.Package)
				}
			})
		}
	}
}

// goModRequires reads the module requirements of the repository's go.mod:
// path → version. A replace directive for a pinned module would make the
// version a lie, so it fails the test.
func goModRequires(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	reqs := map[string]string{}
	inBlock := ""
	for line := range strings.Lines(string(data)) {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case len(f) == 2 && f[1] == "(":
			inBlock = f[0]
		case f[0] == ")":
			inBlock = ""
		case f[0] == "replace" || inBlock == "replace":
			t.Fatalf("go.mod replaces a module (%s): the pinned versions are not what is built", strings.TrimSpace(line))
		case f[0] == "require" && len(f) == 3:
			reqs[f[1]] = f[2]
		case inBlock == "require" && len(f) == 2:
			reqs[f[0]] = f[1]
		}
	}
	return reqs
}

// debianVersion asks dpkg which version of pkg is installed.
func debianVersion(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", pkg).Output()
	status, version, _ := strings.Cut(string(out), " ")
	if err != nil || status != "installed" {
		return "", fmt.Errorf("Debian package %s is not installed (dpkg-query: %v)", pkg, err)
	}
	return version, nil
}

// upstream strips a Debian version's epoch, revision and repacking
// suffix: 1:2.6.0-1+deb12u1 is 2.6.0, 2.28.1+dfsg-1 is 2.28.1.
func upstream(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	return repack.ReplaceAllString(v, "")
}

// repack matches the suffixes Debian adds to a repacked upstream tarball.
var repack = regexp.MustCompile(`[+~](dfsg|ds|repack)[0-9.]*$`)

func TestUpstreamVersion(t *testing.T) {
	for in, want := range map[string]string{"2.6.0-1": "2.6.0", "1.2.0-1+deb12u1": "1.2.0", "1:3.0-2-3": "3.0-2", "5.1": "5.1",
		"2.28.1+dfsg-1": "2.28.1", "1.0~ds1-2": "1.0", "20.20.2-1nodesource1+repack1": "20.20.2"} {
		if got := upstream(in); got != want {
			t.Errorf("upstream(%q) = %q, want %q", in, got, want)
		}
	}
}
