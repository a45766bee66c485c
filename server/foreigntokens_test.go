package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// The sweep deletes expired replay records of foreign tokens and keeps
// live ones. The second tick is taken only once the first sweep is done,
// so no sleep is needed.
func TestForeignTokenPrunerSweepsExpiredRecords(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	now := s.now()
	for _, jti := range []string{"old-1", "old-2"} {
		if err := s.store.ConsumeForeignToken(ctx, "https://ci.example.com", jti, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.store.ConsumeForeignToken(ctx, "https://ci.example.com", "live", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(ctx)
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() { s.pruneForeignTokens(run, tick); close(done) }()
	tick <- now
	tick <- now
	stop()
	<-done
	if n, err := s.store.PruneForeignTokens(ctx, now); err != nil || n != 0 {
		t.Fatalf("after the sweep, %d expired records remain (%v)", n, err)
	}
	if err := s.store.ConsumeForeignToken(ctx, "https://ci.example.com", "live", now.Add(time.Hour)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("the live record was swept too: consuming it again gives %v", err)
	}
}
