package etcd

import (
	"context"
	"sync"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// The token endpoint reads a key and its owner on every request. The
// mirror holds them as stored JSON (compact in memory, docs/high-
// availability.md "Scale"), and decoding both was 11 % of a replica's CPU
// per ES256 token, plus the garbage it made. So the decoded forms of keys,
// service accounts and users are kept beside the mirror, each with the mod
// revision it was decoded from, and served only while the freshness-
// checked read (getFresh) still finds that revision: a decoded value is
// never newer or older than the mirror, so revocation and every other
// guarantee of readRecord hold unchanged. Every put of a record gives it a
// new mod revision (etcd's revisions only grow), deletion makes getFresh
// fail before the cache is consulted.
//
// Values are shared between callers, who treat them as read-only (the
// contract store/cache already sets for the bbolt backend).

// maxDecoded bounds each cache; when one is full it is emptied and
// refills with what the load uses (as store/cache does).
const maxDecoded = 100_000

type decodedValue[T any] struct {
	rev int64
	v   T
}

// decodedCache is one family's decoded records by id.
type decodedCache[T any] struct {
	mu sync.RWMutex
	m  map[string]decodedValue[T]
}

// decodedCaches are the Store's: one per family the token path reads.
type decodedCaches struct {
	keys     decodedCache[store.Key]
	accounts decodedCache[store.ServiceAccount]
	users    decodedCache[store.User]
}

// GetKey reads the key id (records.Reader's rule), decoding it only when
// its revision is not the one last decoded.
func (s *Store) GetKey(ctx context.Context, id string) (store.Key, error) {
	return readDecoded(ctx, s, &s.decoded.keys, records.Keys, id)
}

// GetServiceAccount reads the account name, as GetKey.
func (s *Store) GetServiceAccount(ctx context.Context, name string) (store.ServiceAccount, error) {
	return readDecoded(ctx, s, &s.decoded.accounts, records.Accounts, name)
}

// GetUser reads the user name, as GetKey.
func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	return readDecoded(ctx, s, &s.decoded.users, records.Users, name)
}

func readDecoded[T any](ctx context.Context, s *Store, c *decodedCache[T], fam records.Family, id string) (T, error) {
	e, err := s.getFresh(ctx, string(fam), id)
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.RLock()
	d, ok := c.m[id]
	c.mu.RUnlock()
	if ok && d.rev == e.rev {
		return d.v, nil
	}
	v, err := records.Decode[T](fam, id, e.value())
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDecoded {
		c.m = make(map[string]decodedValue[T])
	}
	// A concurrent reader may have decoded a newer revision meanwhile:
	// keep the newest (revisions only grow).
	if cur, ok := c.m[id]; !ok || cur.rev < e.rev {
		c.m[id] = decodedValue[T]{rev: e.rev, v: v}
	}
	c.mu.Unlock()
	return v, nil
}
