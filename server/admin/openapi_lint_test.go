package admin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// lintDir holds the pinned npm validators (package-lock.json); .ci/run
// installs them with npm ci.
const lintDir = "testdata/openapi-lint"

// TestOpenAPILint runs the ecosystem's own validators over openapi.yaml
// (issue 16, finding 5): Redocly CLI's recommended rules, Spectral's
// spectral:oas ruleset and swagger-parser's schema validation. Any error
// or warning fails. Without node or the packages the test skips,
// except under TOKENWRIGHT_TEST_STRICT=1 (CI), where it fails.
func TestOpenAPILint(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(lintDir, "node_modules", ".bin", "redocly"))
	}
	if err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatalf("the OpenAPI validators are missing (%v): run npm ci in server/admin/%s (.ci/run does)", err, lintDir)
		}
		t.Skipf("the OpenAPI validators are not installed (%v); run npm ci in server/admin/%s", err, lintDir)
	}
	spec, err := filepath.Abs("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bin := func(name string) string { return filepath.Join("node_modules", ".bin", name) }
	validators := map[string][]string{
		// Exits non-zero on any error of the recommended ruleset.
		"redocly": {bin("redocly"), "lint", "--format", "stylish", spec},
		// .spectral.yaml extends spectral:oas (info-contact off).
		"spectral":       {bin("spectral"), "lint", "--ruleset", ".spectral.yaml", "--fail-severity", "warn", spec},
		"swagger-parser": {node, "swagger-parser.mjs", spec},
	}
	for name, argv := range validators {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir = lintDir
			// No telemetry or update checks: the validators work offline.
			cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_UPDATE_NOTIFIER=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s finds errors in openapi.yaml: %v\n%s", name, err, out)
			}
			// Redocly exits 0 on warnings; it counts them in its summary.
			if warnings := regexp.MustCompile(`You have \d+ warnings?`).Find(out); warnings != nil {
				t.Fatalf("%s: %s in openapi.yaml:\n%s", name, warnings, out)
			}
			t.Logf("%s:\n%s", name, out)
		})
	}
}
