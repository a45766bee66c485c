// Package bolt is the embedded default Store backend: one bbolt file.
//
// Every administrative write is a bbolt read-write transaction, which bbolt
// fsyncs before Update/Batch returns, so an answered API call is durable.
// Concurrent writes go through db.Batch, which coalesces them into one
// transaction and one fsync (this is what lets key creation scale).
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// FileName is the database file inside the data directory.
const FileName = "tokenwright.db"

var (
	bucketAccounts    = []byte("service_accounts")
	bucketUsers       = []byte("users")
	bucketNames       = []byte("principal_names")  // name -> "sa" | "user"
	bucketEmails      = []byte("principal_emails") // email -> name
	bucketKeys        = []byte("keys")
	bucketKeysByOwner = []byte("keys_by_owner") // kind \x00 owner \x00 id -> nil
	// keys_by_expiry: big-endian unix seconds of ExpiresAt, id -> nil, for
	// keys that expire: the expiry-notice job reads days, not millions.
	bucketKeysByExpiry = []byte("keys_by_expiry")
	bucketSigningKeys  = []byte("signing_keys")
	bucketAudit        = []byte("audit") // big-endian sequence -> event
	bucketRevoked      = []byte("revoked_tokens")
	bucketSessions     = []byte("sessions")         // hex SHA-256 of the secret -> store.Session
	bucketFedRules     = []byte("federation_rules") // rule id -> store.FederationRule
	bucketForeignToks  = []byte("foreign_tokens")   // hash of (issuer, jti) -> store.ForeignToken
	bucketTicketKeys   = []byte("tls_ticket_keys")  // sequence id -> store.TLSTicketKey
	// meta: "format" -> store.FormatVersion as decimal text.
	bucketMeta = []byte("meta")
	keyFormat  = []byte("format")

	allBuckets = [][]byte{bucketAccounts, bucketUsers, bucketNames, bucketEmails, bucketKeys,
		bucketKeysByOwner, bucketKeysByExpiry, bucketSigningKeys, bucketAudit, bucketRevoked, bucketSessions, bucketFedRules, bucketForeignToks, bucketTicketKeys, bucketMeta}
)

// Store is the bbolt implementation of store.Store. The records' reads
// and writes (their rules are store/records', shared with etcd) run in
// view (readRecord, listRecords) and in batch (recordTx, records.go).
type Store struct {
	records.Reader
	records.Writer
	db     *bbolt.DB
	health writeHealth        // writehealth.go
	keys   store.KeyFollowers // keyfeed.go
}

var _ store.Store = (*Store)(nil)

// Options tune Open.
type Options struct {
	// Timeout waits this long for the file lock held by another process.
	Timeout time.Duration
	// ReadOnly opens the file without taking the write lock.
	ReadOnly bool
}

// DB exposes the underlying handle for backups and consistency checks.
func (s *Store) DB() *bbolt.DB { return s.db }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Health checks that a read transaction can be opened and that the last
// write did not fail for want of disk (writehealth.go).
func (s *Store) Health(ctx context.Context) error {
	if err := s.health.check(); err != nil {
		return err
	}
	return s.view(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketKeys) == nil {
			return errors.New("bolt: buckets missing")
		}
		return nil
	})
}

// view and batch run fn in a transaction after checking ctx.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Open refuses damaged files, but a page damaged later (by something
	// else writing to the file) makes bbolt panic on read: an error, not
	// a dead process, wherever the read runs (requests or background jobs).
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("bolt: reading the database: %v: %w", v, ErrDamaged)
		}
	}()
	return s.db.View(fn)
}

// batch is every write: after fn has staged the change, the audit event
// that ctx carries (store.WithAudit) is appended in the same transaction,
// so the change commits with its event or not at all.
// batch also classifies the failure (a full disk is a 503, not a 500)
// and feeds the write health that /readyz reports.
func (s *Store) batch(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := classifyWrite(s.db.Batch(func(tx *bbolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		ev, ok, err := store.ChangeAudit(ctx)
		if !ok || err != nil {
			return err
		}
		_, err = appendAudit(tx, ev)
		return err
	}))
	s.health.observe(err)
	return err
}

// readRecord and listRecords are records.Reader's reads: a read
// transaction each.
func (s *Store) readRecord(ctx context.Context, fam records.Family, id string, fn func([]byte) error) error {
	b, err := bucketOf(fam)
	if err != nil {
		return err
	}
	return s.view(ctx, func(tx *bbolt.Tx) error {
		data := tx.Bucket(b).Get([]byte(id))
		if data == nil {
			return fmt.Errorf("%s %q: %w", fam, id, store.ErrNotFound)
		}
		return fn(data)
	})
}

func (s *Store) listRecords(ctx context.Context, fam records.Family, fn func(id string, data []byte) error) error {
	b, err := bucketOf(fam)
	if err != nil {
		return err
	}
	return s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(b).ForEach(func(k, data []byte) error { return fn(string(k), data) })
	})
}

func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (out []store.Key, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		r := recordTx{tx: tx} // only reads
		ids, err := r.KeyIDs(q)
		if err != nil {
			return err
		}
		out, err = records.SelectKeys(q, ids, func(id string) ([]byte, bool, error) { return r.Get(records.Keys, id) })
		return err
	})
	return out, err
}

func (s *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) error {
	if len(usage) == 0 {
		return nil
	}
	return s.batch(store.WithoutAudit(ctx), func(tx *bbolt.Tx) error {
		return records.MergeKeyUsage(recordTx{tx: tx, feed: &s.keys}, usage)
	})
}

// --- audit ---

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (out store.AuditEvent, err error) {
	if err := e.Validate(); err != nil {
		return e, err
	}
	err = s.batch(store.WithoutAudit(ctx), func(tx *bbolt.Tx) error {
		out, err = appendAudit(tx, e)
		return err
	})
	return out, err
}

// appendAudit stores ev under the bucket's next sequence number, which
// becomes its ID (a rolled-back transaction takes its number back).
func appendAudit(tx *bbolt.Tx, ev store.AuditEvent) (store.AuditEvent, error) {
	b := tx.Bucket(bucketAudit)
	if b == nil {
		return ev, fmt.Errorf("bolt: bucket %s missing: cannot record the audit event of %s", bucketAudit, ev.Action)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return ev, err
	}
	ev.ID = fmt.Sprintf("%016x", seq)
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	data, err := json.Marshal(ev)
	if err != nil {
		return ev, fmt.Errorf("bolt: encoding audit event: %w", err)
	}
	return ev, b.Put(k[:], data)
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) (out []store.AuditEvent, err error) {
	limit := q.EffectiveLimit()
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if q.Before != "" {
			var seq uint64
			if _, err := fmt.Sscanf(q.Before, "%016x", &seq); err != nil {
				return fmt.Errorf("audit cursor %q: %w", q.Before, store.ErrInvalidArgument)
			}
			var start [8]byte
			binary.BigEndian.PutUint64(start[:], seq)
			k, _ = c.Seek(start[:])
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev() // strictly older than the cursor
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e store.AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("bolt: decoding audit event: %w", err)
			}
			if q.BeforeSince(e) {
				break // events are in time order: nothing older can match
			}
			if q.Matches(e) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// --- revoked tokens ---

func (s *Store) PruneRevokedTokens(ctx context.Context, now time.Time) (n int, err error) {
	err = s.batch(store.WithoutAudit(ctx), func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketRevoked)
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var t store.RevokedToken
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			if t.Expired(now) {
				doomed = append(doomed, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}
