package bolt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
)

// Restore replaces the database at dst with a verified copy of src. The
// server must be stopped: Restore takes the file's lock to make sure. The
// old file is kept beside the new one (its name is returned) rather than
// deleted, so a wrong restore can be undone by hand.
func Restore(src, dst string, now time.Time) (aside string, err error) {
	if err := Verify(src); err != nil {
		return "", fmt.Errorf("restore: refusing %s: %w", src, err)
	}
	if fi, err := os.Stat(dst); err == nil && fi.Size() > 0 {
		// Opening read-write takes the exclusive lock a running server
		// holds; a short timeout turns "in use" into a clear error.
		// bbolt takes the lock before it reads a page, so a damaged file
		// (what a restore is usually for) is not in use: replace it.
		db, err := openChecked(dst, bbolt.Options{Timeout: 500 * time.Millisecond}, false)
		switch {
		case errors.Is(err, ErrDamaged):
		case err != nil:
			return "", fmt.Errorf("restore: %s is in use or unreadable (stop the server first): %w", dst, err)
		default:
			_ = db.Close()
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("restore: %w", err)
	}
	dir := filepath.Dir(dst)
	if err := ownerfile.MkdirAll(dir); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	tmp := dst + ".restoring"
	if err := copyFile(src, tmp); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("restore: copying: %w", err)
	}
	if err := Verify(tmp); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("restore: the copy does not verify: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		aside = dst + ".before-restore-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(dst, aside); err != nil {
			_ = os.Remove(tmp)
			return "", fmt.Errorf("restore: keeping the old database aside: %w", err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return aside, fmt.Errorf("restore: %w", err)
	}
	return aside, syncDir(dir)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := ownerfile.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, cerr := io.Copy(out, in)
	return errors.Join(cerr, out.Sync(), out.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
