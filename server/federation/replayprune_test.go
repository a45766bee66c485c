package federation_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/server/federation"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// PruneReplays, on a real bbolt store: a tick deletes the records expired
// at the pruner's clock and keeps the others; the loop ends with its
// context.
func TestPruneReplays(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "tokenwright.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	base := time.Now()
	if err := db.ConsumeForeignToken(ctx, "https://issuer.example", "short", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.ConsumeForeignToken(ctx, "https://issuer.example", "long", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := base
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() { federation.PruneReplays(ctx, db, now, tick, zerolog.Nop()); close(done) }()

	mu.Lock()
	clock = base.Add(2 * time.Minute)
	mu.Unlock()
	tick <- time.Now()
	tick <- time.Now() // the first round has finished once the loop takes the second tick
	// The short token's record is gone: counting what a further prune at
	// the end of time finds tells which records were left.
	left, err := db.PruneForeignTokens(ctx, base.Add(24*time.Hour))
	if err != nil || left != 1 {
		t.Fatalf("records left after the pruner's round: %d, %v; want 1 (long)", left, err)
	}
	cancel()
	eventually.True(t, 5*time.Second, "the pruner stops with its context", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}
