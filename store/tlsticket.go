package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// TLSTicketKey is a key that encrypts TLS session tickets, shared by every
// replica that serves TLS so that a ticket issued by one resumes at
// another (server/tlstickets holds the rotation rules). The key itself is
// stored only encrypted, exactly like a signing key's private part:
// AES-256-GCM under the key-encryption key, bound to its ID as
// associated data.
type TLSTicketKey struct {
	// ID is the key's sequence number in TLSTicketKeyID's form: ids sort
	// by age, and the next key's id is known to every replica, so that
	// creating it is an expect-absent write that one replica wins.
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	// EncryptedKey is nonce || AES-GCM(the 32-byte ticket key).
	EncryptedKey []byte `json:"encryptedKey"`
	KEKID        string `json:"kekId"`
}

// TLSTicketKeyID is the id of the seq'th ticket key: 20 decimal digits,
// so that lexical order (the order of ListTLSTicketKeys) is numeric order.
func TLSTicketKeyID(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// TLSTicketKeySeq parses an id made by TLSTicketKeyID.
func TLSTicketKeySeq(id string) (uint64, error) {
	if len(id) != 20 {
		return 0, fmt.Errorf("TLS ticket key id %q: want 20 digits: %w", id, ErrInvalidArgument)
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("TLS ticket key id %q: %w", id, ErrInvalidArgument)
	}
	return n, nil
}

// TLSTicketKeyStore is the part of Store that keeps the TLS session-ticket
// keys. CreateTLSTicketKey fails with ErrAlreadyExists when the id is
// taken, checked in the same transaction as the write: of replicas racing
// to create the same next key, exactly one succeeds. ListTLSTicketKeys
// returns the keys in id order (oldest first). DeleteTLSTicketKey fails
// with ErrNotFound when the key is gone already.
type TLSTicketKeyStore interface {
	CreateTLSTicketKey(ctx context.Context, k TLSTicketKey) error
	ListTLSTicketKeys(ctx context.Context) ([]TLSTicketKey, error)
	DeleteTLSTicketKey(ctx context.Context, id string) error
}
