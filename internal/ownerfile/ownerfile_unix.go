//go:build !windows

package ownerfile

import (
	"os"
)

const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

func mkdirAll(dir string) error { return os.MkdirAll(dir, dirMode) }

func openFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag, fileMode)
	if err != nil || flag&os.O_CREATE == 0 {
		return f, err
	}
	// The mode given to open applies only to a file it creates and is
	// masked by the umask; an existing file opened for writing keeps its
	// mode. Chmod makes both owner-only.
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func restrict(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	mode := fileMode
	if fi.IsDir() {
		mode = dirMode
	}
	return os.Chmod(path, mode)
}

func exposed(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	// A directory may be listable by its group (a deployment can share the
	// parent with a backup user), never writable; a file is for its owner
	// only.
	if fi.IsDir() {
		return fi.Mode().Perm()&0o027 != 0, nil
	}
	return fi.Mode().Perm()&0o077 != 0, nil
}

func fixCommand(path string, dir bool) string {
	if dir {
		return "chmod 700 " + path
	}
	return "chmod 600 " + path
}
