package records

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tokenwright/tokenwright/store"
)

// Reader implements the single-record and whole-family reads of
// store.Store over two reads a backend supplies (each with its own
// consistency: a bbolt read transaction; the etcd mirror proven fresh).
// ListKeys, which uses a backend's key indexes, stays in the backend
// (SelectKeys is its shared half).
type Reader struct {
	get  func(ctx context.Context, fam Family, id string, fn func(data []byte) error) error
	list func(ctx context.Context, fam Family, fn func(id string, data []byte) error) error
}

// NewReader returns the Reader over get, which calls fn with the value of
// fam/id or fails with store.ErrNotFound, and list, which calls fn with
// every record of fam in id order. data is valid only during fn.
func NewReader(
	get func(ctx context.Context, fam Family, id string, fn func(data []byte) error) error,
	list func(ctx context.Context, fam Family, fn func(id string, data []byte) error) error,
) Reader {
	return Reader{get: get, list: list}
}

func readOne[T any](ctx context.Context, r Reader, fam Family, id string) (v T, err error) {
	err = r.get(ctx, fam, id, func(data []byte) error {
		v, err = decode[T](fam, id, data)
		return err
	})
	return v, err
}

func readAll[T any](ctx context.Context, r Reader, fam Family) (out []T, err error) {
	err = r.list(ctx, fam, func(id string, data []byte) error {
		v, err := decode[T](fam, id, data)
		out = append(out, v)
		return err
	})
	return out, err
}

func (r Reader) GetServiceAccount(ctx context.Context, name string) (store.ServiceAccount, error) {
	return readOne[store.ServiceAccount](ctx, r, Accounts, name)
}

func (r Reader) ListServiceAccounts(ctx context.Context) ([]store.ServiceAccount, error) {
	return readAll[store.ServiceAccount](ctx, r, Accounts)
}

func (r Reader) GetUser(ctx context.Context, name string) (store.User, error) {
	return readOne[store.User](ctx, r, Users, name)
}

func (r Reader) ListUsers(ctx context.Context) ([]store.User, error) {
	return readAll[store.User](ctx, r, Users)
}

func (r Reader) GetKey(ctx context.Context, id string) (store.Key, error) {
	return readOne[store.Key](ctx, r, Keys, id)
}

func (r Reader) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return readAll[store.SigningKey](ctx, r, SigningKeys)
}

func (r Reader) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	err := r.get(ctx, Revoked, jti, func([]byte) error { return nil })
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (r Reader) ListRevokedTokens(ctx context.Context) ([]store.RevokedToken, error) {
	return readAll[store.RevokedToken](ctx, r, Revoked)
}

func (r Reader) GetSession(ctx context.Context, id string) (store.Session, error) {
	return readOne[store.Session](ctx, r, Sessions, id)
}

// ListFederationRules returns account's rules in creation order (ties:
// by id).
func (r Reader) ListFederationRules(ctx context.Context, account string) ([]store.FederationRule, error) {
	all, err := readAll[store.FederationRule](ctx, r, FederationRules)
	if err != nil {
		return nil, err
	}
	out := []store.FederationRule{}
	for _, fr := range all {
		if fr.Account == account {
			out = append(out, fr)
		}
	}
	slices.SortStableFunc(out, func(a, b store.FederationRule) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// GetFederationRule returns rule id of account; ErrNotFound when it is
// another account's.
func (r Reader) GetFederationRule(ctx context.Context, account, id string) (store.FederationRule, error) {
	fr, err := readOne[store.FederationRule](ctx, r, FederationRules, id)
	if err == nil && fr.Account != account {
		err = fmt.Errorf("%s %q: %w", FederationRules, id, store.ErrNotFound)
	}
	return fr, err
}
