package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestPlainManifestsAreGenerated runs deploy/kubernetes/generate into a
// temporary directory and requires the committed manifests to be exactly
// what it renders (no more, no fewer), so they cannot drift from the chart;
// and holds each of them to what every rendering must hold.
func TestPlainManifestsAreGenerated(t *testing.T) {
	t.Parallel()
	bin := helmBinary(t)
	readChart(t)
	out := t.TempDir()
	cmd := exec.Command("kubernetes/generate", out)
	cmd.Env = append(os.Environ(), "TOKENWRIGHT_HELM="+bin)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubernetes/generate: %v\n%s", err, msg)
	}
	values, _ := filepath.Glob("kubernetes/values/*.yaml")
	if len(values) == 0 {
		t.Fatal("no kubernetes/values/*.yaml")
	}
	for _, v := range values {
		if _, err := os.ReadFile(v); err != nil { // known to go test's cache
			t.Fatal(err)
		}
	}
	fresh, _ := filepath.Glob(filepath.Join(out, "*.yaml"))
	committed, _ := filepath.Glob("kubernetes/*.yaml")
	names := func(paths []string) []string {
		var n []string
		for _, p := range paths {
			n = append(n, filepath.Base(p))
		}
		return n
	}
	if !slices.Equal(names(fresh), names(committed)) {
		t.Fatalf("deploy/kubernetes has %v, generate renders %v: run TOKENWRIGHT_HELM=$(.ci/helm/build) deploy/kubernetes/generate", names(committed), names(fresh))
	}
	for _, name := range names(fresh) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join("kubernetes", name))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("deploy/kubernetes/%s differs from what the chart renders: run TOKENWRIGHT_HELM=$(.ci/helm/build) deploy/kubernetes/generate", name)
			}
			d := resolve(t, decodeAll(t, string(got)))
			checkEveryRendering(t, d)
		})
	}
}
