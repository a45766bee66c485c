package records

import (
	"context"
	"fmt"

	"github.com/tokenwright/tokenwright/store"
)

// CreateTLSTicketKey stores k unless its id is taken: an expect-absent
// write, so that of replicas creating the same next key one wins.
func (w Writer) CreateTLSTicketKey(ctx context.Context, k store.TLSTicketKey) error {
	if _, err := store.TLSTicketKeySeq(k.ID); err != nil {
		return err
	}
	return w.run(ctx, func(tx Tx) error {
		if ok, err := exists(tx, TLSTicketKeys, k.ID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("TLS ticket key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		return put(tx, TLSTicketKeys, k.ID, k)
	})
}

func (w Writer) DeleteTLSTicketKey(ctx context.Context, id string) error {
	return w.run(ctx, func(tx Tx) error {
		if ok, err := exists(tx, TLSTicketKeys, id); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("TLS ticket key %q: %w", id, store.ErrNotFound)
		}
		return tx.Delete(TLSTicketKeys, id)
	})
}

// ListTLSTicketKeys returns the keys oldest first (id order).
func (r Reader) ListTLSTicketKeys(ctx context.Context) ([]store.TLSTicketKey, error) {
	return readAll[store.TLSTicketKey](ctx, r, TLSTicketKeys)
}
