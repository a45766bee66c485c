package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// DefaultTargets are the platforms a release is built for (issue 16):
// Linux servers and containers, Windows Server (Domino often runs there),
// and Apple silicon for administrators' laptops.
var DefaultTargets = []string{"linux/amd64", "linux/arm64", "windows/amd64", "darwin/arm64"}

// Options are the inputs of a release: the same Options over the same
// source, Go toolchain and cyclonedx-gomod give the same bytes.
type Options struct {
	Version   string   // v1.2.3 or v1.2.3-rc.1
	Commit    string   // stamped as the commit
	Date      string   // RFC 3339, stamped and used as every archive entry's time
	Out       string   // output directory, created; must be empty if it exists
	Targets   []string // GOOS/GOARCH
	CycloneDX string   // the cyclonedx-gomod binary
}

// SumsFile is the checksum file's name, in `sha256sum` format.
const SumsFile = "SHA256SUMS"

// Files packed beside the binary in every archive, from the module root.
var bundled = []string{"LICENSE", "README.md", "CHANGELOG.md"}

var (
	versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	commitRE  = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

// ArchiveBase is the name of a target's files without extension:
// tokenwright_1.2.3_linux_amd64 (the layout goreleaser uses, so that
// download scripts written for other Go tools fit).
func ArchiveBase(version, goos, goarch string) string {
	return fmt.Sprintf("tokenwright_%s_%s_%s", strings.TrimPrefix(version, "v"), goos, goarch)
}

// Build writes the release into o.Out and returns the names of the files
// SHA256SUMS lists, then SHA256SUMS itself.
func Build(ctx context.Context, o Options) ([]string, error) {
	if !versionRE.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH[-PRERELEASE]", o.Version)
	}
	if !commitRE.MatchString(o.Commit) {
		return nil, fmt.Errorf("commit %q: want a hex commit id", o.Commit)
	}
	date, err := time.Parse(time.RFC3339, o.Date)
	if err != nil {
		return nil, fmt.Errorf("date %q: want RFC 3339: %w", o.Date, err)
	}
	date = date.UTC()
	if len(o.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(o.Out); err != nil {
		return nil, err
	} else if len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: a release directory holds one release", o.Out)
	}
	scratch, err := os.MkdirTemp(o.Out, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	var files []string
	for _, target := range o.Targets {
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("target %q: want GOOS/GOARCH", target)
		}
		base := ArchiveBase(o.Version, goos, goarch)
		exe := "tokenwright"
		if goos == "windows" {
			exe += ".exe"
		}
		bin := filepath.Join(scratch, base, exe)
		if err := goBuild(ctx, root, goos, goarch, bin, o, date); err != nil {
			return nil, err
		}
		sbom := base + ".cdx.json"
		if err := writeSBOM(ctx, o, goos, goarch, bin, filepath.Join(o.Out, sbom)); err != nil {
			return nil, err
		}
		entries := []entry{{name: exe, path: bin, mode: 0o755}}
		for _, f := range bundled {
			entries = append(entries, entry{name: f, path: filepath.Join(root, f), mode: 0o644})
		}
		archive := base + ".tar.gz"
		write := writeTarGz
		if goos == "windows" {
			archive, write = base+".zip", writeZip
		}
		if err := write(filepath.Join(o.Out, archive), entries, date); err != nil {
			return nil, fmt.Errorf("%s: %w", archive, err)
		}
		files = append(files, archive, sbom)
	}
	slices.Sort(files)
	if err := writeSums(o.Out, files); err != nil {
		return nil, err
	}
	return append(files, SumsFile), nil
}

// moduleRoot is the directory of the main module (the release builds it,
// wherever in the checkout it was started).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// goBuild cross-compiles cmd/tokenwright for one target. Every input that
// changes the bytes is set here rather than taken from the caller's
// environment: no cgo (static; cross-compiles without a C toolchain), the
// baseline instruction sets, no VCS stamping (the -X values are the
// identity), -trimpath (no checkout paths).
func goBuild(ctx context.Context, root, goos, goarch, out string, o Options, date time.Time) error {
	ldflags := append([]string{"-s", "-w"}, buildinfo.LinkerFlags(o.Version, o.Commit, date.Format(time.RFC3339))...)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-mod=readonly",
		"-ldflags", strings.Join(ldflags, " "), "-o", out, "./cmd/tokenwright")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=", "GOEXPERIMENT=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s/%s: %w\n%s", goos, goarch, err, out)
	}
	return nil
}

// writeSBOM describes exactly what was linked into bin (cyclonedx-gomod's
// bin mode reads the module list the Go linker embedded), without the
// serial number and timestamp that would make each run differ. GOOS and
// GOARCH go into the package URL.
func writeSBOM(ctx context.Context, o Options, goos, goarch, bin, out string) error {
	cmd := exec.CommandContext(ctx, o.CycloneDX, "bin", "-json", "-noserial", "-notimestamp",
		"-version", o.Version, "-output", out, bin)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("SBOM for %s/%s (%s): %w\n%s", goos, goarch, o.CycloneDX, err, b)
	}
	return nil
}

// entry is one file of an archive.
type entry struct {
	name, path string
	mode       int64
}

// writeTarGz packs entries with fixed owner, mode and time; the gzip
// header carries no name, time or OS-specific data.
func writeTarGz(path string, entries []entry, date time.Time) error {
	return writeFile(path, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return err
		}
		tw := tar.NewWriter(zw)
		for _, e := range entries {
			data, err := os.ReadFile(e.path)
			if err != nil {
				return err
			}
			hdr := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(data)), ModTime: date,
				Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
		return errors.Join(tw.Close(), zw.Close())
	})
}

// writeZip packs entries with a fixed time and mode.
func writeZip(path string, entries []entry, date time.Time) error {
	return writeFile(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, e := range entries {
			data, err := os.ReadFile(e.path)
			if err != nil {
				return err
			}
			hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: date}
			hdr.SetMode(os.FileMode(e.mode))
			f, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// writeSums writes SHA256SUMS: "HEX  NAME" per file, sorted by name, the
// format `sha256sum -c SHA256SUMS` checks.
func writeSums(dir string, files []string) error {
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), f)
	}
	return os.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644)
}

func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(fill(f), f.Close())
}
