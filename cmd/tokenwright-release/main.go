// Command tokenwright-release builds tokenwright's release artifacts into a
// directory: for each target a static, -trimpath binary stamped with the
// version, commit and date (pkg/buildinfo), packed with LICENSE, README.md
// and CHANGELOG.md into a tar.gz (a zip for Windows); a CycloneDX SBOM of
// each binary (cyclonedx-gomod bin); and SHA256SUMS over all of them, in
// the format `sha256sum -c` checks.
//
// The output is reproducible: the same source, Go version, cyclonedx-gomod
// and flags give byte-identical files. Nothing depends on the clock, the
// user, the checkout's path or the host: the date stamped into the binary
// and given to every archive entry is the commit's (not the time of the
// build), archive entries are sorted and owned by 0:0, gzip and zip headers
// carry no host data, and the SBOMs have no serial number or timestamp.
//
// scripts/release is the way to run it (it builds the pinned
// cyclonedx-gomod first); docs/releasing.md is the procedure.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tokenwright-release:", err)
		os.Exit(1)
	}
}

// run parses args and builds the release, printing the files it wrote to
// stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tokenwright-release", flag.ContinueOnError)
	var o Options
	var targets string
	fs.StringVar(&o.Version, "version", "", "the version to stamp, e.g. v1.2.3 (required)")
	fs.StringVar(&o.Commit, "commit", "", "the commit to stamp (default: git rev-parse HEAD)")
	fs.StringVar(&o.Date, "date", "", "the build date to stamp, RFC 3339 UTC (default: the commit's committer date, for reproducibility)")
	fs.StringVar(&o.Out, "out", "dist", "output directory (must not exist or be empty)")
	fs.StringVar(&targets, "targets", strings.Join(DefaultTargets, ","), "comma-separated GOOS/GOARCH list")
	fs.StringVar(&o.CycloneDX, "cyclonedx", "cyclonedx-gomod", "the cyclonedx-gomod binary (scripts/cyclonedx/build prints the pinned one)")
	allowDirty := fs.Bool("allow-dirty", false, "build even if tracked files differ from the commit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Targets = strings.Split(targets, ",")
	if o.Commit == "" || o.Date == "" {
		if dirty, err := git(ctx, "status", "--porcelain", "--untracked-files=no"); err != nil {
			return err
		} else if dirty != "" && !*allowDirty {
			return fmt.Errorf("tracked files differ from the commit (the binaries would not match it); commit them or pass -allow-dirty:\n%s", dirty)
		}
	}
	if o.Commit == "" {
		c, err := git(ctx, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		o.Commit = c
	}
	if o.Date == "" {
		unix, err := git(ctx, "log", "-1", "--format=%ct", o.Commit)
		if err != nil {
			return err
		}
		var sec int64
		if _, err := fmt.Sscan(unix, &sec); err != nil {
			return fmt.Errorf("commit time %q: %w", unix, err)
		}
		o.Date = time.Unix(sec, 0).UTC().Format(time.RFC3339)
	}
	files, err := Build(ctx, o)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
