package signing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/store"
)

// The key lifecycle, with P = PrePublish (JWKS max-age + margin) and
// R = Retention (longest token lifetime + JWKS max-age + margin):
//
//	pending  published in JWKS, does not sign; becomes active at ActivateAt,
//	         which is at least P after it was published
//	active   the one key that signs; after RotationPeriod a successor is
//	         created P ahead of time so the handover happens on schedule
//	retired  no longer signs, still published until RemoveAfter = retired + R
//	removed  deleted from the store and from JWKS
//
// Every change goes through Tick (periodic) or Rotate (manual). Both work
// out the complete new set, write it in one transaction, and swap in a new
// State: the token path never sees a half-changed set.
//
// The stored times are wall-clock times, written by whichever replica made
// the change, and a step of a wall clock (NTP correcting a drifted clock, a
// VM resumed from a snapshot) moves them all at once. So a scheduled
// activation also waits until this process has itself seen the successor
// published for P, and a retired key stays until this process has itself
// seen it retired for R, both measured on the process's monotonic clock:
// a forward step can delay nothing and hurry nothing. A restarted process
// measures from its start, which can delay a handover or a removal (never
// hasten it); any replica that has watched long enough performs it.

// ErrRotationPending means a successor key is already waiting to activate.
var ErrRotationPending = errors.New("a new signing key is already pending")

// lockName is the cluster-wide lock held while changing the key set, so
// that exactly one replica rotates.
const lockName = "signing-keys"

// Tick reloads the stored set and applies every lifecycle step that is due:
// a first key on an empty store, creating a successor, activating it,
// retiring its predecessor, removing expired retired keys, and repairing a
// set left with two active keys. It reports whether it wrote anything.
func (m *Manager) Tick(ctx context.Context) (changed bool, err error) {
	err = m.exclusive(ctx, func(ctx context.Context) error {
		keys, err := m.list(ctx)
		if err != nil {
			return err
		}
		var next []store.SigningKey
		next, changed, err = m.plan(keys, m.opts.Now().UTC(), m.observe(keys))
		if err != nil {
			return err
		}
		return m.commit(ctx, next, changed)
	})
	return changed, err
}

// Rotate starts a rotation now. The store write that makes it records
// the audit event ctx carries (store.WithAudit), if any. Scheduled (immediate false): a new key is
// published at once and takes over after PrePublish, so no verifier ever
// meets a token whose key it has not seen. Immediate: the new key signs at
// once and the old one retires (still published for Retention); verifiers
// with a cached JWKS refetch on the unknown kid, which Domino does at most
// every 30 s, so tokens may be refused briefly: use it when the active key
// is compromised, together with Remove.
func (m *Manager) Rotate(ctx context.Context, immediate bool) (KeyInfo, error) {
	return m.RotateTo(ctx, immediate, "")
}

// RotateTo is Rotate with the new key's algorithm chosen: alg, or with alg
// empty the algorithm the key set follows (see Options.algorithmAfter). A
// chosen algorithm outlives restarts and scheduled rotations: each later
// key keeps it until signing.algorithm is changed in the configuration or
// another algorithm is chosen here. An unknown alg is ErrUnsupportedAlgorithm.
func (m *Manager) RotateTo(ctx context.Context, immediate bool, alg jose.SignatureAlgorithm) (KeyInfo, error) {
	if alg != "" {
		if _, err := ParseAlgorithm(string(alg)); err != nil {
			return KeyInfo{}, err
		}
	}
	var created store.SigningKey
	err := m.exclusive(ctx, func(ctx context.Context) error {
		keys, err := m.list(ctx)
		if err != nil {
			return err
		}
		now := m.opts.Now().UTC()
		if i := slices.IndexFunc(keys, isState(store.SigningPending)); i >= 0 {
			if !immediate {
				return fmt.Errorf("%w: %s (%s) activates at %s", ErrRotationPending, keys[i].ID, keys[i].Algorithm, keys[i].ActivateAt.Format(time.RFC3339))
			}
			if alg != "" && string(alg) != keys[i].Algorithm {
				// Promoting the waiting key would not give the algorithm
				// asked for, and a second pending key is not a state the
				// lifecycle has.
				return fmt.Errorf("%w: %s (%s) would be promoted, not a new %s key; remove it first", ErrRotationPending, keys[i].ID, keys[i].Algorithm, alg)
			}
			// Immediate rotation promotes the waiting key instead of
			// adding another one. It hands over here, on purpose without
			// the wait for publication that plan enforces.
			keys[i].ActivateAt = now
			handOver(keys, i, now, m.opts.Retention())
			created = keys[i]
		} else {
			if alg == "" {
				if a := slices.IndexFunc(keys, isState(store.SigningActive)); a >= 0 {
					alg = m.opts.algorithmAfter(keys[a])
				} else {
					alg = m.opts.Algorithm
				}
			}
			k, err := m.generate(alg, store.SigningPending)
			if err != nil {
				return err
			}
			k.ActivateAt = now.Add(m.opts.PrePublish())
			if immediate {
				k.ActivateAt = now
			}
			keys = append(keys, k)
			if immediate {
				handOver(keys, len(keys)-1, now, m.opts.Retention())
			}
			created = keys[len(keys)-1]
		}
		next, _, err := m.plan(keys, now, m.observe(keys))
		if err != nil {
			return err
		}
		// The caller's audit event of the rotation (store.WithAudit),
		// written with the key set, names the key it adds or promotes.
		return m.commit(store.WithAuditTarget(ctx, created.ID), next, true)
	})
	if err != nil {
		return KeyInfo{}, err
	}
	for _, k := range m.Current().Keys {
		if k.ID == created.ID {
			return k, nil
		}
	}
	return info(created), nil
}

// ErrKeyInUse means the key to remove is the one that signs.
var ErrKeyInUse = errors.New("the active signing key cannot be removed; rotate first")

// Remove deletes a pending or retired key from the store and the JWKS at
// once (a compromised key). Tokens it signed stop verifying. The store
// write records the audit event ctx carries (store.WithAudit), if any.
func (m *Manager) Remove(ctx context.Context, kid string) error {
	return m.exclusive(ctx, func(ctx context.Context) error {
		keys, err := m.list(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(keys, func(k store.SigningKey) bool { return k.ID == kid })
		if i < 0 {
			return fmt.Errorf("signing key %s: %w", kid, store.ErrNotFound)
		}
		if keys[i].State == store.SigningActive {
			return ErrKeyInUse
		}
		keys = slices.Delete(keys, i, i+1)
		next, _, err := m.plan(keys, m.opts.Now().UTC(), m.observe(keys))
		if err != nil {
			return err
		}
		return m.commit(ctx, next, true)
	})
}

// exclusive runs fn under the process lock and, for shared stores, the
// cluster-wide lock.
func (m *Manager) exclusive(ctx context.Context, fn func(context.Context) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.store.(store.Locker); ok {
		return l.Exclusive(ctx, lockName, fn)
	}
	return fn(ctx)
}

// list reads the stored set and refuses it if any key was sealed under
// another KEK, before anything is decrypted or written.
func (m *Manager) list(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing: listing keys: %w", err)
	}
	for _, k := range keys {
		if k.KEKID != m.kek.ID() {
			return nil, fmt.Errorf("signing: key %s: %w (stored under KEK %s, configured KEK is %s)", k.ID, ErrWrongKEK, k.KEKID, m.kek.ID())
		}
	}
	return keys, nil
}

// commit writes the planned set if it differs from what is stored and
// publishes it. The set is rebuilt even when nothing changed, so that keys
// written by another replica are picked up.
func (m *Manager) commit(ctx context.Context, keys []store.SigningKey, changed bool) error {
	st, err := m.build(slices.Clone(keys))
	if err != nil {
		return err
	}
	if changed {
		if err := m.store.ReplaceSigningKeys(ctx, keys); err != nil {
			return fmt.Errorf("signing: storing key set: %w", err)
		}
		m.observe(keys) // what this process published or retired itself
	}
	st.NextChange = m.nextChange(keys)
	if old := m.current.Load(); old != nil && old.ETag == st.ETag && old.Active.KeyID == st.Active.KeyID &&
		old.NextChange.Equal(st.NextChange) && slices.Equal(old.Keys, st.Keys) {
		return nil // keep the old pointer: nothing a reader could see changed
	}
	m.current.Store(st)
	return nil
}

// plan applies every due lifecycle step to keys at now (wall clock), given
// what this process observed itself (seen).
func (m *Manager) plan(keys []store.SigningKey, now time.Time, seen local) (_ []store.SigningKey, changed bool, _ error) {
	keys = slices.Clone(keys)
	o := m.opts
	retire := func(k *store.SigningKey) {
		retireKey(k, now, o.Retention())
		changed = true
	}

	// A due pending key takes over (the newest one if several are due):
	// due by the stored schedule, and published for P as this process saw.
	due := -1
	for i, k := range keys {
		if k.State == store.SigningPending && !now.Before(k.ActivateAt) && seen.published(k.ID) >= o.PrePublish() &&
			(due < 0 || k.ActivateAt.After(keys[due].ActivateAt)) {
			due = i
		}
	}
	if due >= 0 {
		handOver(keys, due, now, o.Retention())
		changed = true
	}

	// Repair: one active key, the most recently activated.
	active := -1
	for i, k := range keys {
		if k.State != store.SigningActive {
			continue
		}
		if active >= 0 {
			older := i
			if k.ActivatedAt.After(keys[active].ActivatedAt) {
				older, active = active, i
			}
			retire(&keys[older])
			continue
		}
		active = i
	}

	// First start: a key that signs at once (nothing has been published
	// before, so nobody can miss it).
	if active < 0 {
		k, err := m.generate(o.Algorithm, store.SigningActive)
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, k)
		active, changed = len(keys)-1, true
	}

	// The configuration now names the algorithm an administrator chose
	// earlier: record that, so that a later change of the configuration
	// is seen as one (see algorithmAfter).
	if a := &keys[active]; a.ConfiguredAlgorithm != "" && a.ConfiguredAlgorithm != string(o.Algorithm) && a.Algorithm == string(o.Algorithm) {
		a.ConfiguredAlgorithm, changed = string(o.Algorithm), true
	}

	// A successor, published PrePublish before it is needed: on schedule,
	// or because the configured algorithm changed.
	if !slices.ContainsFunc(keys, isState(store.SigningPending)) {
		a := keys[active]
		alg := o.algorithmAfter(a)
		var activateAt time.Time
		switch {
		case a.Algorithm != string(alg):
			activateAt = now.Add(o.PrePublish())
		case o.RotationPeriod > 0 && !now.Before(o.publishSuccessorAt(a.ActivatedAt)):
			activateAt = later(a.ActivatedAt.Add(o.RotationPeriod), now.Add(o.PrePublish()))
		}
		if !activateAt.IsZero() {
			k, err := m.generate(alg, store.SigningPending)
			if err != nil {
				return nil, false, err
			}
			k.ActivateAt = activateAt
			keys = append(keys, k)
			changed = true
		}
	}

	// Retired keys whose tokens have all expired leave the set: by the
	// stored schedule, and retired for R as this process saw.
	kept := keys[:0]
	for _, k := range keys {
		if k.State == store.SigningRetired && !now.Before(k.RemoveAfter) && seen.retired(k.ID) >= o.Retention() {
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	return kept, changed, nil
}

// algorithmAfter is the algorithm of the key that follows active: the one
// an administrator chose (RotateTo), for as long as the configuration is
// the one that choice was made under, otherwise signing.algorithm. So a
// restart or a scheduled rotation never undoes a choice silently, and a
// change of signing.algorithm made after it still takes effect. A key
// generated from the configuration records the configuration it follows,
// so the rule gives its own algorithm back; keys from before the record
// existed (ConfiguredAlgorithm empty) follow the configuration as before.
func (o Options) algorithmAfter(active store.SigningKey) jose.SignatureAlgorithm {
	if active.ConfiguredAlgorithm == string(o.Algorithm) {
		return jose.SignatureAlgorithm(active.Algorithm)
	}
	return o.Algorithm
}

// Algorithm is the algorithm the key set settles on (after the pending
// key, if any, else after the active one) and whether that differs from
// the configured signing.algorithm because an administrator chose it.
func (m *Manager) Algorithm() (alg jose.SignatureAlgorithm, chosen bool) {
	alg = m.opts.Algorithm
	if st := m.Current(); st != nil {
		last := slices.IndexFunc(st.Keys, func(k KeyInfo) bool { return k.State == store.SigningPending })
		if last < 0 {
			last = slices.IndexFunc(st.Keys, func(k KeyInfo) bool { return k.State == store.SigningActive })
		}
		if last >= 0 {
			k := st.Keys[last]
			alg = m.opts.algorithmAfter(store.SigningKey{Algorithm: k.Algorithm, ConfiguredAlgorithm: k.ConfiguredAlgorithm})
		}
	}
	return alg, alg != m.opts.Algorithm
}

// publishSuccessorAt is when a key activated at activatedAt gets its
// scheduled successor: P before the handover is due.
func (o Options) publishSuccessorAt(activatedAt time.Time) time.Time {
	return activatedAt.Add(o.RotationPeriod - o.PrePublish())
}

// handOver makes keys[i] the one active key at now and retires the key it
// replaces.
func handOver(keys []store.SigningKey, i int, now time.Time, retention time.Duration) {
	for j := range keys {
		if keys[j].State == store.SigningActive {
			retireKey(&keys[j], now, retention)
		}
	}
	keys[i].State, keys[i].ActivatedAt = store.SigningActive, now
}

func retireKey(k *store.SigningKey, now time.Time, retention time.Duration) {
	k.State, k.RetiredAt, k.RemoveAfter = store.SigningRetired, now, now.Add(retention)
}

// sighting is when this process first saw a key published and first saw
// it retired, on its Monotonic clock (zero: not yet).
type sighting struct{ published, retired time.Time }

// local is what this process observed of the key set, on its own clock:
// the input that keeps plan pure.
type local struct {
	now  time.Time // a reading of Options.Monotonic
	seen map[string]sighting
}

// published is how long this process has seen key kid published.
func (l local) published(kid string) time.Duration { return l.since(l.seen[kid].published) }

// retired is how long this process has seen key kid retired.
func (l local) retired(kid string) time.Duration { return l.since(l.seen[kid].retired) }

func (l local) since(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return l.now.Sub(t)
}

// observe records the first sightings of the stored set keys (every
// stored key is published) and forgets keys that are gone. Callers hold mu.
func (m *Manager) observe(keys []store.SigningKey) local {
	now := m.opts.Monotonic()
	seen := make(map[string]sighting, len(keys))
	for _, k := range keys {
		s, ok := m.seen[k.ID]
		if !ok {
			s.published = now
		}
		if k.State == store.SigningRetired && s.retired.IsZero() {
			s.retired = now
		}
		seen[k.ID] = s
	}
	m.seen = seen
	return local{now: now, seen: seen}
}

// nextChange is the earliest planned change of the published set: a
// retired key's removal or the publication of the next successor.
func (m *Manager) nextChange(keys []store.SigningKey) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	pending := false
	for _, k := range keys {
		switch k.State {
		case store.SigningRetired:
			consider(k.RemoveAfter)
		case store.SigningPending:
			pending = true
			// Activation does not change the published set, but the tick
			// that performs it must run then.
		}
	}
	if !pending && m.opts.RotationPeriod > 0 {
		for _, k := range keys {
			if k.State == store.SigningActive {
				consider(m.opts.publishSuccessorAt(k.ActivatedAt))
			}
		}
	}
	return next
}

// untilNextTick is how long until Tick next has work to do: the next
// change of the published set or the next activation, each no earlier
// than this process's own wait for it (see local); zero if nothing is
// planned.
func (m *Manager) untilNextTick() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.Current()
	if st == nil {
		return 0
	}
	l := local{now: m.opts.Monotonic(), seen: m.seen}
	now := m.opts.Now()
	var next time.Duration
	consider := func(at time.Time, localWait time.Duration) {
		if at.IsZero() {
			return
		}
		d := max(at.Sub(now), localWait)
		if next == 0 || d < next {
			next = max(d, time.Nanosecond) // zero means "nothing planned"
		}
	}
	pending := slices.ContainsFunc(st.Keys, func(k KeyInfo) bool { return k.State == store.SigningPending })
	for _, k := range st.Keys {
		switch k.State {
		case store.SigningActive:
			if !pending && m.opts.RotationPeriod > 0 {
				consider(m.opts.publishSuccessorAt(k.ActivatedAt), 0)
			}
		case store.SigningPending:
			consider(k.ActivateAt, m.opts.PrePublish()-l.published(k.ID))
		case store.SigningRetired:
			consider(k.RemoveAfter, m.opts.Retention()-l.retired(k.ID))
		}
	}
	return next
}

// Run calls Tick whenever work is due, and at least every interval so that
// a set changed by another replica is picked up, until ctx ends.
func (m *Manager) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	for {
		wait := interval
		if next := m.untilNextTick(); next > 0 {
			wait = max(time.Second, min(wait, next))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}

// RotateKEK re-encrypts every stored signing key from the old KEK to the
// new one and writes the whole set in one transaction: either every key is
// under the new KEK afterwards, or none is.
func RotateKEK(ctx context.Context, s store.Store, oldKEK, newKEK *KEK) (int, error) {
	keys, err := s.ListSigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("signing: listing keys: %w", err)
	}
	for i, k := range keys {
		if k.KEKID == newKEK.ID() {
			return 0, fmt.Errorf("signing: key %s is already under the new KEK", k.ID)
		}
		if k.KEKID != oldKEK.ID() {
			return 0, fmt.Errorf("signing: key %s: %w (stored under KEK %s, current KEK is %s)", k.ID, ErrWrongKEK, k.KEKID, oldKEK.ID())
		}
		der, err := oldKEK.Open(k.EncryptedPrivateKey, []byte(k.ID))
		if err != nil {
			return 0, fmt.Errorf("signing: key %s: %w", k.ID, err)
		}
		sealed, err := newKEK.Seal(der, []byte(k.ID))
		clear(der)
		if err != nil {
			return 0, fmt.Errorf("signing: key %s: %w", k.ID, err)
		}
		keys[i].EncryptedPrivateKey, keys[i].KEKID = sealed, newKEK.ID()
	}
	if err := s.ReplaceSigningKeys(ctx, keys); err != nil {
		return 0, fmt.Errorf("signing: storing re-encrypted keys: %w", err)
	}
	return len(keys), nil
}

func isState(s store.SigningKeyState) func(store.SigningKey) bool {
	return func(k store.SigningKey) bool { return k.State == s }
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func info(k store.SigningKey) KeyInfo {
	return KeyInfo{ID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt, ActivateAt: k.ActivateAt,
		ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, RemoveAfter: k.RemoveAfter, ConfiguredAlgorithm: k.ConfiguredAlgorithm}
}
