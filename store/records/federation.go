package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// pruneChunk bounds the deletes of one PruneForeignTokens transaction
// (etcd refuses a transaction of too many operations; each delete is also
// a compare).
const pruneChunk = 40

// foreignTokenID is the ForeignTokens id of (issuer, jti): a hash, so that
// an id has a fixed length whatever the issuer puts in its jti, and the
// pair cannot be confused with another by a separator in either part.
func foreignTokenID(issuer, jti string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(issuer), issuer)
	h.Write([]byte(jti))
	return hex.EncodeToString(h.Sum(nil))
}

// CreateFederationRule stores r if its account exists, its id is new and
// no rule of its account has its name. Rules have no per-account index:
// the name check scans the family, guarded as a whole (Each), so two
// concurrent creates of one name cannot both commit.
func (w Writer) CreateFederationRule(ctx context.Context, r store.FederationRule) error {
	return w.run(ctx, func(tx Tx) error {
		// Reading the account guards against a concurrent delete of it.
		if ok, err := exists(tx, Accounts, r.Account); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("service account %q: %w", r.Account, store.ErrNotFound)
		}
		rules, err := accountRules(tx, r.Account)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(rules, func(o store.FederationRule) bool { return o.Name == r.Name }) {
			return fmt.Errorf("federation rule %q: %w", r.Name, store.ErrAlreadyExists)
		}
		if ok, err := exists(tx, FederationRules, r.ID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("federation rule %q: %w", r.ID, store.ErrAlreadyExists)
		}
		return put(tx, FederationRules, r.ID, r)
	})
}

// getRule reads rule id of account; ErrNotFound when it is another's.
func getRule(tx Tx, account, id string) (store.FederationRule, error) {
	r, err := Get[store.FederationRule](tx, FederationRules, id)
	if err == nil && r.Account != account {
		err = fmt.Errorf("%s %q: %w", FederationRules, id, store.ErrNotFound)
	}
	return r, err
}

func (w Writer) DeleteFederationRule(ctx context.Context, account, id string) error {
	return w.run(ctx, func(tx Tx) error {
		if _, err := getRule(tx, account, id); err != nil {
			return err
		}
		return tx.Delete(FederationRules, id)
	})
}

func (w Writer) TouchFederationRule(ctx context.Context, account, id string, at time.Time) error {
	return w.run(ctx, func(tx Tx) error {
		r, err := getRule(tx, account, id)
		if err != nil {
			return err
		}
		if r.LastUsedAt != nil && !at.After(*r.LastUsedAt) {
			return nil
		}
		at := at.UTC()
		r.LastUsedAt = &at
		return put(tx, FederationRules, id, r)
	})
}

// accountRules returns account's rules, guarding the whole family.
func accountRules(tx Tx, account string) ([]store.FederationRule, error) {
	var out []store.FederationRule
	err := tx.Each(FederationRules, func(id string, data []byte) error {
		r, err := decode[store.FederationRule](FederationRules, id, data)
		if err == nil && r.Account == account {
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// deleteAccountRules removes every rule of account (DeleteServiceAccount);
// a rule created meanwhile fails the commit (Each).
func deleteAccountRules(tx Tx, account string) error {
	rules, err := accountRules(tx, account)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if err := tx.Delete(FederationRules, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// ConsumeForeignToken records (issuer, jti) until expiresAt. A pair that
// is recorded is refused until PruneForeignTokens, run with the server's
// clock, removes its record after expiresAt: the decision needs no clock
// here, so a server whose clock is not the wall clock (tests, a skewed
// host) still refuses every replay. (A pair seen again after its record
// expired is a token the verifier refuses as expired anyway, or an issuer
// reusing jti values, which is refused until the prune.)
func (w Writer) ConsumeForeignToken(ctx context.Context, issuer, jti string, expiresAt time.Time) error {
	id := foreignTokenID(issuer, jti)
	return w.run(ctx, func(tx Tx) error {
		if ok, err := exists(tx, ForeignTokens, id); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("foreign token %q of %q: %w", jti, issuer, store.ErrAlreadyExists)
		}
		return put(tx, ForeignTokens, id, store.ForeignToken{Issuer: issuer, JTI: jti, ExpiresAt: expiresAt.UTC()})
	})
}

// PruneForeignTokens deletes the records expired at now: one scan, then
// deletes in transactions of pruneChunk, each re-reading its records (one
// consumed again meanwhile is kept).
func (w Writer) PruneForeignTokens(ctx context.Context, now time.Time) (int, error) {
	ctx = store.WithoutAudit(ctx) // housekeeping: several transactions
	var doomed []string
	err := w.run(ctx, func(tx Tx) error {
		doomed = nil
		return tx.Each(ForeignTokens, func(id string, data []byte) error {
			t, err := decode[store.ForeignToken](ForeignTokens, id, data)
			if err == nil && t.Expired(now) {
				doomed = append(doomed, id)
			}
			return err
		})
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for chunk := range slices.Chunk(doomed, pruneChunk) {
		var pruned int
		err := w.run(ctx, func(tx Tx) error {
			pruned = 0
			for _, id := range chunk {
				t, err := Get[store.ForeignToken](tx, ForeignTokens, id)
				if err != nil {
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					return err
				}
				if !t.Expired(now) {
					continue
				}
				if err := tx.Delete(ForeignTokens, id); err != nil {
					return err
				}
				pruned++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += pruned
	}
	return n, nil
}
