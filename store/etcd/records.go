package etcd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// update runs a records.Writer transaction atomically (see atomic).
func (s *Store) update(ctx context.Context, fn func(records.Tx) error) error {
	return s.atomic(ctx, func(t *tx) error { return fn(t) })
}

// tx is a records.Tx: the rules of the records (store/records) read and
// write through it, and atomic commits the writes guarded by the
// revisions of everything read.
var _ records.Tx = (*tx)(nil)

func (t *tx) Get(fam records.Family, id string) ([]byte, bool, error) {
	v, ok := t.get(string(fam), id)
	return v, ok, nil
}

func (t *tx) Put(fam records.Family, id string, data []byte) error {
	t.putRaw(string(fam), id, data)
	return nil
}

func (t *tx) Delete(fam records.Family, id string) error {
	t.del(string(fam), id)
	return nil
}

// Lock rewrites the record unchanged: two transactions that do so both
// compare its revision, so one of them fails and runs again.
func (t *tx) Lock(fam records.Family, id string) error {
	if v, ok := t.get(string(fam), id); ok {
		t.putRaw(string(fam), id, v)
	}
	return nil
}

// Each visits the mirror's records of fam (not t's own writes) and makes
// the commit depend on the whole family.
func (t *tx) Each(fam records.Family, fn func(id string, data []byte) error) error {
	t.scan(string(fam))
	for id, e := range t.s.fams[string(fam)] {
		if err := fn(id, e.value()); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) OwnedKeys(kind store.KeyKind, owner string) ([]string, error) {
	ids := slices.Collect(maps.Keys(t.s.owned(string(kind) + "\x00" + owner)))
	slices.Sort(ids)
	return ids, nil
}

// KeyIDs answers from the mirror's owner index; a matching key this mirror
// does not show yet fails the commit (scan).
func (t *tx) KeyIDs(q store.KeyQuery) ([]string, error) {
	t.scan(famKey)
	return t.s.matchingKeyIDs(q), nil
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
		out, err = records.SelectKeys(q, s.matchingKeyIDs(q), func(id string) ([]byte, bool, error) {
			e, ok := s.fams[famKey][id]
			return e.value(), ok, nil
		})
		return err
	})
	return out, err
}

// RecordKeyUsage merges by max inside a compare-and-swap per chunk, so
// replicas flushing at the same time never move a lastUsedAt backwards;
// chunks keep each transaction under etcd's operation limit.
func (s *Store) RecordKeyUsage(ctx context.Context, usage []store.KeyUsage) error {
	ctx = store.WithoutAudit(ctx) // housekeeping: several transactions
	for chunk := range slices.Chunk(usage, s.opts.MaxTxnOps) {
		if err := s.atomic(ctx, func(t *tx) error { return records.MergeKeyUsage(t, chunk) }); err != nil {
			return err
		}
	}
	return nil
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
			if q.BeforeSince(e) {
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

func (s *Store) PruneRevokedTokens(ctx context.Context, now time.Time) (int, error) {
	ctx = store.WithoutAudit(ctx) // housekeeping: several transactions
	var doomed []string
	err := s.view(ctx, func() error {
		for jti, e := range s.fams[famRevoked] {
			rt, err := decode[store.RevokedToken](famRevoked, jti, e.value())
			if err != nil {
				return err
			}
			if rt.Expired(now) {
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
