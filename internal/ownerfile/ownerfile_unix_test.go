//go:build !windows

package ownerfile_test

import (
	"os"
	"testing"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
)

// openUp gives everyone access to path, as a careless copy would.
func openUp(t *testing.T, path string) {
	t.Helper()
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		mode = 0o755
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestModes: on Unix owner-only is exactly 0700 for directories and 0600
// for files (the modes docs/hardening.md states).
func TestModes(t *testing.T) {
	dir := t.TempDir() + "/d"
	if err := ownerfile.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	file := dir + "/f"
	if err := ownerfile.WriteFile(file, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
}
