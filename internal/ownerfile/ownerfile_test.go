package ownerfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
)

func mustNotBeExposed(t *testing.T, path string) {
	t.Helper()
	if exposed, err := ownerfile.Exposed(path); err != nil || exposed {
		t.Fatalf("%s: exposed %v, %v; want owner-only", path, exposed, err)
	}
}

func mustBeExposed(t *testing.T, path string) {
	t.Helper()
	if exposed, err := ownerfile.Exposed(path); err != nil || !exposed {
		t.Fatalf("%s: exposed %v, %v; want exposed", path, exposed, err)
	}
}

// TestOwnerOnly (issue 16, Windows): what ownerfile creates is owner-only
// on this platform (modes on Unix, a protected DACL on Windows), Restrict
// and WriteFile tighten what was opened up, Exposed notices the
// difference, and O_EXCL never replaces a file.
func TestOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	if err := ownerfile.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	mustNotBeExposed(t, dir)
	mustNotBeExposed(t, filepath.Dir(dir))

	secret := filepath.Join(dir, "kek")
	f, err := ownerfile.OpenFile(secret, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("secret\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustNotBeExposed(t, secret)
	if _, err := ownerfile.OpenFile(secret, os.O_WRONLY|os.O_CREATE|os.O_EXCL); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL over an existing file: %v, want ErrExist", err)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "secret\n" {
		t.Fatalf("read back %q, %v", b, err)
	}

	// A file created by someone else (another library, a copy) and opened
	// up: Exposed says so, Restrict fixes it.
	copied := filepath.Join(t.TempDir(), "copied")
	if err := os.WriteFile(copied, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	openUp(t, copied)
	mustBeExposed(t, copied)
	if err := ownerfile.Restrict(copied); err != nil {
		t.Fatal(err)
	}
	mustNotBeExposed(t, copied)

	// WriteFile over an opened-up file leaves it owner-only.
	openUp(t, copied)
	if err := ownerfile.WriteFile(copied, []byte("y")); err != nil {
		t.Fatal(err)
	}
	mustNotBeExposed(t, copied)
	if b, _ := os.ReadFile(copied); string(b) != "y" {
		t.Fatalf("WriteFile wrote %q", b)
	}

	// And a directory.
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	openUp(t, shared)
	mustBeExposed(t, shared)
	if err := ownerfile.Restrict(shared); err != nil {
		t.Fatal(err)
	}
	mustNotBeExposed(t, shared)
}
