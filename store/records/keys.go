package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenwright/tokenwright/store"
)

// ownerFamily is where the owner of a key of kind lives.
func ownerFamily(kind store.KeyKind) (Family, error) {
	switch kind {
	case store.KindServiceKey:
		return Accounts, nil
	case store.KindPersonalToken:
		return Users, nil
	}
	return "", fmt.Errorf("records: unknown key kind %q", kind)
}

// tokenName is the TokenNames id of a user's personal access token name.
func tokenName(owner, name string) string { return owner + "\x00" + name }

// CreateKey stores k if its owner exists, its id is new, and (a personal
// access token) its name is new among its owner's tokens; then, with
// MaxKeysPerOwner, if its owner holds fewer keys of its kind than the
// limit. The conflicts come first: a resend of a create that landed is
// told "already exists", not "limit exceeded".
func (w Writer) CreateKey(ctx context.Context, k store.Key, opts ...store.CreateKeyOption) error {
	o := store.CreateKeyOptionsOf(opts)
	return w.run(ctx, func(tx Tx) error {
		ownerFam, err := ownerFamily(k.Kind)
		if err != nil {
			return err
		}
		// Reading the owner guards against a concurrent delete of it.
		if ok, err := exists(tx, ownerFam, k.Owner); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("owner %q: %w", k.Owner, store.ErrNotFound)
		}
		if ok, err := exists(tx, Keys, k.ID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		if k.Kind == store.KindPersonalToken {
			if err := claimTokenName(tx, k.Owner, k.Name, k.ID); err != nil {
				return err
			}
		}
		if o.MaxPerOwner > 0 {
			if err := checkKeyLimit(tx, ownerFam, k, o.MaxPerOwner); err != nil {
				return err
			}
		}
		return put(tx, Keys, k.ID, k)
	})
}

// checkKeyLimit refuses k when its owner holds max keys of its kind. Every
// counted key is read (one deleted meanwhile fails the commit), and the
// owner is locked: two concurrent creates for one owner conflict, so the
// loser counts again and the limit is exact.
func checkKeyLimit(tx Tx, ownerFam Family, k store.Key, max int) error {
	owned, err := tx.OwnedKeys(k.Kind, k.Owner)
	if err != nil {
		return err
	}
	for _, id := range owned {
		if _, err := exists(tx, Keys, id); err != nil {
			return err
		}
	}
	if n := len(owned); n >= max {
		return fmt.Errorf("%s %q holds %d keys: %w", k.Kind, k.Owner, n, store.ErrLimitExceeded)
	}
	return tx.Lock(ownerFam, k.Owner)
}

// claimTokenName records that owner's personal access token id is called
// name, which must be free.
func claimTokenName(tx Tx, owner, name, id string) error {
	if taken, err := exists(tx, TokenNames, tokenName(owner, name)); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("token name %q: %w", name, store.ErrAlreadyExists)
	}
	return tx.Put(TokenNames, tokenName(owner, name), []byte(id))
}

// deleteKey removes k and its token name.
func deleteKey(tx Tx, k store.Key) error {
	if k.Kind == store.KindPersonalToken {
		if err := tx.Delete(TokenNames, tokenName(k.Owner, k.Name)); err != nil {
			return err
		}
	}
	return tx.Delete(Keys, k.ID)
}

// deleteOwnedKeys removes every key of kind that owner holds; a key
// created meanwhile fails the commit (KeyIDs).
func deleteOwnedKeys(tx Tx, kind store.KeyKind, owner string) error {
	keys, err := selectKeys(tx, store.KeyQuery{Kind: kind, Owner: owner})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := deleteKey(tx, k); err != nil {
			return err
		}
	}
	return nil
}

// selectKeys returns the keys q selects, read through tx.
func selectKeys(tx Tx, q store.KeyQuery) ([]store.Key, error) {
	ids, err := tx.KeyIDs(q)
	if err != nil {
		return nil, err
	}
	return SelectKeys(q, ids, func(id string) ([]byte, bool, error) { return tx.Get(Keys, id) })
}

// SelectKeys returns the keys among ids that q selects, reading each
// with value; an id without a value is an ErrNotFound (an index that
// names a key that is not there).
func SelectKeys(q store.KeyQuery, ids []string, value func(id string) ([]byte, bool, error)) ([]store.Key, error) {
	var out []store.Key
	for _, id := range ids {
		data, ok, err := value(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s %q: %w", Keys, id, store.ErrNotFound)
		}
		k, err := decode[store.Key](Keys, id, data)
		if err != nil {
			return nil, err
		}
		if q.Matches(k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// updateKeyIn applies update to key id inside tx. ID, Kind and Owner are
// immutable; a personal access token's new name must be free among its
// owner's tokens.
func updateKeyIn(tx Tx, id string, update func(store.Key) (store.Key, error)) (store.Key, error) {
	old, err := Get[store.Key](tx, Keys, id)
	if err != nil {
		return store.Key{}, err
	}
	updated, err := update(old)
	if err != nil {
		return store.Key{}, err
	}
	updated.ID, updated.Kind, updated.Owner = old.ID, old.Kind, old.Owner
	if old.Kind == store.KindPersonalToken && updated.Name != old.Name {
		if err := claimTokenName(tx, old.Owner, updated.Name, id); err != nil {
			return store.Key{}, err
		}
		if err := tx.Delete(TokenNames, tokenName(old.Owner, old.Name)); err != nil {
			return store.Key{}, err
		}
	}
	return updated, put(tx, Keys, id, updated)
}

func (w Writer) UpdateKey(ctx context.Context, id string, update func(store.Key) (store.Key, error)) (result store.Key, err error) {
	err = w.run(ctx, func(tx Tx) error {
		result, err = updateKeyIn(tx, id, update)
		return err
	})
	return result, err
}

// UpdateKeys applies update to every key q selects, in one transaction.
func (w Writer) UpdateKeys(ctx context.Context, q store.KeyQuery, update func(store.Key) (store.Key, error)) (changed []store.Key, err error) {
	err = w.run(ctx, func(tx Tx) error {
		changed = nil
		keys, err := selectKeys(tx, q)
		if err != nil {
			return err
		}
		for _, k := range keys {
			updated, err := updateKeyIn(tx, k.ID, update)
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

func (w Writer) DeleteKey(ctx context.Context, id string) error {
	return w.run(ctx, func(tx Tx) error {
		k, err := Get[store.Key](tx, Keys, id)
		if err != nil {
			return err
		}
		return deleteKey(tx, k)
	})
}

// MergeKeyUsage merges usage into the keys' LastUsedAt/LastUsedIP inside
// tx: a later time wins, an earlier one is ignored, unknown keys are
// skipped. (The backends split RecordKeyUsage into transactions as they
// must.)
func MergeKeyUsage(tx Tx, usage []store.KeyUsage) error {
	for _, u := range usage {
		_, err := updateKeyIn(tx, u.KeyID, func(k store.Key) (store.Key, error) {
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
}

// --- signing keys ---

func (w Writer) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return w.run(ctx, func(tx Tx) error {
		if ok, err := exists(tx, SigningKeys, k.ID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("signing key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		return put(tx, SigningKeys, k.ID, k)
	})
}

func (w Writer) UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (result store.SigningKey, err error) {
	err = w.run(ctx, func(tx Tx) error {
		old, err := Get[store.SigningKey](tx, SigningKeys, id)
		if err != nil {
			return err
		}
		result, err = update(old)
		if err != nil {
			return err
		}
		result.ID = old.ID // immutable
		return put(tx, SigningKeys, id, result)
	})
	return result, err
}

func (w Writer) DeleteSigningKey(ctx context.Context, id string) error {
	return w.run(ctx, func(tx Tx) error {
		if ok, err := exists(tx, SigningKeys, id); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("signing key %q: %w", id, store.ErrNotFound)
		}
		return tx.Delete(SigningKeys, id)
	})
}

// ReplaceSigningKeys swaps the whole set in one transaction.
func (w Writer) ReplaceSigningKeys(ctx context.Context, keys []store.SigningKey) error {
	return w.run(ctx, func(tx Tx) error {
		var ids []string
		if err := tx.Each(SigningKeys, func(id string, _ []byte) error { ids = append(ids, id); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			if err := remove(tx, SigningKeys, id); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := put(tx, SigningKeys, k.ID, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// --- revoked tokens ---

func (w Writer) RevokeToken(ctx context.Context, t store.RevokedToken) error {
	return w.run(ctx, func(tx Tx) error { return put(tx, Revoked, t.JTI, t) })
}
