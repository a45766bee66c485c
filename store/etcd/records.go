package etcd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
)

// --- principals ---

func claimPrincipal(t *tx, kind, name, email string) error {
	if _, taken := t.get(famName, name); taken {
		return fmt.Errorf("name %q: %w", name, store.ErrAlreadyExists)
	}
	if email != "" {
		if _, taken := t.get(famEmail, email); taken {
			return fmt.Errorf("email %q: %w", email, store.ErrConflict)
		}
		t.putRaw(famEmail, email, []byte(name))
	}
	t.putRaw(famName, name, []byte(kind))
	return nil
}

func changeEmail(t *tx, name, oldEmail, newEmail string) error {
	if oldEmail == newEmail {
		return nil
	}
	if newEmail != "" {
		if owner, taken := t.get(famEmail, newEmail); taken && string(owner) != name {
			return fmt.Errorf("email %q: %w", newEmail, store.ErrConflict)
		}
		t.putRaw(famEmail, newEmail, []byte(name))
	}
	if oldEmail != "" {
		t.get(famEmail, oldEmail) // guard: the release must not race a claim
		t.del(famEmail, oldEmail)
	}
	return nil
}

func releasePrincipal(t *tx, name, email string) {
	t.get(famName, name)
	t.del(famName, name)
	if email != "" {
		t.get(famEmail, email)
		t.del(famEmail, email)
	}
}

// deleteOwnedKeys removes every key of owner (and its PAT name index).
func deleteOwnedKeys(t *tx, kind store.KeyKind, owner string) error {
	t.scan(famKey) // a key created elsewhere and not mirrored yet fails the commit
	for id := range t.s.owned(string(kind) + "\x00" + owner) {
		k, err := txGet[store.Key](t, famKey, id)
		if err != nil {
			return err
		}
		t.del(famKey, id)
		if k.Kind == store.KindPersonalToken {
			t.del(famPATName, k.Owner+"\x00"+k.Name)
		}
	}
	return nil
}

// checkOwners enforces the contract that owners are existing users.
// Owners not in previous are being added: their user record is rewritten
// unchanged, so that this transaction and a concurrent DeleteUser of that
// user both write the record and one of them fails its compare-and-swap.
// (Only reading it would not do: DeleteUser decides which accounts to
// touch from the mirror, which may not show this write yet.)
func checkOwners(t *tx, owners, previous []string) error {
	for _, o := range owners {
		rec, ok := t.get(famUser, o)
		if !ok {
			return fmt.Errorf("owner %q: %w", o, store.ErrNotFound)
		}
		if !slices.Contains(previous, o) {
			t.putRaw(famUser, o, rec)
		}
	}
	return nil
}

// dropOwner removes user from every service account's Owners. Each account
// it rewrites is read through t, so a concurrent update of that account
// fails one of the two compare-and-swaps; an account that gains user
// concurrently rewrote the user's record (checkOwners), which DeleteUser
// reads and deletes, so one of the two runs again.
func dropOwner(t *tx, user string) error {
	t.scan(famAccount)
	for name, e := range t.s.fams[famAccount] {
		sa, err := decode[store.ServiceAccount](famAccount, name, e.value())
		if err != nil {
			return err
		}
		if !slices.Contains(sa.Owners, user) {
			continue
		}
		sa, err = txGet[store.ServiceAccount](t, famAccount, name)
		if err != nil {
			return err
		}
		sa.Owners = slices.DeleteFunc(sa.Owners, func(o string) bool { return o == user })
		if err := t.put(famAccount, name, sa); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) CreateServiceAccount(ctx context.Context, sa store.ServiceAccount) error {
	return s.atomic(ctx, func(t *tx) error {
		if err := checkOwners(t, sa.Owners, nil); err != nil {
			return err
		}
		if err := claimPrincipal(t, principalSA, sa.Name, sa.Email); err != nil {
			return err
		}
		t.get(famAccount, sa.Name)
		return t.put(famAccount, sa.Name, sa)
	})
}

func (s *Store) GetServiceAccount(ctx context.Context, name string) (store.ServiceAccount, error) {
	return viewGet[store.ServiceAccount](s, ctx, famAccount, name)
}

func (s *Store) ListServiceAccounts(ctx context.Context) ([]store.ServiceAccount, error) {
	return viewList[store.ServiceAccount](s, ctx, famAccount)
}

func (s *Store) UpdateServiceAccount(ctx context.Context, name string, update func(store.ServiceAccount) (store.ServiceAccount, error)) (result store.ServiceAccount, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		old, err := txGet[store.ServiceAccount](t, famAccount, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.Name, updated.ID = old.Name, old.ID // immutable
		if err := checkOwners(t, updated.Owners, old.Owners); err != nil {
			return err
		}
		if err := changeEmail(t, name, old.Email, updated.Email); err != nil {
			return err
		}
		result = updated
		return t.put(famAccount, name, updated)
	})
	return result, err
}

func (s *Store) DeleteServiceAccount(ctx context.Context, name string) error {
	return s.atomic(ctx, func(t *tx) error {
		sa, err := txGet[store.ServiceAccount](t, famAccount, name)
		if err != nil {
			return err
		}
		if err := deleteOwnedKeys(t, store.KindServiceKey, name); err != nil {
			return err
		}
		releasePrincipal(t, name, sa.Email)
		t.del(famAccount, name)
		return nil
	})
}

// --- users ---

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.atomic(ctx, func(t *tx) error {
		if err := claimPrincipal(t, principalU, u.Name, u.Email); err != nil {
			return err
		}
		t.get(famUser, u.Name)
		return t.put(famUser, u.Name, u)
	})
}

func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	return viewGet[store.User](s, ctx, famUser, name)
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return viewList[store.User](s, ctx, famUser)
}

func (s *Store) UpdateUser(ctx context.Context, name string, update func(store.User) (store.User, error)) (result store.User, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		old, err := txGet[store.User](t, famUser, name)
		if err != nil {
			return err
		}
		updated, err := update(old)
		if err != nil {
			return err
		}
		updated.Name, updated.ID = old.Name, old.ID
		if err := changeEmail(t, name, old.Email, updated.Email); err != nil {
			return err
		}
		result = updated
		return t.put(famUser, name, updated)
	})
	return result, err
}

func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.atomic(ctx, func(t *tx) error {
		u, err := txGet[store.User](t, famUser, name)
		if err != nil {
			return err
		}
		if err := deleteOwnedKeys(t, store.KindPersonalToken, name); err != nil {
			return err
		}
		if err := dropOwner(t, name); err != nil {
			return err
		}
		releasePrincipal(t, name, u.Email)
		t.del(famUser, name)
		return nil
	})
}

// --- keys ---

func (s *Store) CreateKey(ctx context.Context, k store.Key, opts ...store.CreateKeyOption) error {
	o := store.CreateKeyOptionsOf(opts)
	return s.atomic(ctx, func(t *tx) error {
		ownerFam := famAccount
		switch k.Kind {
		case store.KindServiceKey:
		case store.KindPersonalToken:
			ownerFam = famUser
		default:
			return fmt.Errorf("etcd: unknown key kind %q", k.Kind)
		}
		// Reading the owner guards against a concurrent delete of it.
		owner, ok := t.get(ownerFam, k.Owner)
		if !ok {
			return fmt.Errorf("owner %q: %w", k.Owner, store.ErrNotFound)
		}
		if o.MaxPerOwner > 0 {
			owned := t.s.owned(string(k.Kind) + "\x00" + k.Owner)
			for id := range owned {
				t.get(famKey, id) // a key deleted elsewhere fails the check
			}
			if n := len(owned); n >= o.MaxPerOwner {
				return fmt.Errorf("%s %q holds %d keys: %w", k.Kind, k.Owner, n, store.ErrLimitExceeded)
			}
			// Rewriting the owner's record (unchanged) serialises creates
			// for one owner: two concurrent ones both compare its
			// revision, so one fails, waits for the mirror to show the
			// other's key, and counts again.
			t.putRaw(ownerFam, k.Owner, owner)
		}
		if _, ok := t.get(famKey, k.ID); ok {
			return fmt.Errorf("key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		if k.Kind == store.KindPersonalToken {
			if _, ok := t.get(famPATName, k.Owner+"\x00"+k.Name); ok {
				return fmt.Errorf("token name %q: %w", k.Name, store.ErrAlreadyExists)
			}
			t.putRaw(famPATName, k.Owner+"\x00"+k.Name, []byte(k.ID))
		}
		return t.put(famKey, k.ID, k)
	})
}

func (s *Store) GetKey(ctx context.Context, id string) (store.Key, error) {
	return viewGet[store.Key](s, ctx, famKey, id)
}

// matchingKeyIDs lists the ids selected by q, sorted; callers hold mu.
func (s *Store) matchingKeyIDs(q store.KeyQuery) []string {
	var ids []string
	switch {
	case q.Kind != "" && q.Owner != "":
		for id := range s.owned(string(q.Kind) + "\x00" + q.Owner) {
			ids = append(ids, id)
		}
	default:
		for idx, set := range s.byOwner {
			kind, owner, _ := strings.Cut(idx, "\x00")
			if (q.Kind == "" || string(q.Kind) == kind) && (q.Owner == "" || q.Owner == owner) {
				for id := range set.ids {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (out []store.Key, err error) {
	err = s.view(ctx, func() error {
		for _, id := range s.matchingKeyIDs(q) {
			k, err := decode[store.Key](famKey, id, s.fams[famKey][id].value())
			if err != nil {
				return err
			}
			if q.Matches(k) {
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}

func updateKey(t *tx, id string, update func(store.Key) (store.Key, error)) (store.Key, error) {
	old, err := txGet[store.Key](t, famKey, id)
	if err != nil {
		return store.Key{}, err
	}
	updated, err := update(old)
	if err != nil {
		return store.Key{}, err
	}
	updated.ID, updated.Kind, updated.Owner = old.ID, old.Kind, old.Owner
	if old.Kind == store.KindPersonalToken && updated.Name != old.Name {
		// Keep the per-user token-name index in step with a rename.
		if _, taken := t.get(famPATName, old.Owner+"\x00"+updated.Name); taken {
			return store.Key{}, fmt.Errorf("token name %q: %w", updated.Name, store.ErrAlreadyExists)
		}
		t.del(famPATName, old.Owner+"\x00"+old.Name)
		t.putRaw(famPATName, old.Owner+"\x00"+updated.Name, []byte(id))
	}
	return updated, t.put(famKey, id, updated)
}

func (s *Store) UpdateKey(ctx context.Context, id string, update func(store.Key) (store.Key, error)) (result store.Key, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		result, err = updateKey(t, id, update)
		return err
	})
	return result, err
}

func (s *Store) UpdateKeys(ctx context.Context, q store.KeyQuery, update func(store.Key) (store.Key, error)) (changed []store.Key, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		changed = nil
		t.scan(famKey) // a matching key this mirror does not show yet fails the commit
		for _, id := range s.matchingKeyIDs(q) {
			k, err := txGet[store.Key](t, famKey, id)
			if err != nil {
				return err
			}
			if !q.Matches(k) {
				continue
			}
			updated, err := updateKey(t, id, update)
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

func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.atomic(ctx, func(t *tx) error {
		k, err := txGet[store.Key](t, famKey, id)
		if err != nil {
			return err
		}
		if k.Kind == store.KindPersonalToken {
			t.del(famPATName, k.Owner+"\x00"+k.Name)
		}
		t.del(famKey, id)
		return nil
	})
}

// RecordKeyUsage merges by max inside a compare-and-swap per chunk, so
// replicas flushing at the same time never move a lastUsedAt backwards;
// chunks keep each transaction under etcd's operation limit.
func (s *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) error {
	ctx = store.WithoutAudit(ctx) // housekeeping: several transactions
	for chunk := range slices.Chunk(usage, s.opts.MaxTxnOps) {
		err := s.atomic(ctx, func(t *tx) error {
			for _, u := range chunk {
				_, err := updateKey(t, u.KeyID, func(k store.Key) (store.Key, error) {
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
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// --- signing keys ---

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.atomic(ctx, func(t *tx) error {
		if _, ok := t.get(famSigning, k.ID); ok {
			return fmt.Errorf("signing key %q: %w", k.ID, store.ErrAlreadyExists)
		}
		return t.put(famSigning, k.ID, k)
	})
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return viewList[store.SigningKey](s, ctx, famSigning)
}

func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (result store.SigningKey, err error) {
	err = s.atomic(ctx, func(t *tx) error {
		old, err := txGet[store.SigningKey](t, famSigning, id)
		if err != nil {
			return err
		}
		result, err = update(old)
		if err != nil {
			return err
		}
		result.ID = old.ID
		return t.put(famSigning, id, result)
	})
	return result, err
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.atomic(ctx, func(t *tx) error {
		if _, ok := t.get(famSigning, id); !ok {
			return fmt.Errorf("signing key %q: %w", id, store.ErrNotFound)
		}
		t.del(famSigning, id)
		return nil
	})
}

func (s *Store) ReplaceSigningKeys(ctx context.Context, keys []store.SigningKey) error {
	return s.atomic(ctx, func(t *tx) error {
		t.scan(famSigning)
		for id := range s.fams[famSigning] {
			t.get(famSigning, id)
			t.del(famSigning, id)
		}
		for _, k := range keys {
			if err := t.put(famSigning, k.ID, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// --- audit ---

// auditIDLen is 16 hex digits of Unix nanoseconds and 8 random ones: IDs
// sort in time order across replicas and never collide.
const auditIDLen = 24

func (s *Store) nextAuditID() (string, error) {
	s.auditMu.Lock()
	now := max(time.Now().UnixNano(), s.lastAudit+1) // monotonic within a process
	s.lastAudit = now
	s.auditMu.Unlock()
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(now))
	return hex.EncodeToString(b[:]) + hex.EncodeToString(r[:]), nil
}

// stageAudit adds the event that ctx carries (store.WithAudit) to t's
// writes, so that the change and its event are one etcd transaction.
func (s *Store) stageAudit(ctx context.Context, t *tx) error {
	ev, ok, err := store.ChangeAudit(ctx)
	if !ok || err != nil {
		return err
	}
	if ev.ID, err = s.nextAuditID(); err != nil {
		return err
	}
	return t.put(famAudit, ev.ID, ev)
}

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	if err := e.Validate(); err != nil {
		return e, err
	}
	id, err := s.nextAuditID()
	if err != nil {
		return e, err
	}
	e.ID = id
	data, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("etcd: encoding audit event: %w", err)
	}
	// A marker of its own, as in atomic: a resend after an answerless
	// failure finds it present when the first send landed, and settle can
	// rule the event out without writing into the audit family.
	k := s.key(famAudit, id)
	marker := s.key(famMeta, markerDir+s.newMarkerID())
	committed, err := s.send(ctx, time.Now().Add(s.opts.RequestTimeout),
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0), clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(k, string(data))}, marker)
	if err != nil {
		return e, err
	}
	if committed == 0 {
		return e, fmt.Errorf("audit id %s: %w", id, store.ErrAlreadyExists)
	}
	return e, nil
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	limit := q.EffectiveLimit()
	base := s.opts.Prefix + famAudit + "/"
	end := clientv3.GetPrefixRangeEnd(base)
	if q.Before != "" {
		if _, err := hex.DecodeString(q.Before); err != nil || len(q.Before) != auditIDLen {
			return nil, fmt.Errorf("audit cursor %q: %w", q.Before, store.ErrInvalidArgument)
		}
		end = base + q.Before // exclusive: strictly older than the cursor
	}
	var out []store.AuditEvent
	page := int64(max(limit, 100))
	for len(out) < limit {
		rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		resp, err := s.cli.Get(rctx, base, clientv3.WithRange(end), clientv3.WithLimit(page),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		cancel()
		if err != nil {
			return nil, unavailable(err)
		}
		for _, kv := range resp.Kvs {
			e, err := decode[store.AuditEvent](famAudit, string(kv.Key), kv.Value)
			if err != nil {
				return nil, err
			}
			if !q.Since.IsZero() && e.Time.Before(q.Since) {
				return out, nil // newest first: nothing older can match
			}
			if q.Matches(e) {
				out = append(out, e)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key)
	}
	return out, nil
}

// --- revoked tokens ---

func (s *Store) RevokeToken(ctx context.Context, rt store.RevokedToken) error {
	return s.atomic(ctx, func(t *tx) error { return t.put(famRevoked, rt.JTI, rt) })
}

func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	_, err := s.getFresh(ctx, famRevoked, jti)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) ListRevokedTokens(ctx context.Context) ([]store.RevokedToken, error) {
	return viewList[store.RevokedToken](s, ctx, famRevoked)
}

func (s *Store) PruneRevokedTokens(ctx context.Context, now time.Time) (int, error) {
	ctx = store.WithoutAudit(ctx) // housekeeping: several transactions
	var doomed []string
	err := s.view(ctx, func() error {
		for jti, e := range s.fams[famRevoked] {
			rt, err := decode[store.RevokedToken](famRevoked, jti, e.value())
			if err != nil {
				return err
			}
			if !now.Before(rt.ExpiresAt) {
				doomed = append(doomed, jti)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for chunk := range slices.Chunk(doomed, s.opts.MaxTxnOps) {
		var pruned int
		err := s.atomic(ctx, func(t *tx) error {
			pruned = 0
			for _, jti := range chunk {
				if _, ok := t.get(famRevoked, jti); ok {
					t.del(famRevoked, jti)
					pruned++
				}
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
