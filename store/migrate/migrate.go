// Package migrate copies everything tokenwright stores from one backend to
// another (bbolt to etcd when a single node becomes a cluster, and back),
// through the store.Store interface only, then verifies the copy.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// Counts is how many records of each kind a store holds.
type Counts struct {
	ServiceAccounts int `json:"serviceAccounts"`
	Users           int `json:"users"`
	Keys            int `json:"keys"`
	SigningKeys     int `json:"signingKeys"`
	AuditEvents     int `json:"auditEvents"`
	RevokedTokens   int `json:"revokedTokens"`
	FederationRules int `json:"federationRules"`
}

// Empty reports whether nothing at all is stored.
func (c Counts) Empty() bool { return c == Counts{} }

func (c Counts) String() string {
	return fmt.Sprintf("%d service accounts, %d users, %d keys, %d signing keys, %d audit events, %d revoked tokens, %d federation rules",
		c.ServiceAccounts, c.Users, c.Keys, c.SigningKeys, c.AuditEvents, c.RevokedTokens, c.FederationRules)
}

// ErrTargetNotEmpty is returned when the target holds data and Force is off.
var ErrTargetNotEmpty = errors.New("target store is not empty")

// Options tune Copy.
type Options struct {
	// Force copies into a non-empty target: its accounts, users, keys,
	// signing keys and revoked tokens are removed first; its audit trail
	// is kept and the source's events are appended.
	Force bool
}

// Count reads how many records s holds.
func Count(ctx context.Context, s store.Store) (Counts, error) {
	var c Counts
	sas, err := s.ListServiceAccounts(ctx)
	if err != nil {
		return c, fmt.Errorf("listing service accounts: %w", err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		return c, fmt.Errorf("listing users: %w", err)
	}
	keys, err := s.ListKeys(ctx, store.KeyQuery{})
	if err != nil {
		return c, fmt.Errorf("listing keys: %w", err)
	}
	sks, err := s.ListSigningKeys(ctx)
	if err != nil {
		return c, fmt.Errorf("listing signing keys: %w", err)
	}
	revoked, err := s.ListRevokedTokens(ctx)
	if err != nil {
		return c, fmt.Errorf("listing revoked tokens: %w", err)
	}
	audit, err := allAudit(ctx, s)
	if err != nil {
		return c, err
	}
	rules, err := allRules(ctx, s, sas)
	if err != nil {
		return c, err
	}
	return Counts{len(sas), len(users), len(keys), len(sks), len(audit), len(revoked), len(rules)}, nil
}

// allRules returns the federation rules of accounts.
func allRules(ctx context.Context, s store.Store, accounts []store.ServiceAccount) ([]store.FederationRule, error) {
	var out []store.FederationRule
	for _, sa := range accounts {
		rules, err := s.ListFederationRules(ctx, sa.Name)
		if err != nil {
			return nil, fmt.Errorf("listing federation rules of %s: %w", sa.Name, err)
		}
		out = append(out, rules...)
	}
	return out, nil
}

// allAudit returns every event, oldest first.
func allAudit(ctx context.Context, s store.Store) ([]store.AuditEvent, error) {
	var out []store.AuditEvent
	q := store.AuditQuery{Limit: 1000}
	for {
		page, err := s.ListAudit(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("listing audit events: %w", err)
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

// Copy copies src into dst and verifies the result. It returns the
// source's counts. Audit events get new IDs in dst (each backend assigns
// its own) but keep their order, times and contents.
func Copy(ctx context.Context, src, dst store.Store, opts Options) (Counts, error) {
	before, err := Count(ctx, dst)
	if err != nil {
		return Counts{}, fmt.Errorf("target: %w", err)
	}
	if !before.Empty() {
		if !opts.Force {
			return Counts{}, fmt.Errorf("%w (%s); use --force to replace its contents", ErrTargetNotEmpty, before)
		}
		if err := clearTarget(ctx, dst); err != nil {
			return Counts{}, fmt.Errorf("clearing target: %w", err)
		}
	}

	sas, err := src.ListServiceAccounts(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	users, err := src.ListUsers(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	keys, err := src.ListKeys(ctx, store.KeyQuery{})
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	sks, err := src.ListSigningKeys(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	revoked, err := src.ListRevokedTokens(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	audit, err := allAudit(ctx, src)
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	rules, err := allRules(ctx, src, sas)
	if err != nil {
		return Counts{}, fmt.Errorf("source: %w", err)
	}
	want := Counts{len(sas), len(users), len(keys), len(sks), len(audit), len(revoked), len(rules)}

	// Users first: an account's owners must exist (store contract).
	isUser := map[string]bool{}
	for _, u := range users {
		if err := dst.CreateUser(ctx, u); err != nil {
			return want, fmt.Errorf("copying user %s: %w", u.Name, err)
		}
		isUser[u.Name] = true
	}
	for _, sa := range sas {
		// A store written before DeleteUser cleaned owner lists may name
		// deleted users; they own nothing (the server drops them at start).
		sa.Owners = slices.DeleteFunc(slices.Clone(sa.Owners), func(o string) bool { return !isUser[o] })
		if err := dst.CreateServiceAccount(ctx, sa); err != nil {
			return want, fmt.Errorf("copying service account %s: %w", sa.Name, err)
		}
	}
	// The replay records of foreign tokens are not copied: they last
	// minutes, and the store interface does not list them.
	for _, r := range rules {
		if err := dst.CreateFederationRule(ctx, r); err != nil {
			return want, fmt.Errorf("copying federation rule %s of %s: %w", r.Name, r.Account, err)
		}
	}
	for _, k := range keys {
		if err := dst.CreateKey(ctx, k); err != nil {
			return want, fmt.Errorf("copying key %s: %w", k.ID, err)
		}
	}
	// Signing keys are copied as stored: still sealed under the KEK, which
	// the target's servers must therefore share.
	if err := dst.ReplaceSigningKeys(ctx, sks); err != nil {
		return want, fmt.Errorf("copying signing keys: %w", err)
	}
	for _, rt := range revoked {
		if err := dst.RevokeToken(ctx, rt); err != nil {
			return want, fmt.Errorf("copying revoked token %s: %w", rt.JTI, err)
		}
	}
	preAudit := 0
	if opts.Force {
		preAudit = before.AuditEvents
	}
	for _, e := range audit {
		e.ID = ""
		if _, err := dst.AppendAudit(ctx, e); err != nil {
			return want, fmt.Errorf("copying audit event: %w", err)
		}
	}

	got, err := Count(ctx, dst)
	if err != nil {
		return want, fmt.Errorf("verifying target: %w", err)
	}
	expect := want
	expect.AuditEvents += preAudit
	if got != expect {
		return want, fmt.Errorf("verification failed: target holds %s, expected %s", got, expect)
	}
	return want, verifyKeys(ctx, keys, dst)
}

// verifyKeys checks that every credential arrived byte for byte: a key
// whose hash changed would silently stop working.
func verifyKeys(ctx context.Context, keys []store.Key, dst store.Store) error {
	for _, k := range keys {
		got, err := dst.GetKey(ctx, k.ID)
		if err != nil {
			return fmt.Errorf("verifying key %s: %w", k.ID, err)
		}
		if string(got.SecretHash) != string(k.SecretHash) || string(got.PublicJWK) != string(k.PublicJWK) ||
			got.Owner != k.Owner || !got.RevokedAt.Equal(k.RevokedAt) || !got.ExpiresAt.Equal(k.ExpiresAt) {
			return fmt.Errorf("verification failed: key %s differs in the target", k.ID)
		}
	}
	return nil
}

// clearTarget removes what Force replaces.
func clearTarget(ctx context.Context, s store.Store) error {
	sas, err := s.ListServiceAccounts(ctx)
	if err != nil {
		return err
	}
	for _, sa := range sas {
		if err := s.DeleteServiceAccount(ctx, sa.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := s.DeleteUser(ctx, u.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if err := s.ReplaceSigningKeys(ctx, nil); err != nil {
		return err
	}
	// Every revoked token has expired by the end of time.
	_, err = s.PruneRevokedTokens(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	return err
}
