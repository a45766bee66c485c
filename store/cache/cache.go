// Package cache is a read-through cache in front of a single-writer Store
// (the bbolt backend, where this process makes every write). The token
// endpoint reads a key and its owner on every request; serving those from
// memory saves two JSON decodes per token.
//
// Every write through the cache invalidates what it may change before it
// returns, so a revocation is effective for the next request, exactly as
// without the cache. It must not be used where other processes write to
// the same store (etcd with several replicas keeps its own watched index).
//
// Values returned by Get methods share their slices and maps with the
// cache: callers treat them as read-only, as they already must with any
// value that may be shared.
package cache

import (
	"context"
	"sync"

	"github.com/tokenwright/tokenwright/store"
)

// MaxEntries bounds each map; when one is full it is emptied and refills
// with what the load actually uses.
const MaxEntries = 100_000

// Store wraps a store.Store.
type Store struct {
	store.Store

	mu       sync.RWMutex
	gen      uint64 // bumped by every invalidation
	keys     map[string]store.Key
	accounts map[string]store.ServiceAccount
	users    map[string]store.User
}

var _ store.Store = (*Store)(nil)

// New wraps inner.
func New(inner store.Store) *Store {
	return &Store{Store: inner, keys: map[string]store.Key{}, accounts: map[string]store.ServiceAccount{}, users: map[string]store.User{}}
}

// read serves id from m, or loads it and caches it unless an invalidation
// happened meanwhile (the generation check closes the race in which a
// reader would cache a value older than a concurrent write).
func read[T any](c *Store, m map[string]T, id string, load func() (T, error)) (T, error) {
	c.mu.RLock()
	v, ok := m[id]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(m) >= MaxEntries {
			clear(m)
		}
		m[id] = v
	}
	c.mu.Unlock()
	return v, nil
}

// invalidate drops entries and bumps the generation; allKeys=true empties
// the key map too (used when many keys change at once).
func (c *Store) invalidate(allKeys bool, keyIDs []string, accounts, users []string) {
	c.invalidateAll(allKeys, false, keyIDs, accounts, users)
}

// invalidateAll can also empty the account map (allAccounts).
func (c *Store) invalidateAll(allKeys, allAccounts bool, keyIDs []string, accounts, users []string) {
	c.mu.Lock()
	c.gen++
	if allKeys {
		clear(c.keys)
	}
	if allAccounts {
		clear(c.accounts)
	}
	for _, id := range keyIDs {
		delete(c.keys, id)
	}
	for _, n := range accounts {
		delete(c.accounts, n)
	}
	for _, n := range users {
		delete(c.users, n)
	}
	c.mu.Unlock()
}

func (c *Store) GetKey(ctx context.Context, id string) (store.Key, error) {
	return read(c, c.keys, id, func() (store.Key, error) { return c.Store.GetKey(ctx, id) })
}

func (c *Store) GetServiceAccount(ctx context.Context, name string) (store.ServiceAccount, error) {
	return read(c, c.accounts, name, func() (store.ServiceAccount, error) { return c.Store.GetServiceAccount(ctx, name) })
}

func (c *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	return read(c, c.users, name, func() (store.User, error) { return c.Store.GetUser(ctx, name) })
}

// Writes: invalidate after the inner write (successful or not: a failed
// write may still have been applied by a backend before it reported).

func (c *Store) UpdateServiceAccount(ctx context.Context, name string, update func(store.ServiceAccount) (store.ServiceAccount, error)) (store.ServiceAccount, error) {
	defer c.invalidate(false, nil, []string{name}, nil)
	return c.Store.UpdateServiceAccount(ctx, name, update)
}

func (c *Store) DeleteServiceAccount(ctx context.Context, name string) error {
	defer c.invalidate(true, nil, []string{name}, nil)
	return c.Store.DeleteServiceAccount(ctx, name)
}

func (c *Store) UpdateUser(ctx context.Context, name string, update func(store.User) (store.User, error)) (store.User, error) {
	defer c.invalidate(false, nil, nil, []string{name})
	return c.Store.UpdateUser(ctx, name, update)
}

// DeleteUser also changes the Owners of any number of accounts.
func (c *Store) DeleteUser(ctx context.Context, name string) error {
	defer c.invalidateAll(true, true, nil, nil, []string{name})
	return c.Store.DeleteUser(ctx, name)
}

func (c *Store) UpdateKey(ctx context.Context, id string, update func(store.Key) (store.Key, error)) (store.Key, error) {
	defer c.invalidate(false, []string{id}, nil, nil)
	return c.Store.UpdateKey(ctx, id, update)
}

func (c *Store) UpdateKeys(ctx context.Context, q store.KeyQuery, update func(store.Key) (store.Key, error)) ([]store.Key, error) {
	defer c.invalidate(true, nil, nil, nil)
	return c.Store.UpdateKeys(ctx, q, update)
}

func (c *Store) DeleteKey(ctx context.Context, id string) error {
	defer c.invalidate(false, []string{id}, nil, nil)
	return c.Store.DeleteKey(ctx, id)
}

func (c *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) error {
	ids := make([]string, len(usage))
	for i, u := range usage {
		ids[i] = u.KeyID
	}
	defer c.invalidate(false, ids, nil, nil)
	return c.Store.RecordKeyUsage(ctx, usage)
}
