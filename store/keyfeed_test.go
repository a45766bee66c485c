package store_test

import (
	"fmt"
	"testing"

	"github.com/tokenwright/tokenwright/store"
)

// recorder is a follower that writes down what it is told.
type recorder struct{ log []string }

func (r *recorder) reset(keys []store.Key) {
	ids := []string{}
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	r.log = append(r.log, fmt.Sprint("reset", ids))
}

func (r *recorder) changed(c store.KeyChange) { r.log = append(r.log, "changed "+c.New.ID) }

func change(id string) store.KeyChange { return store.KeyChange{New: &store.Key{ID: id}} }

// TestKeyFollowers: a follower gets its snapshot, then only the changes
// committed after it (those published before its start are kept for it);
// a reset before its start supersedes an older snapshot; a removed
// follower hears nothing.
func TestKeyFollowers(t *testing.T) {
	var f store.KeyFollowers
	if f.Any() {
		t.Fatal("followers in the zero value")
	}
	r := &recorder{}
	kf := f.Add(r.reset, r.changed)
	f.Publish(3, change("in-snapshot"))
	f.Publish(5, change("after-snapshot"))
	kf.Start([]store.Key{{ID: "a"}}, 4)
	f.Publish(6, change("live"))
	f.Publish(4, change("late-but-in-snapshot"))
	f.Reset([]store.Key{{ID: "b"}}, 10)
	f.Publish(9, change("before-reset"))
	f.Publish(11, change("after-reset"))
	if got, want := fmt.Sprint(r.log), "[reset[a] changed after-snapshot changed live reset[b] changed after-reset]"; got != want {
		t.Fatalf("told %s, want %s", got, want)
	}

	r2 := &recorder{}
	kf2 := f.Add(r2.reset, r2.changed)
	f.Publish(12, change("dropped-by-reset"))
	f.Reset([]store.Key{{ID: "c"}}, 13)
	f.Publish(14, change("kept"))
	kf2.Start([]store.Key{{ID: "older"}}, 11) // an older snapshot than the reset's
	if got, want := fmt.Sprint(r2.log), "[reset[c] changed kept]"; got != want {
		t.Fatalf("second follower told %s, want %s", got, want)
	}

	f.Remove(kf)
	f.Remove(kf2)
	before := len(r.log)
	f.Publish(20, change("nobody"))
	f.Reset(nil, 21)
	if f.Any() || len(r.log) != before || len(r2.log) != 2 {
		t.Fatalf("removed followers told: %v %v", r.log, r2.log)
	}
}
