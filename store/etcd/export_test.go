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
