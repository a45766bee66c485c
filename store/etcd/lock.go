package etcd

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// lockTTL is how long a lock outlives a crashed holder.
const lockTTL = 10 // seconds

// Exclusive implements store.Locker with an etcd mutex bound to a lease:
// if this process dies or loses contact for lockTTL, the lease expires and
// another replica may take over; fn's context is then cancelled.
func (s *Store) Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	// Grant the lease under a timeout (NewSession would wait for a quorum
	// forever); the session then keeps it alive for as long as ctx lives.
	gctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	lease, err := s.cli.Grant(gctx, lockTTL)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("etcd: lock %s: %w", name, unavailable(err))
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("etcd: lock %s: %w", name, unavailable(err))
	}
	defer sess.Close()
	mu := concurrency.NewMutex(sess, s.key(famLock, name))
	lctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout+lockTTL*time.Second)
	err = mu.Lock(lctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("etcd: lock %s: %w", name, unavailable(err))
	}
	// Whatever the previous holder wrote was committed before we got the
	// lock: prove the mirror holds it (see prove), so fn decides on fresh
	// data. The lock's own revisions say nothing here: they may belong to
	// a read, not to an event the watch delivers.
	if err := s.prove(ctx); err != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RequestTimeout)
		_ = mu.Unlock(uctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("etcd: lock %s: the watch did not catch up: %w", name, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RequestTimeout)
		defer cancel()
		_ = mu.Unlock(uctx)
	}()
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-sess.Done(): // lease lost: someone else may hold the lock now
			stop()
		case <-fctx.Done():
		}
	}()
	return fn(fctx)
}
