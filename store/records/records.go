// Package records holds the rules of tokenwright's stored records, written
// once for every backend: names and emails unique across service accounts
// and users, owners that are existing users, keys that belong to an
// existing owner, personal-access-token names unique per user (on create
// and on rename), the per-owner key limit, immutable fields, federation
// rules of an existing account with names unique per account, the replay
// records of foreign tokens, and the cascades of a delete (an account's
// keys and rules; a user's tokens and ownerships).
//
// A backend supplies a transaction (Tx: get, put, delete, lock, list) and
// a way to run one (NewWriter's update function); Writer then implements the
// write methods of store.Store, and Reader (over two reads) the reads of
// one record and of a whole family. What stays in a backend is how it makes
// the transaction atomic and durable (a bbolt read-write transaction; an
// etcd compare-and-swap guarded by the revisions of everything read), how
// fresh its reads are, its indexes and ListKeys, and the audit event it
// commits with each change.
//
// The functions read through the Tx every record their decision depends
// on, absent ones included (Get returning ok=false is an "expect absent"):
// the etcd backend compares each one's revision when it commits, so a
// decision taken on a stale view is never committed.
package records

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tokenwright/tokenwright/store"
)

// Family is a kind of record. The values are the etcd backend's key
// segments (PREFIX + family + "/" + id): they are part of its on-disk
// format.
type Family string

const (
	Accounts Family = "sa"
	Users    Family = "user"
	// Names maps a principal name to its kind (principalAccount or
	// principalUser): accounts and users share one namespace.
	Names Family = "name"
	// Emails maps an email to the principal holding it.
	Emails Family = "email"
	Keys   Family = "key"
	// TokenNames maps owner + "\x00" + token name to the id of that
	// user's personal access token. A backend may derive it from Keys
	// instead of storing it (bbolt): then its Put and Delete do nothing.
	TokenNames  Family = "patname"
	SigningKeys Family = "sk"
	Revoked     Family = "revoked"
	// Sessions are console sessions by the hash of their secret.
	Sessions Family = "session"
	// FederationRules are service accounts' federation rules by id.
	FederationRules Family = "fedrule"
	// ForeignTokens are the replay records of exchanged foreign tokens,
	// by a hash of (issuer, jti).
	ForeignTokens Family = "foreigntoken"
	// TLSTicketKeys are the TLS session-ticket keys by sequence id.
	TLSTicketKeys Family = "tlsticketkey"
)

// The values of Names records.
const (
	principalAccount = "sa"
	principalUser    = "user"
)

// Tx is one backend transaction, as the rules need it.
type Tx interface {
	// Get returns the value of fam/id as this transaction sees it (its
	// own writes included); ok is false when there is none. The
	// transaction commits only if fam/id still holds what Get returned
	// (or is still absent).
	Get(fam Family, id string) (data []byte, ok bool, err error)
	Put(fam Family, id string, data []byte) error
	// Delete removes fam/id; it does not guard it (Get first to do so).
	Delete(fam Family, id string) error
	// Lock makes this transaction conflict with every concurrent one that
	// locks or writes fam/id, an existing record (etcd rewrites it
	// unchanged; a backend with one writer at a time does nothing).
	Lock(fam Family, id string) error
	// Each calls fn with every record of fam; the transaction commits
	// only if no record of fam changed meanwhile. fn must not write, and
	// Each may not show this transaction's own writes to fam (etcd reads
	// its mirror): call it before writing to fam.
	Each(fam Family, fn func(id string, data []byte) error) error
	// OwnedKeys returns the ids of the keys of kind held by owner, from
	// the backend's owner index. It does not guard them: the caller Gets
	// those its decision depends on.
	OwnedKeys(kind store.KeyKind, owner string) ([]string, error)
	// KeyIDs returns the ids of the keys q may select (callers apply
	// q.Matches); the transaction commits only if no key changed
	// meanwhile, so a key another writer just created is not skipped.
	KeyIDs(q store.KeyQuery) ([]string, error)
}

// Writer implements the write methods of store.Store over a backend's
// transactions.
type Writer struct {
	run func(ctx context.Context, fn func(Tx) error) error
}

// NewWriter returns the Writer over update, which runs fn in one
// transaction that commits fn's writes together with the change's audit
// event (store.WithAudit) or not at all; it may run fn more than once.
func NewWriter(update func(ctx context.Context, fn func(Tx) error) error) Writer {
	return Writer{run: update}
}

// Get decodes fam/id; store.ErrNotFound when absent.
func Get[T any](tx Tx, fam Family, id string) (T, error) {
	var v T
	data, ok, err := tx.Get(fam, id)
	if err != nil {
		return v, err
	}
	if !ok {
		return v, fmt.Errorf("%s %q: %w", fam, id, store.ErrNotFound)
	}
	return decode[T](fam, id, data)
}

// Decode decodes a stored value of fam/id, as every read does (for a
// backend that keeps decoded values, store/etcd's).
func Decode[T any](fam Family, id string, data []byte) (T, error) { return decode[T](fam, id, data) }

// decode decodes a stored value of fam/id.
func decode[T any](fam Family, id string, data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("records: decoding %s/%s: %w", fam, id, err)
	}
	return v, nil
}

// put encodes v as fam/id.
func put(tx Tx, fam Family, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("records: encoding %s/%s: %w", fam, id, err)
	}
	return tx.Put(fam, id, data)
}

// exists reports whether fam/id is present (guarding the answer).
func exists(tx Tx, fam Family, id string) (bool, error) {
	_, ok, err := tx.Get(fam, id)
	return ok, err
}

// remove deletes fam/id, guarding it.
func remove(tx Tx, fam Family, id string) error {
	if _, err := exists(tx, fam, id); err != nil {
		return err
	}
	return tx.Delete(fam, id)
}

// --- principals: one namespace for names, one for emails ---

func claimPrincipal(tx Tx, kind, name, email string) error {
	if taken, err := exists(tx, Names, name); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("name %q: %w", name, store.ErrAlreadyExists)
	}
	if email != "" {
		if taken, err := exists(tx, Emails, email); err != nil {
			return err
		} else if taken {
			return fmt.Errorf("email %q: %w", email, store.ErrEmailTaken)
		}
		if err := tx.Put(Emails, email, []byte(name)); err != nil {
			return err
		}
	}
	return tx.Put(Names, name, []byte(kind))
}

func changeEmail(tx Tx, name, oldEmail, newEmail string) error {
	if oldEmail == newEmail {
		return nil
	}
	if newEmail != "" {
		holder, taken, err := tx.Get(Emails, newEmail)
		if err != nil {
			return err
		}
		if taken && string(holder) != name {
			return fmt.Errorf("email %q: %w", newEmail, store.ErrEmailTaken)
		}
		if err := tx.Put(Emails, newEmail, []byte(name)); err != nil {
			return err
		}
	}
	if oldEmail != "" {
		return remove(tx, Emails, oldEmail) // guarded: the release must not race a claim
	}
	return nil
}

func releasePrincipal(tx Tx, name, email string) error {
	if err := remove(tx, Names, name); err != nil {
		return err
	}
	if email != "" {
		return remove(tx, Emails, email)
	}
	return nil
}

// --- service accounts ---

// checkOwners enforces that owners are existing users. Owners not in
// previous are being added: their user record is locked, so that this
// transaction and a concurrent DeleteUser of that user (which writes the
// record) cannot both commit. (Only reading it would not do on etcd:
// DeleteUser decides which accounts to touch from its mirror, which may
// not show this write yet.)
func checkOwners(tx Tx, owners, previous []string) error {
	for _, o := range owners {
		ok, err := exists(tx, Users, o)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("owner %q: %w", o, store.ErrNotFound)
		}
		if !slices.Contains(previous, o) {
			if err := tx.Lock(Users, o); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w Writer) CreateServiceAccount(ctx context.Context, sa store.ServiceAccount) error {
	return w.run(ctx, func(tx Tx) error {
		if err := checkOwners(tx, sa.Owners, nil); err != nil {
			return err
		}
		return createPrincipal(tx, Accounts, principalAccount, sa.Name, sa.Email, sa)
	})
}

func (w Writer) UpdateServiceAccount(ctx context.Context, name string, update func(store.ServiceAccount) (store.ServiceAccount, error)) (store.ServiceAccount, error) {
	return updatePrincipal(ctx, w, Accounts, name, update, func(tx Tx, old store.ServiceAccount, updated *store.ServiceAccount) error {
		updated.Name, updated.ID = old.Name, old.ID // immutable
		if err := checkOwners(tx, updated.Owners, old.Owners); err != nil {
			return err
		}
		return changeEmail(tx, name, old.Email, updated.Email)
	})
}

// DeleteServiceAccount removes the account, its keys and its federation
// rules.
func (w Writer) DeleteServiceAccount(ctx context.Context, name string) error {
	return deletePrincipal(ctx, w, Accounts, name, func(tx Tx, sa store.ServiceAccount) (string, error) {
		if err := deleteAccountRules(tx, name); err != nil {
			return "", err
		}
		return sa.Email, deleteOwnedKeys(tx, store.KindServiceKey, name)
	})
}

// --- users ---

func (w Writer) CreateUser(ctx context.Context, u store.User) error {
	return w.run(ctx, func(tx Tx) error {
		return createPrincipal(tx, Users, principalUser, u.Name, u.Email, u)
	})
}

func (w Writer) UpdateUser(ctx context.Context, name string, update func(store.User) (store.User, error)) (store.User, error) {
	return updatePrincipal(ctx, w, Users, name, update, func(tx Tx, old store.User, updated *store.User) error {
		updated.Name, updated.ID = old.Name, old.ID // immutable
		if err := changeEmail(tx, name, old.Email, updated.Email); err != nil {
			return err
		}
		if updated.Status != store.StatusActive {
			_, err := deleteUserSessions(tx, name)
			return err
		}
		return nil
	})
}

// DeleteUser removes the user, their personal access tokens, and their
// name from every account's Owners.
func (w Writer) DeleteUser(ctx context.Context, name string) error {
	return deletePrincipal(ctx, w, Users, name, func(tx Tx, u store.User) (string, error) {
		if err := deleteOwnedKeys(tx, store.KindPersonalToken, name); err != nil {
			return "", err
		}
		if _, err := deleteUserSessions(tx, name); err != nil {
			return "", err
		}
		return u.Email, dropOwner(tx, name)
	})
}

// --- what accounts and users have in common ---

// createPrincipal claims name and email for v, a record of fam.
func createPrincipal(tx Tx, fam Family, kind, name, email string, v any) error {
	if err := claimPrincipal(tx, kind, name, email); err != nil {
		return err
	}
	if _, err := exists(tx, fam, name); err != nil {
		return err
	}
	return put(tx, fam, name, v)
}

// updatePrincipal applies update to fam/name; rules restores the
// immutable fields of the result and applies the rules of the change.
func updatePrincipal[T any](ctx context.Context, w Writer, fam Family, name string, update func(T) (T, error), rules func(tx Tx, old T, updated *T) error) (result T, err error) {
	err = w.run(ctx, func(tx Tx) error {
		old, err := Get[T](tx, fam, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		if err := rules(tx, old, &updated); err != nil {
			return err
		}
		result = updated
		return put(tx, fam, name, updated)
	})
	return result, err
}

// deletePrincipal removes fam/name after cascade, which returns the
// email to release with the name.
func deletePrincipal[T any](ctx context.Context, w Writer, fam Family, name string, cascade func(Tx, T) (email string, err error)) error {
	return w.run(ctx, func(tx Tx) error {
		v, err := Get[T](tx, fam, name)
		if err != nil {
			return err
		}
		email, err := cascade(tx, v)
		if err != nil {
			return err
		}
		if err := releasePrincipal(tx, name, email); err != nil {
			return err
		}
		return tx.Delete(fam, name)
	})
}

// dropOwner removes user from every service account's Owners. Each account
// it rewrites is read through tx, so a concurrent update of that account
// conflicts; an account that gains user concurrently locked the user's
// record (checkOwners), which DeleteUser reads and deletes, so one of the
// two runs again.
func dropOwner(tx Tx, user string) error {
	var owned []string
	err := tx.Each(Accounts, func(name string, data []byte) error {
		sa, err := decode[store.ServiceAccount](Accounts, name, data)
		if err == nil && slices.Contains(sa.Owners, user) {
			owned = append(owned, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, name := range owned {
		sa, err := Get[store.ServiceAccount](tx, Accounts, name)
		if err != nil {
			return err
		}
		sa.Owners = slices.DeleteFunc(sa.Owners, func(o string) bool { return o == user })
		if err := put(tx, Accounts, name, sa); err != nil {
			return err
		}
	}
	return nil
}
