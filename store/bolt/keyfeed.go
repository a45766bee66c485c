package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store"
)

var _ store.KeyFeed = (*Store)(nil)

// FollowKeys implements store.KeyFeed. The snapshot is read in a write
// transaction, so that it is ordered after every transaction that began
// before the follower was added (and may not have announced its changes):
// those are in the snapshot; every later one announces them. Changes are
// numbered by transaction id; those the snapshot holds are not repeated.
func (s *Store) FollowKeys(ctx context.Context, reset func([]store.Key), changed func(store.KeyChange)) (func(), error) {
	kf := s.keys.Add(reset, changed)
	var keys []store.Key
	var at uint64
	err := classifyWrite(s.db.Update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A write transaction's id is the last committed one's plus one.
		at = uint64(tx.ID() - 1)
		return tx.Bucket(bucketKeys).ForEach(func(id, data []byte) error {
			var k store.Key
			if err := json.Unmarshal(data, &k); err != nil {
				return fmt.Errorf("bolt: decoding %s/%s: %w", bucketKeys, id, err)
			}
			keys = append(keys, k)
			return nil
		})
	}))
	if err != nil {
		s.keys.Remove(kf)
		return nil, err
	}
	kf.Start(keys, at)
	return func() { s.keys.Remove(kf) }, nil
}

// announce tells the feed's followers, once the transaction commits, of
// the change of key id from its stored value to data (or its deletion).
// The values are decoded now: bbolt's slices are valid only inside the
// transaction.
func (r recordTx) announce(id string, data []byte, del bool) error {
	if r.feed == nil || !r.feed.Any() {
		return nil
	}
	var c store.KeyChange
	if prev := r.tx.Bucket(bucketKeys).Get([]byte(id)); prev != nil {
		c.Old = new(store.Key)
		if err := json.Unmarshal(prev, c.Old); err != nil {
			return fmt.Errorf("bolt: decoding %s/%s: %w", bucketKeys, id, err)
		}
	}
	if !del {
		c.New = new(store.Key)
		if err := json.Unmarshal(data, c.New); err != nil {
			return fmt.Errorf("bolt: decoding %s/%s: %w", bucketKeys, id, err)
		}
	}
	if c.Old == nil && c.New == nil {
		return nil // deleting what is not there
	}
	feed, seq := r.feed, uint64(r.tx.ID())
	r.tx.OnCommit(func() { feed.Publish(seq, c) })
	return nil
}
