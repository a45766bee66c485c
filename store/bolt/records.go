package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// update runs a records.Writer transaction in batch (with its audit event).
func (s *Store) update(ctx context.Context, fn func(records.Tx) error) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error { return fn(recordTx{tx: tx, feed: &s.keys}) })
}

// recordTx is a read-write bbolt transaction as records.Tx. bbolt runs one
// writer at a time, so what a transaction reads cannot change before it
// commits: Get, Each and KeyIDs need no guard, and Lock does nothing.
// Keys are indexed here (owner, expiry) as they are written; TokenNames is
// not stored but derived from the owner index. Changes of keys are
// announced to feed's followers once the transaction commits (keyfeed.go;
// nil: a read-only use).
type recordTx struct {
	tx   *bbolt.Tx
	feed *store.KeyFollowers
}

var _ records.Tx = recordTx{}

// buckets hold the stored families (TokenNames is derived).
var buckets = map[records.Family][]byte{
	records.Accounts: bucketAccounts, records.Users: bucketUsers, records.Names: bucketNames,
	records.Emails: bucketEmails, records.Keys: bucketKeys, records.SigningKeys: bucketSigningKeys,
	records.Revoked: bucketRevoked, records.Sessions: bucketSessions,
	records.FederationRules: bucketFedRules, records.ForeignTokens: bucketForeignToks,
	records.TLSTicketKeys: bucketTicketKeys,
}

func bucketOf(fam records.Family) ([]byte, error) {
	if b, ok := buckets[fam]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("bolt: no bucket for %s", fam)
}

func (r recordTx) Get(fam records.Family, id string) ([]byte, bool, error) {
	if fam == records.TokenNames {
		return r.tokenName(id)
	}
	b, err := bucketOf(fam)
	if err != nil {
		return nil, false, err
	}
	v := r.tx.Bucket(b).Get([]byte(id))
	return v, v != nil, nil
}

// tokenName finds the personal access token that TokenNames id names
// among its owner's tokens.
func (r recordTx) tokenName(id string) ([]byte, bool, error) {
	owner, name, _ := strings.Cut(id, "\x00")
	ids, err := r.OwnedKeys(store.KindPersonalToken, owner)
	if err != nil {
		return nil, false, err
	}
	for _, kid := range ids {
		k, err := records.Get[store.Key](r, records.Keys, kid)
		if err != nil {
			return nil, false, err
		}
		if k.Name == name {
			return []byte(kid), true, nil
		}
	}
	return nil, false, nil
}

func (r recordTx) Put(fam records.Family, id string, data []byte) error {
	return r.write(fam, id, data, false)
}

func (r recordTx) Delete(fam records.Family, id string) error { return r.write(fam, id, nil, true) }

// write stores data as fam/id, or deletes fam/id, keeping the key
// indexes in step.
func (r recordTx) write(fam records.Family, id string, data []byte, del bool) error {
	if fam == records.TokenNames {
		return nil // derived (tokenName)
	}
	b, err := bucketOf(fam)
	if err != nil {
		return err
	}
	if fam == records.Keys {
		if err := r.announce(id, data, del); err != nil {
			return err
		}
		if err := r.reindexKey(id, data, del); err != nil {
			return err
		}
	}
	if del {
		return r.tx.Bucket(b).Delete([]byte(id))
	}
	return r.tx.Bucket(b).Put([]byte(id), data)
}

func (recordTx) Lock(records.Family, string) error { return nil }

func (r recordTx) Each(fam records.Family, fn func(id string, data []byte) error) error {
	b, err := bucketOf(fam)
	if err != nil {
		return err
	}
	return r.tx.Bucket(b).ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

func (r recordTx) OwnedKeys(kind store.KeyKind, owner string) ([]string, error) {
	return r.KeyIDs(store.KeyQuery{Kind: kind, Owner: owner})
}

// KeyIDs answers from the expiry index, the owner index, or all keys.
func (r recordTx) KeyIDs(q store.KeyQuery) ([]string, error) {
	var ids []string
	switch {
	case q.ByExpiry():
		// From just after ExpiresAfter's second to the end of
		// ExpiresBefore's; Matches trims the edges exactly.
		from, to := expiryIndexKey(q.ExpiresAfter), expiryIndexKey(q.ExpiresBefore.Add(time.Second))
		c := r.tx.Bucket(bucketKeysByExpiry).Cursor()
		for k, _ := c.Seek(from); k != nil && bytes.Compare(k, to) < 0; k, _ = c.Next() {
			ids = append(ids, string(k[8:]))
		}
	case q.Kind == "":
		c := r.tx.Bucket(bucketKeys).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			ids = append(ids, string(k))
		}
	default:
		prefix := ownerIndexPrefix(q.Kind, q.Owner)
		c := r.tx.Bucket(bucketKeysByOwner).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[bytes.LastIndexByte(k, 0)+1:]))
		}
	}
	return ids, nil
}

// --- key indexes ---

// keyIndexFields are the fields of a stored key that its indexes hold.
type keyIndexFields struct {
	Kind      store.KeyKind `json:"kind"`
	Owner     string        `json:"owner"`
	ExpiresAt time.Time     `json:"expiresAt"`
}

// reindexKey moves key id's index entries from its stored value to data
// (none when del), touching them only when they change: merging usage
// rewrites no index.
func (r recordTx) reindexKey(id string, data []byte, del bool) error {
	var old, now *keyIndexFields
	if prev := r.tx.Bucket(bucketKeys).Get([]byte(id)); prev != nil {
		if err := json.Unmarshal(prev, &old); err != nil {
			return fmt.Errorf("bolt: decoding %s/%s: %w", bucketKeys, id, err)
		}
	}
	if !del {
		if err := json.Unmarshal(data, &now); err != nil {
			return fmt.Errorf("bolt: decoding %s/%s: %w", bucketKeys, id, err)
		}
	}
	if old != nil && now != nil && old.Kind == now.Kind && old.Owner == now.Owner && old.ExpiresAt.Equal(now.ExpiresAt) {
		return nil
	}
	if old != nil {
		if err := r.tx.Bucket(bucketKeysByOwner).Delete(ownerIndexKey(old.Kind, old.Owner, id)); err != nil {
			return err
		}
		if !old.ExpiresAt.IsZero() {
			if err := r.tx.Bucket(bucketKeysByExpiry).Delete(append(expiryIndexKey(old.ExpiresAt), id...)); err != nil {
				return err
			}
		}
	}
	if now == nil {
		return nil
	}
	return indexKey(r.tx, id, *now)
}

func indexKey(tx *bbolt.Tx, id string, k keyIndexFields) error {
	if err := tx.Bucket(bucketKeysByOwner).Put(ownerIndexKey(k.Kind, k.Owner, id), nil); err != nil {
		return err
	}
	if k.ExpiresAt.IsZero() {
		return nil
	}
	return tx.Bucket(bucketKeysByExpiry).Put(append(expiryIndexKey(k.ExpiresAt), id...), nil)
}

// keys_by_owner: kind \x00 owner \x00 id -> nil.
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

// expiryIndexKey is the prefix that orders keys by expiry second (the id
// follows it).
func expiryIndexKey(expires time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(max(0, expires.Unix())))
}

// buildExpiryIndex indexes the keys of a file from before the expiry index.
func buildExpiryIndex(tx *bbolt.Tx) error {
	return tx.Bucket(bucketKeys).ForEach(func(id, data []byte) error {
		var k keyIndexFields
		if err := json.Unmarshal(data, &k); err != nil {
			return err
		}
		if k.ExpiresAt.IsZero() {
			return nil
		}
		return tx.Bucket(bucketKeysByExpiry).Put(append(expiryIndexKey(k.ExpiresAt), id...), nil)
	})
}
