package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// KeyStatus is the status of an API key or personal access token at a
// moment: the one rule (keyStatus) behind the API's status field, its
// ?status filter, expiry notices and every credential check.
type KeyStatus string

// The statuses. Their values are the API's (pkg/api.KeyActive, …).
const (
	KeyActive       KeyStatus = "active"
	KeyExpiringSoon KeyStatus = "expiring_soon"
	KeyExpired      KeyStatus = "expired"
	KeyRevoked      KeyStatus = "revoked"
)

// Usable reports whether a credential in this status may authenticate
// (the API's isValid).
func (st KeyStatus) Usable() bool { return st == KeyActive || st == KeyExpiringSoon }

// keyStatus is k's status at now, with the expiring-soon window soon.
// Revocation wins over expiry: a revoked key stays revoked.
func keyStatus(k store.Key, now time.Time, soon time.Duration) KeyStatus {
	switch {
	case k.Revoked():
		return KeyRevoked
	case k.Expired(now):
		return KeyExpired
	case !k.ExpiresAt.IsZero() && k.ExpiresAt.Sub(now) <= soon:
		return KeyExpiringSoon
	}
	return KeyActive
}

// keyStatusUntil is k's status at now (keyStatus) and the first moment
// at which the passing of time alone changes it (zero: never, as for a
// revoked or expired key or one without an expiry): the schedule of the
// same rule, for those who keep statuses up to date without re-reading
// every key (the tokenwright_keys counts).
func keyStatusUntil(k store.Key, now time.Time, soon time.Duration) (KeyStatus, time.Time) {
	st := keyStatus(k, now, soon)
	switch st {
	case KeyActive:
		if !k.ExpiresAt.IsZero() {
			return st, k.ExpiresAt.Add(-soon) // where ExpiresAt.Sub(now) <= soon begins
		}
	case KeyExpiringSoon:
		return st, k.ExpiresAt // where Expired begins
	}
	return st, time.Time{}
}

// KeyStatus is k's status now.
func (s *Service) KeyStatus(k store.Key) KeyStatus {
	return keyStatus(k, s.now(), s.policy.ExpiringSoon)
}

// KeyStatusUntil is k's status at now and when time alone next changes
// it (zero: never).
func (s *Service) KeyStatusUntil(k store.Key, now time.Time) (KeyStatus, time.Time) {
	return keyStatusUntil(k, now, s.policy.ExpiringSoon)
}

// admit applies the checks that every credential passes once it has been
// proven (a secret matched, an assertion's signature verified), in one
// order for every way of authenticating (client secret, private_key_jwt,
// admin bearer token) and for introspection: the key is not revoked, not
// expired, its owner exists and is active. p carries the key and, if the
// caller already read it, the owner; admit reads the owner otherwise.
// A failure is an *AuthError with its reason; a store failure is returned
// as such (an outage is not a bad credential).
func (s *Service) admit(ctx context.Context, p *Principal, now time.Time) error {
	switch keyStatus(p.Key, now, 0) {
	case KeyRevoked:
		return fail(ReasonKeyRevoked)
	case KeyExpired:
		return fail(ReasonKeyExpired)
	}
	var status store.Status
	switch {
	case p.Key.Kind == store.KindPersonalToken && p.User != nil:
		status = p.User.Status
	case p.Key.Kind != store.KindPersonalToken && p.Account != nil:
		status = p.Account.Status
	case p.Key.Kind == store.KindPersonalToken:
		u, err := s.store.GetUser(ctx, p.Key.Owner)
		if err != nil {
			return ownerLookup(err)
		}
		p.User, status = &u, u.Status
	default:
		sa, err := s.store.GetServiceAccount(ctx, p.Key.Owner)
		if err != nil {
			return ownerLookup(err)
		}
		p.Account, status = &sa, sa.Status
	}
	if status != store.StatusActive {
		return fail(ReasonOwnerInactive)
	}
	return nil
}

// ownerLookup classifies a failed read of a credential's owner: a missing
// owner fails the credential, anything else is the store's failure.
func ownerLookup(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fail(ReasonOwnerMissing)
	}
	return fmt.Errorf("looking up the credential's owner: %w", err)
}

// admitAddress is the last credential check: the request comes from
// inside the credential's CIDRs (its owner's and its own; reach.go).
func (s *Service) admitAddress(p *Principal, ip netip.Addr) error {
	if !s.reach(p).AllowsAddress(ip) {
		return fail(ReasonSourceAddress)
	}
	return nil
}
