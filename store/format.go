package store

import (
	"errors"
	"fmt"
	"strconv"
)

// FormatVersion is the version of the stored layout (bucket and key
// names, the JSON of every record type, pinned by the golden records in
// store/testdata) that this build reads and writes. A backend stamps it on
// a new store and refuses a store stamped with a later version (FormatError)
// rather than misread it; a store with an earlier version is brought up to
// this one at start by the backend's migrations, in one transaction.
//
// Version 1 is the layout of every store written before stores carried a
// version; a store without a stamp is version 0 and is migrated to 1 by
// stamping it (the bbolt backend also adds buckets that later releases
// introduced, such as the expiry index).
//
// Raise it, and add the migration from the previous version, whenever a
// change would make existing records read differently: a renamed JSON
// field, a changed type, a moved key. The golden records test fails on
// such a change until the fixtures are regenerated, which is the reminder.
const FormatVersion = 1

// ErrFormat is matched (errors.Is) by every FormatError.
var ErrFormat = errors.New("stored format not readable by this build")

// FormatError refuses a store written in a layout this build does not
// know.
type FormatError struct {
	Where string // the file or etcd prefix
	Found string // the stamp as stored
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s has stored format %q, but this build reads format %d and earlier: "+
		"it was written by a newer tokenwright; run that version (or restore a backup taken with this one)",
		e.Where, e.Found, FormatVersion)
}

func (e *FormatError) Unwrap() error { return ErrFormat }

// ParseFormat reads a stored format stamp: nil (no stamp) is version 0;
// a stamp this build cannot read is a *FormatError.
func ParseFormat(where string, stamp []byte) (int, error) {
	if stamp == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(stamp))
	if err != nil || v < 1 || v > FormatVersion {
		return 0, &FormatError{Where: where, Found: string(stamp)}
	}
	return v, nil
}

// FormatStamp is the stamp of FormatVersion as stored.
func FormatStamp() []byte { return []byte(strconv.Itoa(FormatVersion)) }
