// Package bolt is the embedded default Store backend: one bbolt file.
//
// Every administrative write is a bbolt read-write transaction, which bbolt
// fsyncs before Update/Batch returns, so an answered API call is durable.
// Concurrent writes go through db.Batch, which coalesces them into one
// transaction and one fsync (this is what lets key creation scale).
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
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

	allBuckets = [][]byte{bucketAccounts, bucketUsers, bucketNames, bucketEmails, bucketKeys,
		bucketKeysByOwner, bucketKeysByExpiry, bucketSigningKeys, bucketAudit, bucketRevoked}
)

const (
	principalAccount = "sa"
	principalUser    = "user"
)

// Store is the bbolt implementation of store.Store.
type Store struct {
	db     *bbolt.DB
	health writeHealth // writehealth.go
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

func get[T any](tx *bbolt.Tx, bucket []byte, key string) (T, error) {
	var v T
	data := tx.Bucket(bucket).Get([]byte(key))
	if data == nil {
		return v, store.ErrNotFound
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("bolt: decoding %s/%s: %w", bucket, key, err)
	}
	return v, nil
}

func put(tx *bbolt.Tx, bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bolt: encoding %s/%s: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put([]byte(key), data)
}

func list[T any](tx *bbolt.Tx, bucket []byte) ([]T, error) {
	var out []T
	err := tx.Bucket(bucket).ForEach(func(k, data []byte) error {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("bolt: decoding %s/%s: %w", bucket, k, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// --- principals (shared name and email namespace) ---

func claimPrincipal(tx *bbolt.Tx, kind, name, email string) error {
	names, emails := tx.Bucket(bucketNames), tx.Bucket(bucketEmails)
	if names.Get([]byte(name)) != nil {
		return fmt.Errorf("name %q: %w", name, store.ErrAlreadyExists)
	}
	if email != "" && emails.Get([]byte(email)) != nil {
		return fmt.Errorf("email %q: %w", email, store.ErrConflict)
	}
	if err := names.Put([]byte(name), []byte(kind)); err != nil {
		return err
	}
	if email != "" {
		return emails.Put([]byte(email), []byte(name))
	}
	return nil
}

func changeEmail(tx *bbolt.Tx, name, oldEmail, newEmail string) error {
	if oldEmail == newEmail {
		return nil
	}
	emails := tx.Bucket(bucketEmails)
	if newEmail != "" {
		if owner := emails.Get([]byte(newEmail)); owner != nil && string(owner) != name {
			return fmt.Errorf("email %q: %w", newEmail, store.ErrConflict)
		}
		if err := emails.Put([]byte(newEmail), []byte(name)); err != nil {
			return err
		}
	}
	if oldEmail != "" {
		return emails.Delete([]byte(oldEmail))
	}
	return nil
}

func releasePrincipal(tx *bbolt.Tx, name, email string) error {
	if err := tx.Bucket(bucketNames).Delete([]byte(name)); err != nil {
		return err
	}
	if email != "" {
		return tx.Bucket(bucketEmails).Delete([]byte(email))
	}
	return nil
}

// --- service accounts ---

// checkOwners enforces the contract that owners are existing users.
func checkOwners(tx *bbolt.Tx, owners []string) error {
	users := tx.Bucket(bucketUsers)
	for _, o := range owners {
		if users.Get([]byte(o)) == nil {
			return fmt.Errorf("owner %q: %w", o, store.ErrNotFound)
		}
	}
	return nil
}

func (s *Store) CreateServiceAccount(ctx context.Context, sa store.ServiceAccount) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		if err := checkOwners(tx, sa.Owners); err != nil {
			return err
		}
		if err := claimPrincipal(tx, principalAccount, sa.Name, sa.Email); err != nil {
			return err
		}
		return put(tx, bucketAccounts, sa.Name, sa)
	})
}

func (s *Store) GetServiceAccount(ctx context.Context, name string) (sa store.ServiceAccount, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		sa, err = get[store.ServiceAccount](tx, bucketAccounts, name)
		return err
	})
	return sa, err
}

func (s *Store) ListServiceAccounts(ctx context.Context) (out []store.ServiceAccount, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		out, err = list[store.ServiceAccount](tx, bucketAccounts)
		return err
	})
	return out, err
}

func (s *Store) UpdateServiceAccount(ctx context.Context, name string, update func(store.ServiceAccount) (store.ServiceAccount, error)) (result store.ServiceAccount, err error) {
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		old, err := get[store.ServiceAccount](tx, bucketAccounts, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.Name, updated.ID = old.Name, old.ID // immutable
		if err := checkOwners(tx, updated.Owners); err != nil {
			return err
		}
		if err := changeEmail(tx, name, old.Email, updated.Email); err != nil {
			return err
		}
		result = updated
		return put(tx, bucketAccounts, name, updated)
	})
	return result, err
}

func (s *Store) DeleteServiceAccount(ctx context.Context, name string) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		sa, err := get[store.ServiceAccount](tx, bucketAccounts, name)
		if err != nil {
			return err
		}
		if err := deleteOwnedKeys(tx, store.KindServiceKey, name); err != nil {
			return err
		}
		if err := releasePrincipal(tx, name, sa.Email); err != nil {
			return err
		}
		return tx.Bucket(bucketAccounts).Delete([]byte(name))
	})
}

// --- users ---

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		if err := claimPrincipal(tx, principalUser, u.Name, u.Email); err != nil {
			return err
		}
		return put(tx, bucketUsers, u.Name, u)
	})
}

func (s *Store) GetUser(ctx context.Context, name string) (u store.User, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		u, err = get[store.User](tx, bucketUsers, name)
		return err
	})
	return u, err
}

func (s *Store) ListUsers(ctx context.Context) (out []store.User, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		out, err = list[store.User](tx, bucketUsers)
		return err
	})
	return out, err
}

func (s *Store) UpdateUser(ctx context.Context, name string, update func(store.User) (store.User, error)) (result store.User, err error) {
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		old, err := get[store.User](tx, bucketUsers, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.Name, updated.ID = old.Name, old.ID
		if err := changeEmail(tx, name, old.Email, updated.Email); err != nil {
			return err
		}
		result = updated
		return put(tx, bucketUsers, name, updated)
	})
	return result, err
}

func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		u, err := get[store.User](tx, bucketUsers, name)
		if err != nil {
			return err
		}
		if err := deleteOwnedKeys(tx, store.KindPersonalToken, name); err != nil {
			return err
		}
		if err := dropOwner(tx, name); err != nil {
			return err
		}
		if err := releasePrincipal(tx, name, u.Email); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).Delete([]byte(name))
	})
}

// dropOwner removes user from every service account's Owners.
func dropOwner(tx *bbolt.Tx, user string) error {
	accounts, err := list[store.ServiceAccount](tx, bucketAccounts)
	if err != nil {
		return err
	}
	for _, sa := range accounts {
		if !slices.Contains(sa.Owners, user) {
			continue
		}
		sa.Owners = slices.DeleteFunc(sa.Owners, func(o string) bool { return o == user })
		if err := put(tx, bucketAccounts, sa.Name, sa); err != nil {
			return err
		}
	}
	return nil
}

// --- keys ---

func ownerIndexKey(kind store.KeyKind, owner, id string) []byte {
	return []byte(string(kind) + "\x00" + owner + "\x00" + id)
}

func ownerIndexPrefix(kind store.KeyKind, owner string) []byte {
	switch {
	case kind == "":
		return nil
	case owner == "":
		return []byte(string(kind) + "\x00")
	default:
		return []byte(string(kind) + "\x00" + owner + "\x00")
	}
}

func deleteOwnedKeys(tx *bbolt.Tx, kind store.KeyKind, owner string) error {
	idx, keys := tx.Bucket(bucketKeysByOwner), tx.Bucket(bucketKeys)
	prefix := ownerIndexPrefix(kind, owner)
	var doomed [][]byte
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		doomed = append(doomed, slices.Clone(k))
	}
	for _, k := range doomed {
		id := k[len(prefix):]
		key, err := get[store.Key](tx, bucketKeys, string(id))
		if err != nil {
			return err
		}
		if err := unindexExpiry(tx, key); err != nil {
			return err
		}
		if err := keys.Delete(id); err != nil {
			return err
		}
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// expiryIndexKey orders keys by expiry second, then id.
func expiryIndexKey(expires time.Time, id string) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(max(0, expires.Unix())))
}

func indexExpiry(tx *bbolt.Tx, k store.Key) error {
	if k.ExpiresAt.IsZero() {
		return nil
	}
	return tx.Bucket(bucketKeysByExpiry).Put(append(expiryIndexKey(k.ExpiresAt, k.ID), k.ID...), nil)
}

func unindexExpiry(tx *bbolt.Tx, k store.Key) error {
	if k.ExpiresAt.IsZero() {
		return nil
	}
	return tx.Bucket(bucketKeysByExpiry).Delete(append(expiryIndexKey(k.ExpiresAt, k.ID), k.ID...))
}

func buildExpiryIndex(tx *bbolt.Tx) error {
	return tx.Bucket(bucketKeys).ForEach(func(_, data []byte) error {
		var k store.Key
		if err := json.Unmarshal(data, &k); err != nil {
			return err
		}
		return indexExpiry(tx, k)
	})
}

func (s *Store) CreateKey(ctx context.Context, k store.Key, opts ...store.CreateKeyOption) error {
	o := store.CreateKeyOptionsOf(opts)
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		ownerBucket := bucketAccounts
		if k.Kind == store.KindPersonalToken {
			ownerBucket = bucketUsers
		} else if k.Kind != store.KindServiceKey {
			return fmt.Errorf("bolt: unknown key kind %q", k.Kind)
		}
		if tx.Bucket(ownerBucket).Get([]byte(k.Owner)) == nil {
			return fmt.Errorf("owner %q: %w", k.Owner, store.ErrNotFound)
		}
		if tx.Bucket(bucketKeys).Get([]byte(k.ID)) != nil {
			return fmt.Errorf("key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		if k.Kind == store.KindPersonalToken {
			siblings, err := listKeys(tx, store.KeyQuery{Kind: k.Kind, Owner: k.Owner})
			if err != nil {
				return err
			}
			for _, other := range siblings {
				if other.Name == k.Name {
					return fmt.Errorf("token name %q: %w", k.Name, store.ErrAlreadyExists)
				}
			}
		}
		if o.MaxPerOwner > 0 {
			// Counting the owner index inside the write transaction makes
			// the limit exact: bbolt runs one writer at a time.
			n, prefix := 0, ownerIndexPrefix(k.Kind, k.Owner)
			c := tx.Bucket(bucketKeysByOwner).Cursor()
			for ik, _ := c.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix) && n < o.MaxPerOwner; ik, _ = c.Next() {
				n++
			}
			if n >= o.MaxPerOwner {
				return fmt.Errorf("%s %q holds %d keys: %w", k.Kind, k.Owner, n, store.ErrLimitExceeded)
			}
		}
		if err := tx.Bucket(bucketKeysByOwner).Put(ownerIndexKey(k.Kind, k.Owner, k.ID), nil); err != nil {
			return err
		}
		if err := indexExpiry(tx, k); err != nil {
			return err
		}
		return put(tx, bucketKeys, k.ID, k)
	})
}

func (s *Store) GetKey(ctx context.Context, id string) (k store.Key, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		k, err = get[store.Key](tx, bucketKeys, id)
		return err
	})
	return k, err
}

func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (out []store.Key, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		out, err = listKeys(tx, q)
		return err
	})
	return out, err
}

func listKeys(tx *bbolt.Tx, q store.KeyQuery) ([]store.Key, error) {
	var out []store.Key
	if q.ByExpiry() {
		// From just after ExpiresAfter's second to the end of
		// ExpiresBefore's; Matches trims the edges exactly.
		from, to := expiryIndexKey(q.ExpiresAfter, ""), expiryIndexKey(q.ExpiresBefore.Add(time.Second), "")
		c := tx.Bucket(bucketKeysByExpiry).Cursor()
		for k, _ := c.Seek(from); k != nil && bytes.Compare(k, to) < 0; k, _ = c.Next() {
			key, err := get[store.Key](tx, bucketKeys, string(k[8:]))
			if err != nil {
				return nil, err
			}
			if q.Matches(key) {
				out = append(out, key)
			}
		}
		return out, nil
	}
	if q.Kind == "" {
		// Decode one at a time: a million keys never sit in memory twice.
		err := tx.Bucket(bucketKeys).ForEach(func(id, data []byte) error {
			var k store.Key
			if err := json.Unmarshal(data, &k); err != nil {
				return fmt.Errorf("bolt: decoding %s/%s: %w", bucketKeys, id, err)
			}
			if q.Matches(k) {
				out = append(out, k)
			}
			return nil
		})
		return out, err
	}
	prefix := ownerIndexPrefix(q.Kind, q.Owner)
	c := tx.Bucket(bucketKeysByOwner).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := k[bytes.LastIndexByte(k, 0)+1:]
		key, err := get[store.Key](tx, bucketKeys, string(id))
		if err != nil {
			return nil, err
		}
		if q.Matches(key) {
			out = append(out, key)
		}
	}
	return out, nil
}

func (s *Store) UpdateKey(ctx context.Context, id string, update func(store.Key) (store.Key, error)) (result store.Key, err error) {
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		result, err = updateKey(tx, id, update)
		return err
	})
	return result, err
}

func updateKey(tx *bbolt.Tx, id string, update func(store.Key) (store.Key, error)) (store.Key, error) {
	old, err := get[store.Key](tx, bucketKeys, id)
	if err != nil {
		return store.Key{}, err
	}
	updated, err := update(old)
	if err != nil {
		return store.Key{}, err
	}
	updated.ID, updated.Kind, updated.Owner = old.ID, old.Kind, old.Owner
	if !updated.ExpiresAt.Equal(old.ExpiresAt) {
		if err := unindexExpiry(tx, old); err != nil {
			return store.Key{}, err
		}
		if err := indexExpiry(tx, updated); err != nil {
			return store.Key{}, err
		}
	}
	return updated, put(tx, bucketKeys, id, updated)
}

func (s *Store) UpdateKeys(ctx context.Context, q store.KeyQuery, update func(store.Key) (store.Key, error)) (changed []store.Key, err error) {
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		changed = nil
		keys, err := listKeys(tx, q)
		if err != nil {
			return err
		}
		for _, k := range keys {
			updated, err := updateKey(tx, k.ID, update)
			if errors.Is(err, store.ErrSkip) {
				continue
			}
			if err != nil {
				return err
			}
			changed = append(changed, updated)
		}
		return nil
	})
	return changed, err
}

func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		k, err := get[store.Key](tx, bucketKeys, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeysByOwner).Delete(ownerIndexKey(k.Kind, k.Owner, k.ID)); err != nil {
			return err
		}
		if err := unindexExpiry(tx, k); err != nil {
			return err
		}
		return tx.Bucket(bucketKeys).Delete([]byte(id))
	})
}

func (s *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) error {
	if len(usage) == 0 {
		return nil
	}
	return s.batch(store.WithoutAudit(ctx), func(tx *bbolt.Tx) error {
		for _, u := range usage {
			_, err := updateKey(tx, u.KeyID, func(k store.Key) (store.Key, error) {
				if !u.At.After(k.LastUsedAt) {
					return k, store.ErrSkip
				}
				k.LastUsedAt, k.LastUsedIP = u.At, u.IP
				return k, nil
			})
			if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrSkip) {
				return err
			}
		}
		return nil
	})
}

// --- signing keys ---

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSigningKeys).Get([]byte(k.ID)) != nil {
			return fmt.Errorf("signing key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		return put(tx, bucketSigningKeys, k.ID, k)
	})
}

func (s *Store) ListSigningKeys(ctx context.Context) (out []store.SigningKey, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		out, err = list[store.SigningKey](tx, bucketSigningKeys)
		return err
	})
	return out, err
}

func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (result store.SigningKey, err error) {
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		old, err := get[store.SigningKey](tx, bucketSigningKeys, id)
		if err != nil {
			return err
		}
		result, err = update(old)
		if err != nil {
			return err
		}
		result.ID = old.ID
		return put(tx, bucketSigningKeys, id, result)
	})
	return result, err
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSigningKeys).Get([]byte(id)) == nil {
			return store.ErrNotFound
		}
		return tx.Bucket(bucketSigningKeys).Delete([]byte(id))
	})
}

func (s *Store) ReplaceSigningKeys(ctx context.Context, keys []store.SigningKey) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketSigningKeys); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketSigningKeys); err != nil {
			return err
		}
		for _, k := range keys {
			if err := put(tx, bucketSigningKeys, k.ID, k); err != nil {
				return err
			}
		}
		return nil
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
			if !q.Since.IsZero() && e.Time.Before(q.Since) {
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

func (s *Store) RevokeToken(ctx context.Context, t store.RevokedToken) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		return put(tx, bucketRevoked, t.JTI, t)
	})
}

func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (revoked bool, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		revoked = tx.Bucket(bucketRevoked).Get([]byte(jti)) != nil
		return nil
	})
	return revoked, err
}

func (s *Store) ListRevokedTokens(ctx context.Context) (out []store.RevokedToken, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		out, err = list[store.RevokedToken](tx, bucketRevoked)
		return err
	})
	return out, err
}

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
			if !now.Before(t.ExpiresAt) {
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
