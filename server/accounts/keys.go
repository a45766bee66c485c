package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
)

// ErrKeyState refuses an operation that the key's state does not allow
// (rotating a revoked key, say). The API answers 409.
var ErrKeyState = errors.New("the key's state does not allow this")

// DefaultRotationGrace is how long a rotated-out secret keeps working.
const DefaultRotationGrace = 24 * time.Hour

// MaxRotationGrace bounds the overlap of two valid secrets.
const MaxRotationGrace = 30 * 24 * time.Hour

// ownedKey returns the key if it belongs to owner with the given kind;
// otherwise ErrNotFound, so ids of other principals' keys do not leak.
func (s *Service) ownedKey(ctx context.Context, kind store.KeyKind, owner, id string) (store.Key, error) {
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return k, err
	}
	if k.Kind != kind || k.Owner != owner {
		return store.Key{}, ErrNotFound
	}
	return k, nil
}

// GetKey returns one key of a service account (administrators, owners).
func (s *Service) GetKey(ctx context.Context, actor Actor, account, id string) (store.Key, error) {
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return store.Key{}, err
	}
	return s.ownedKey(ctx, store.KindServiceKey, account, id)
}

// RevokeKey revokes one key of a service account; it stays listed.
func (s *Service) RevokeKey(ctx context.Context, actor Actor, account, id string) (k store.Key, err error) {
	act := s.begin(actor, "key.revoke", account, map[string]string{"keyId": id})
	defer func() { act.finish(ctx, err) }()
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return k, err
	}
	return s.revoke(ctx, act, store.KindServiceKey, account, id)
}

// revoke revokes one key of owner; the write records act's event.
func (s *Service) revoke(ctx context.Context, act *action, kind store.KeyKind, owner, id string) (store.Key, error) {
	if _, err := s.ownedKey(ctx, kind, owner, id); err != nil {
		return store.Key{}, err
	}
	now := s.now().UTC()
	return s.store.UpdateKey(act.change(ctx), id, func(k store.Key) (store.Key, error) {
		if !k.Revoked() {
			k.RevokedAt, k.RevokedBy = now, act.actor.Name()
		}
		return k, nil
	})
}

// RevokeAllKeys revokes every unrevoked key of an account in one
// transaction and returns how many it revoked.
func (s *Service) RevokeAllKeys(ctx context.Context, actor Actor, account string) (n int, err error) {
	act := s.begin(actor, "key.revoke_all", account, nil)
	defer func() { act.finish(ctx, err) }()
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return 0, err
	}
	return s.revokeAll(ctx, act, store.KeyQuery{Kind: store.KindServiceKey, Owner: account})
}

// revokeAll revokes every unrevoked key q selects in one transaction,
// which also records act's event with the number revoked ("revoked").
func (s *Service) revokeAll(ctx context.Context, act *action, q store.KeyQuery) (int, error) {
	now := s.now().UTC()
	n := 0 // keys revoked by the current attempt of the transaction
	changed, err := s.store.UpdateKeys(act.changeCounting(ctx, "revoked", &n), q, func(k store.Key) (store.Key, error) {
		if k.Revoked() {
			return k, store.ErrSkip
		}
		n++
		k.RevokedAt, k.RevokedBy = now, act.actor.Name()
		return k, nil
	})
	act.details["revoked"] = fmt.Sprint(len(changed)) // for a failure event
	return len(changed), err
}

// DeleteKey removes a key and its metadata.
func (s *Service) DeleteKey(ctx context.Context, actor Actor, account, id string) (err error) {
	act := s.begin(actor, "key.delete", account, map[string]string{"keyId": id})
	defer func() { act.finish(ctx, err) }()
	if _, err := s.GetKey(ctx, actor, account, id); err != nil {
		return err
	}
	return s.store.DeleteKey(act.change(ctx), id)
}

// RotateKey gives a key a new secret. The previous secret keeps working for
// grace (nil: DefaultRotationGrace; 0: it stops at once) and then stops on
// its own. Rotating again within the grace period ends the older secret.
func (s *Service) RotateKey(ctx context.Context, actor Actor, account, id string, grace *time.Duration) (k store.Key, secret string, err error) {
	act := s.begin(actor, "key.rotate", account, map[string]string{"keyId": id})
	defer func() { act.finish(ctx, err) }()
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return k, "", err
	}
	g := DefaultRotationGrace
	if grace != nil {
		g = *grace
	}
	if g < 0 || g > MaxRotationGrace {
		return k, "", invalid("gracePeriod", "must be between 0 and %d seconds", int64(MaxRotationGrace/time.Second))
	}
	current, err := s.ownedKey(ctx, store.KindServiceKey, account, id)
	if err != nil {
		return k, "", err
	}
	now := s.now().UTC()
	if current.Revoked() || current.Expired(now) {
		return k, "", fmt.Errorf("%w: revoked or expired keys cannot be rotated; create a new key", ErrKeyState)
	}
	if len(current.PublicJWK) > 0 {
		return k, "", fmt.Errorf("%w: a public-key credential has no secret to rotate; register the new public key as another key, then revoke this one", ErrKeyState)
	}
	cred, err := apikey.Generate(apikey.ServiceKey, id)
	if err != nil {
		return k, "", err
	}
	k, err = s.store.UpdateKey(act.change(ctx), id, func(k store.Key) (store.Key, error) {
		if k.Revoked() {
			return k, fmt.Errorf("%w: the key was revoked", ErrKeyState)
		}
		k.PreviousSecretHash, k.PreviousExpiresAt = nil, time.Time{}
		if g > 0 {
			k.PreviousSecretHash, k.PreviousExpiresAt = slices.Clone(k.SecretHash), now.Add(g)
		}
		k.SecretHash, k.RotatedAt = cred.Hash(), now
		return k, nil
	})
	if err != nil {
		return store.Key{}, "", err
	}
	return k, cred.String(), nil
}
