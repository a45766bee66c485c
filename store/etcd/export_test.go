package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EndWatch ends the mirror's current watch, as a lost member or a broken
// stream would; the watch loop then resumes it. Tests only.
func (s *Store) EndWatch() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.cancelWatch != nil {
		s.cancelWatch()
	}
}

// RequestProgressOnMirror asks etcd for a progress notification on the
// mirror's own watch stream (what tokenwright once did on every probe).
// Tests only.
func (s *Store) RequestProgressOnMirror() error {
	// A child of the stream's context has the same stream key; the timeout
	// keeps a busy stream from blocking the caller.
	ctx, cancel := context.WithTimeout(s.watchStream(), 100*time.Millisecond)
	defer cancel()
	return s.cli.RequestProgress(ctx)
}

// LoseAnswers makes every later send of a write transaction fail as an
// answerless timeout does. With applied true etcd applies each send first
// (the answer is lost on its way back). Otherwise each send is held back
// (the request is delayed in the network): land sends the held-back
// requests as they were, after the caller gave up, and reports how many
// of them committed. Settling the outcome still reaches etcd. Tests only.
func (s *Store) LoseAnswers(applied bool) (land func(context.Context) (int, error)) {
	var mu sync.Mutex
	var held []func(context.Context) (*clientv3.TxnResponse, error)
	f := sendFunc(func(ctx context.Context, cmps []clientv3.Cmp, ops []clientv3.Op, marker string) (*clientv3.TxnResponse, error) {
		send := func(ctx context.Context) (*clientv3.TxnResponse, error) {
			return s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(marker)).Commit()
		}
		if applied {
			if _, err := send(ctx); err != nil {
				return nil, err
			}
		} else {
			mu.Lock()
			held = append(held, send)
			mu.Unlock()
		}
		return nil, context.DeadlineExceeded
	})
	s.sendHook.Store(&f)
	return func(ctx context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, send := range held {
			resp, err := send(ctx)
			if err != nil {
				return n, err
			}
			if resp.Succeeded {
				n++
			}
		}
		return n, nil
	}
}

// DeliverAnswers undoes LoseAnswers. Tests only.
func (s *Store) DeliverAnswers() { s.sendHook.Store(nil) }

// HoldEvents makes the watch hold every event it receives, undelivered to
// the mirror, until release is called. Tests only.
func (s *Store) HoldEvents() (release func()) {
	ch := make(chan struct{})
	s.applyHold.Store(&ch)
	return func() { s.applyHold.Store(nil); close(ch) }
}

// OpenPaged is Open with reloads that read page records per request and
// call afterPage between pages. Tests only.
func OpenPaged(ctx context.Context, opts Options, page int, afterPage func()) (*Store, error) {
	opts.reloadPage, opts.afterPage = page, afterPage
	return Open(ctx, opts)
}

// ReadSnapshot reads the prefix as reload does, in pages of page records,
// calling afterPage between pages, and returns what the mirror would hold
// (full etcd key -> stored value) and the snapshot's revision; the store's
// own mirror is left alone. Tests only.
func (s *Store) ReadSnapshot(ctx context.Context, page int, afterPage func()) (map[string]string, int64, error) {
	m, rev, err := s.readSnapshot(ctx, page, afterPage)
	if err != nil {
		return nil, 0, err
	}
	return m.dump(s), rev, nil
}

// Mirror returns the mirror's content (full etcd key -> stored value) and
// the revision of the last event applied. Tests only.
func (s *Store) Mirror() (map[string]string, int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mirror.dump(s), s.rev
}

// WaitApplied waits up to timeout until the mirror has applied the event
// at rev. Tests only.
func (s *Store) WaitApplied(rev int64, timeout time.Duration) bool {
	return s.waitRev(context.Background(), rev, timeout)
}

func (m *mirror) dump(s *Store) map[string]string {
	out := map[string]string{}
	for fam, recs := range m.fams {
		for id, e := range recs {
			out[s.key(fam, id)] = string(e.value())
		}
	}
	return out
}

// Mirrored reports whether the record at the full etcd key k is one the
// mirror holds. Tests only.
func (s *Store) Mirrored(k string) bool {
	fam, _, ok := s.split([]byte(k))
	return ok && mirrored(fam)
}

// Reload replaces the mirror with a fresh read of the prefix, as after
// the watch fell behind a compaction. Tests only.
func (s *Store) Reload(ctx context.Context) error { return s.reload(ctx) }
