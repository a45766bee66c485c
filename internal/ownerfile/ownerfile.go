// Package ownerfile is the one home of the rule "secrets and the data
// directory are for their owner only": the data directory, the database,
// the key-encryption key, the bootstrap admin token, backups and the CLI's
// token cache are created through it, and the server's start-up check of
// their permissions asks it.
//
// On Unix the rule is the file mode: directories 0700, files 0600. On
// Windows, where modes mean nothing, it is a protected DACL (no inherited
// entries) granting full control to the current user, SYSTEM and the
// Administrators group only; new directories pass it on to what is created
// in them.
package ownerfile

import (
	"errors"
	"os"
)

// MkdirAll creates dir and any missing parents, owner-only, like
// os.MkdirAll(dir, 0o700): an existing directory is left as it is (the
// start-up check reports it if it is open to others).
func MkdirAll(dir string) error {
	return mkdirAll(dir)
}

// OpenFile is os.OpenFile for a secret: a file it creates is owner-only
// from the first byte (on Windows the DACL is set by CreateFile itself,
// not afterwards). flag is as for os.OpenFile (O_CREATE, O_EXCL, O_TRUNC,
// O_WRONLY, ...).
func OpenFile(path string, flag int) (*os.File, error) {
	return openFile(path, flag)
}

// WriteFile writes data to path (created or truncated) owner-only.
func WriteFile(path string, data []byte) error {
	f, err := OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	return errors.Join(werr, f.Close())
}

// Restrict makes an existing file or directory owner-only: for files that
// another library creates (bbolt, os.CreateTemp) and for tightening what
// someone opened up.
func Restrict(path string) error {
	return restrict(path)
}

// Exposed reports whether a user other than the owner (on Windows: other
// than the owner, SYSTEM and Administrators) may access path.
func Exposed(path string) (bool, error) {
	return exposed(path)
}

// FixCommand is the command an operator runs to make path owner-only
// again, for log messages.
func FixCommand(path string, dir bool) string {
	return fixCommand(path, dir)
}
