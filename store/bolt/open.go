package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// ErrDamaged is what Open and Verify return (inside a *DamagedError) for a
// file that exists but cannot be served: truncated, overwritten, empty,
// not a bbolt file, or a bbolt file that is not tokenwright's.
var ErrDamaged = errors.New("database damaged or not a tokenwright database")

// DamagedError names the refused file and says why (the server adds what
// to do about it: restore a backup).
type DamagedError struct {
	Path   string
	Reason string
	Err    error // the bbolt error or panic value, if any
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("bolt: refusing %s: %s", e.Path, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *DamagedError) Unwrap() []error { return []error{ErrDamaged, e.Err} }

// firstVersionBuckets are the buckets every tokenwright database has held
// since the first release: a bbolt file without them is someone else's
// (or an initialisation that never committed, which createFresh rules out).
var firstVersionBuckets = [][]byte{bucketAccounts, bucketUsers, bucketNames, bucketEmails, bucketKeys,
	bucketKeysByOwner, bucketSigningKeys, bucketAudit, bucketRevoked}

// fullCheckLimit bounds the file size for which Open runs bbolt's complete
// consistency check (every reachable page visited): 0.27 s for a 511 MB
// file of 500,000 400-byte entries on 2 shared cores (docs/hardening.md),
// so a start stays within a few seconds up to this size. A bigger file gets
// the cheap checks only (meta pages and freelist, which bbolt.Open reads,
// and tokenwright's buckets); `tokenwright backup` verifies its copy
// completely.
const fullCheckLimit = 2 << 30

// Open opens the database file at path with mode 0600, creating it only
// when no file exists. An existing file is served only if it passes the
// checks (see DamagedError): a damaged file is refused, never initialised
// over and never allowed to panic the process.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if !fi.Mode().IsRegular() {
			return nil, &DamagedError{Path: path, Reason: "not a regular file"}
		}
		if fi.Size() == 0 {
			// bbolt would initialise it: a truncated database must not
			// pass for a fresh install (new administrator, new keys).
			return nil, &DamagedError{Path: path, Reason: "the file is empty (0 bytes), which is not taken for a fresh installation"}
		}
	case errors.Is(err, fs.ErrNotExist) && !opts.ReadOnly:
		if err := createFresh(path); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bolt: %w", err)
	}
	db, err := openChecked(path, bbolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly, FreelistType: bbolt.FreelistMapType},
		fi == nil || fi.Size() <= fullCheckLimit)
	if err != nil {
		return nil, err
	}
	// Batches wait at most 2 ms for company: administrative calls stay
	// snappy and bursts still share one fsync.
	db.MaxBatchDelay = 2 * time.Millisecond
	version, err := storedFormat(db, path)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if !opts.ReadOnly && (version < store.FormatVersion || !hasAllBuckets(db)) {
		if err := db.Update(migrate); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("bolt: bringing %s to stored format %d: %w", path, store.FormatVersion, classifyWrite(err))
		}
	}
	s := &Store{db: db, health: writeHealth{dir: filepath.Dir(path)}}
	s.Reader = records.NewReader(s.readRecord, s.listRecords)
	s.Writer = records.NewWriter(s.update)
	return s, nil
}

// storedFormat reads the file's format stamp (0 for a file from before
// stamps); a stamp this build cannot read is a *store.FormatError.
func storedFormat(db *bbolt.DB, path string) (int, error) {
	var stamp []byte
	_ = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			stamp = bytes.Clone(b.Get(keyFormat))
		}
		return nil
	})
	return store.ParseFormat(path, stamp)
}

// migrate brings a file of an earlier stored format (or one missing a
// bucket a later release added) to store.FormatVersion, in the one
// transaction it is called in. Format 0 to 1: the buckets added since the
// first release (the expiry index, built from the keys; meta), then the
// stamp. A later format adds its step here, after the ones before it.
func migrate(tx *bbolt.Tx) error {
	hadKeys := tx.Bucket(bucketKeys) != nil
	needsExpiryIndex := tx.Bucket(bucketKeysByExpiry) == nil
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	if hadKeys && needsExpiryIndex {
		if err := buildExpiryIndex(tx); err != nil { // a file from before the index
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyFormat, store.FormatStamp())
}

// createFresh makes a new, initialised database at path: built under a
// temporary name and renamed into place, so that a crash never leaves a
// bbolt file without tokenwright's buckets (which the next start would
// rightly refuse as foreign).
func createFresh(path string) error {
	dir := filepath.Dir(path)
	if err := ownerfile.MkdirAll(dir); err != nil {
		return fmt.Errorf("bolt: creating data directory: %w", err)
	}
	tmp := path + ".creating"
	_ = os.Remove(tmp) // left by a crash during an earlier creation
	db, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, classifyWrite(err))
	}
	// bbolt's 0600 is a Unix mode; ownerfile makes the new file
	// owner-only on every platform before anything is written to it.
	if err := ownerfile.Restrict(tmp); err != nil {
		_ = db.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, store.FormatStamp())
	})
	if err = errors.Join(err, db.Close()); err == nil {
		// Link, not rename: a file that appeared meanwhile (another
		// process creating the same database) is never replaced.
		err = os.Link(tmp, path)
	}
	_ = os.Remove(tmp)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("bolt: creating %s: %w", path, classifyWrite(err))
	}
	return syncDir(dir)
}

// openChecked opens path with bbolt, turning bbolt's refusals and its
// panics on damaged pages (it panics, for instance, on "invalid freelist
// page" in a truncated file) into a *DamagedError, and then runs the
// consistency check when full is set and checks tokenwright's buckets.
func openChecked(path string, opts bbolt.Options, full bool) (db *bbolt.DB, err error) {
	defer func() {
		if v := recover(); v != nil {
			if db != nil {
				_ = closeQuietly(db)
			}
			db, err = nil, &DamagedError{Path: path, Reason: "bbolt cannot read it", Err: fmt.Errorf("%v", v)}
		}
	}()
	if err := checkExtent(path); err != nil {
		return nil, err
	}
	db, err = bbolt.Open(path, 0o600, &opts)
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("bolt: %s is locked by another process (is a server running on this data directory?)", path)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch),
			errors.Is(err, bolterrors.ErrInvalidMapping):
			return nil, &DamagedError{Path: path, Reason: "not a readable bbolt database", Err: err}
		}
		return nil, fmt.Errorf("bolt: opening %s: %w", path, classifyWrite(err))
	}
	var reason string
	var cause error
	if full {
		if cerr := Check(db); cerr != nil {
			reason, cause = "it fails bbolt's consistency check", cerr
		}
	}
	if reason == "" && !hasBuckets(db, firstVersionBuckets) {
		reason = "it is a bbolt file but not a tokenwright database (its buckets are missing)"
	}
	if reason != "" {
		_ = closeQuietly(db)
		return nil, &DamagedError{Path: path, Reason: reason, Err: cause}
	}
	return db, nil
}

// closeQuietly closes a database that may be damaged; a panic in Close is
// as uninteresting as its error.
func closeQuietly(db *bbolt.DB) (err error) {
	defer func() {
		if recover() != nil {
			err = ErrDamaged
		}
	}()
	return db.Close()
}

// hasAllBuckets lets Open skip its write transaction on an initialised
// file, so that merely opening a database never modifies it.
func hasAllBuckets(db *bbolt.DB) bool { return hasBuckets(db, allBuckets) }

func hasBuckets(db *bbolt.DB, names [][]byte) bool {
	missing := false
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, b := range names {
			missing = missing || tx.Bucket(b) == nil
		}
		return nil
	})
	return !missing
}
