// Package tlstickets keeps the keys that encrypt TLS session tickets in
// the store, shared by every replica that serves TLS, so that a client
// resumes its session at whichever replica it reaches next instead of
// paying a full handshake (crypto/tls's own keys are per process: a
// ticket from replica A means nothing to replica B, nor to A after a
// restart).
//
// The rules, with R = Rotation, A = Acceptance and P = PrePublish:
//
//   - a new key is made when the newest is R old (or there is none);
//   - a key decrypts tickets from its creation until it is A old, then it
//     is deleted from the store (A > R: a ticket stays resumable for at
//     least A - R);
//   - a key encrypts new tickets once it is P old, P being two refresh
//     intervals, so every replica knows it before any ticket under it
//     reaches them (the first key of all encrypts at once: nobody holds a
//     ticket yet);
//   - the next key's id is the newest's sequence number plus one, so
//     replicas that rotate at the same moment make the same record, and
//     the store's expect-absent create lets exactly one of them win.
//
// The keys are secrets: stored only sealed under the key-encryption key,
// as the signing keys' private parts are (signing.KEK, with the id bound
// in as associated data), never logged, never in an API answer.
//
// A skewed wall clock on one replica moves only when a key is made,
// starts encrypting or is dropped by that replica: it can cost
// resumptions (a full handshake instead), never accept a key past what
// the replica's own clock allows.
package tlstickets

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/store"
)

const (
	// Rotation (R) is how often a new ticket key is made. An hour keeps
	// the tickets under any one key to an hour's sessions (what a stolen
	// key exposes: with TLS 1.2 a ticket carries the session's master
	// secret), where crypto/tls's own keys rotate daily.
	Rotation = time.Hour
	// Acceptance (A) is how long a key decrypts tickets after it was
	// made, and so the longest a ticket resumes (crypto/tls keeps its own
	// keys for 7 days). A day covers every client that connects at least
	// daily (a cron job, a CI runner) and bounds how long a key lives in
	// the store and in memory.
	Acceptance = 24 * time.Hour
	// Refresh is how often a replica re-reads the keys, and so how soon
	// it sees a key another replica made.
	Refresh = time.Minute
	// PrePublish (P) is how long a new key only decrypts before it
	// encrypts: two refresh intervals, so that every replica has read it
	// before a ticket under it can reach them.
	PrePublish = 2 * Refresh
)

// aadPrefix separates the ticket keys' sealed records from the signing
// keys' under the same KEK: the associated data is aadPrefix + id.
const aadPrefix = "tokenwright tls ticket key\x00"

// Store is the part of store.Store the manager uses.
type Store = store.TLSTicketKeyStore

// Options tune a Manager.
type Options struct {
	// Now is the wall clock (default time.Now); the stored creation
	// times are compared with it.
	Now func() time.Time
	// Refresh replaces how often Run re-reads the keys (tests: a replica
	// picking up another's key without waiting a minute); the rules keep
	// PrePublish, which assumes the default.
	Refresh time.Duration
	Log     zerolog.Logger
}

// Manager keeps the served ticket keys in step with the store.
type Manager struct {
	store Store
	kek   *signing.KEK
	base  *tls.Config
	opts  Options

	mu    sync.Mutex        // serialises Tick
	plain map[string]opened // opened keys by id, so each is opened once
	keys  [][32]byte        // the keys served, in served's order
	// served is base with the current keys set; nil until the first
	// successful Tick, when connections get crypto/tls's own keys.
	served atomic.Pointer[tls.Config]
	ids    atomic.Pointer[[]string] // the served keys' ids, encrypting first
}

// opened is a stored key opened: the sealed bytes it came from (an id
// deleted and made again by another replica holds other ones) and the key.
type opened struct {
	sealed []byte
	key    [32]byte
}

// New returns a manager serving base (which it does not change) with the
// shared keys. Call Tick once before serving and Run in the background.
func New(st Store, kek *signing.KEK, base *tls.Config, opts Options) *Manager {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresh <= 0 {
		opts.Refresh = Refresh
	}
	return &Manager{store: st, kek: kek, base: base.Clone(), opts: opts, plain: map[string]opened{}}
}

// ServerConfig is the configuration to serve: base, whose connections are
// handed the configuration with the current shared keys
// (GetConfigForClient), so that a rotation reaches new connections at
// once. http.Server.ServeTLS clones it; the keys still change, since
// they are not in the clone but behind the pointer it reads.
func (m *Manager) ServerConfig() *tls.Config {
	cfg := m.base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return m.served.Load(), nil // nil: crypto/tls's own keys
	}
	return cfg
}

// KeyIDs are the ids of the keys served, the encrypting one first (tests
// and diagnostics; ids are no secret).
func (m *Manager) KeyIDs() []string {
	if ids := m.ids.Load(); ids != nil {
		return slices.Clone(*ids)
	}
	return nil
}

// plan is what Tick does with the stored keys at now.
type plan struct {
	create string   // the id of the key to make; empty: none
	remove []string // keys past Acceptance, or sealed under another KEK
	served []string // live keys in SetSessionTicketKeys order: encrypting first
}

// planKeys applies the rules (see the package comment) to keys, oldest
// first as the store lists them. A key that cannot be opened, sealed
// under another KEK (one left from before `tokenwright kek rotate`) or
// damaged (in damaged), is removed like an expired one: it costs only
// resumptions, where keeping it would stall the rotation.
func planKeys(keys []store.TLSTicketKey, kekID string, damaged map[string]bool, now time.Time) (plan, error) {
	var p plan
	var next uint64
	var live []store.TLSTicketKey
	for _, k := range keys {
		seq, err := store.TLSTicketKeySeq(k.ID)
		if err != nil {
			return plan{}, err
		}
		next = max(next, seq+1)
		if !now.Before(k.CreatedAt.Add(Acceptance)) || k.KEKID != kekID || damaged[k.ID] {
			p.remove = append(p.remove, k.ID)
			continue
		}
		live = append(live, k)
	}
	if len(live) == 0 || !now.Before(live[len(live)-1].CreatedAt.Add(Rotation)) {
		p.create = store.TLSTicketKeyID(max(next, 1))
	}
	if len(live) == 0 {
		return p, nil
	}
	// The encrypting key: the newest published for P; if none is (only
	// keys made moments ago), the oldest live one.
	enc := 0
	for i := len(live) - 1; i >= 0; i-- {
		if !now.Before(live[i].CreatedAt.Add(PrePublish)) {
			enc = i
			break
		}
	}
	p.served = append(p.served, live[enc].ID)
	for i := len(live) - 1; i >= 0; i-- {
		if i != enc {
			p.served = append(p.served, live[i].ID)
		}
	}
	return p, nil
}

// Tick reads the keys, makes the next one and deletes expired ones when
// due, and serves the live set. Another replica's concurrent creation of
// the same key is no error (it won the race; its key is read back).
func (m *Manager) Tick(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.read(ctx)
	if err != nil {
		return err
	}
	// The new key first: the set is never left empty.
	if p.create != "" {
		if err := m.create(ctx, p.create); err != nil {
			return err
		}
	}
	for _, id := range p.remove {
		err := m.store.DeleteTLSTicketKey(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tlstickets: deleting key %s: %w", id, err)
		}
		delete(m.plain, id)
	}
	if p.create != "" || len(p.remove) > 0 {
		// Read back what the store now holds (the key another replica
		// made, if it won the race).
		if p, err = m.read(ctx); err != nil {
			return err
		}
	}
	m.serve(p)
	return nil
}

// read lists the stored keys, opens those not opened yet, and plans.
func (m *Manager) read(ctx context.Context) (plan, error) {
	keys, err := m.store.ListTLSTicketKeys(ctx)
	if err != nil {
		return plan{}, fmt.Errorf("tlstickets: listing keys: %w", err)
	}
	damaged := map[string]bool{}
	for _, k := range keys {
		if o, ok := m.plain[k.ID]; ok && bytes.Equal(o.sealed, k.EncryptedKey) || k.KEKID != m.kek.ID() {
			continue
		}
		raw, err := Open(m.kek, k)
		if err != nil {
			m.opts.Log.Error().Err(err).Msg("a stored TLS session-ticket key does not open; deleting it")
			damaged[k.ID] = true
			delete(m.plain, k.ID)
			continue
		}
		m.plain[k.ID] = opened{sealed: k.EncryptedKey, key: raw}
	}
	return planKeys(keys, m.kek.ID(), damaged, m.opts.Now().UTC())
}

// create makes key id, sealed under the KEK. Another replica having made
// it first is no error: that one is read back.
func (m *Manager) create(ctx context.Context, id string) error {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	sealed, err := m.kek.Seal(raw[:], []byte(aadPrefix+id))
	if err != nil {
		return fmt.Errorf("tlstickets: sealing key %s: %w", id, err)
	}
	k := store.TLSTicketKey{ID: id, CreatedAt: m.opts.Now().UTC(), EncryptedKey: sealed, KEKID: m.kek.ID()}
	switch err := m.store.CreateTLSTicketKey(ctx, k); {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil
	case err != nil:
		return fmt.Errorf("tlstickets: storing key %s: %w", id, err)
	}
	m.plain[id] = opened{sealed: sealed, key: raw}
	m.opts.Log.Info().Str("tls_ticket_key", id).Msg("made a new TLS session-ticket key")
	return nil
}

// serve installs the planned keys (read opened them; a key another
// replica made or deleted since is in the next plan) and forgets the
// opened keys no longer served. With none to serve, the previous set
// stays.
func (m *Manager) serve(p plan) {
	var out [][32]byte
	var ids []string
	for _, id := range p.served {
		if o, ok := m.plain[id]; ok {
			out, ids = append(out, o.key), append(ids, id)
		}
	}
	for id := range m.plain {
		if !slices.Contains(ids, id) {
			delete(m.plain, id)
		}
	}
	if len(out) == 0 {
		return
	}
	if !slices.Equal(m.keys, out) {
		cfg := m.base.Clone()
		cfg.SetSessionTicketKeys(out)
		m.keys = out
		m.served.Store(cfg)
		m.ids.Store(&ids)
	}
}

// Open returns the ticket key k holds, sealed under kek (the rule Tick
// seals it with); an error if it does not open (another KEK, a damaged
// or swapped record).
func Open(kek *signing.KEK, k store.TLSTicketKey) ([32]byte, error) {
	var raw [32]byte
	opened, err := kek.Open(k.EncryptedKey, []byte(aadPrefix+k.ID))
	if err != nil || len(opened) != len(raw) {
		return raw, fmt.Errorf("tlstickets: key %s does not open under the configured KEK (damaged record)", k.ID)
	}
	copy(raw[:], opened)
	clear(opened)
	return raw, nil
}

// Run calls Tick every refresh interval (Options.Refresh) until ctx ends.
func (m *Manager) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(m.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}
