package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

func session(id, user string) store.Session {
	return store.Session{ID: id, User: user, Subject: "sub-" + user, CreatedAt: t0, LastSeenAt: t0,
		ExpiresAt: t0.Add(8 * time.Hour), IdleTimeout: time.Hour, SourceIP: "127.0.0.1", Kind: store.SessionConsole}
}

// Sessions: created only for an existing, active user; read back as
// written; updated with ID and User immutable; deleted one at a time, per
// user, and when expired.
func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateUser(ctx, user("bob", "bob@example.com")))
	wantErr(t, s.CreateSession(ctx, session("s-nobody", "nobody")), store.ErrNotFound)
	must(t, s.CreateSession(ctx, session("s1", "alice")))
	must(t, s.CreateSession(ctx, session("s2", "alice")))
	must(t, s.CreateSession(ctx, session("s3", "bob")))
	wantErr(t, s.CreateSession(ctx, session("s1", "alice")), store.ErrAlreadyExists)
	got, err := s.GetSession(ctx, "s1")
	must(t, err)
	if want := session("s1", "alice"); !got.ExpiresAt.Equal(want.ExpiresAt) || got.User != "alice" || got.IdleTimeout != time.Hour ||
		got.Subject != want.Subject || got.Kind != store.SessionConsole {
		t.Fatalf("GetSession = %+v", got)
	}
	later := t0.Add(30 * time.Minute)
	up, err := s.UpdateSession(ctx, "s1", func(se store.Session) (store.Session, error) {
		se.LastSeenAt, se.User = later, "bob"
		return se, nil
	})
	must(t, err)
	if up.User != "alice" || !up.LastSeenAt.Equal(later) {
		t.Fatalf("UpdateSession = %+v (user must stay alice)", up)
	}
	must(t, s.DeleteSession(ctx, "s1"))
	wantErr(t, s.DeleteSession(ctx, "s1"), store.ErrNotFound)
	_, err = s.GetSession(ctx, "s1")
	wantErr(t, err, store.ErrNotFound)
	n, err := s.DeleteUserSessions(ctx, "alice")
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteUserSessions(alice) = %d, want 1", n)
	}
	if _, err := s.GetSession(ctx, "s3"); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
	// s3 was last seen at t0 with a 1h idle timeout.
	pruned, err := s.PruneSessions(ctx, t0.Add(59*time.Minute))
	must(t, err)
	if len(pruned) != 0 {
		t.Fatalf("pruned %+v before the idle timeout", pruned)
	}
	pruned, err = s.PruneSessions(ctx, t0.Add(time.Hour))
	must(t, err)
	if len(pruned) != 1 || pruned[0].ID != "s3" || pruned[0].User != "bob" {
		t.Fatalf("pruned %+v at the idle timeout, want bob's s3", pruned)
	}
}

// A user's deactivation and deletion end the user's sessions in the same
// transaction, and an inactive user gets no new session.
func testSessionsEndWithUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	must(t, s.CreateUser(ctx, user("bob", "bob@example.com")))
	must(t, s.CreateSession(ctx, session("a1", "alice")))
	must(t, s.CreateSession(ctx, session("b1", "bob")))
	_, err := s.UpdateUser(ctx, "alice", func(u store.User) (store.User, error) {
		u.Status = store.StatusInactive
		return u, nil
	})
	must(t, err)
	_, err = s.GetSession(ctx, "a1")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateSession(ctx, session("a2", "alice")), store.ErrConflict)
	must(t, s.DeleteUser(ctx, "bob"))
	_, err = s.GetSession(ctx, "b1")
	wantErr(t, err, store.ErrNotFound)
}

// A CLI sign-in code is a session of its own kind bound to a PKCE
// challenge (both read back as written), and it is consumed by deleting
// it: of concurrent deletions exactly one succeeds, so a code is
// exchanged at most once, on any replica.
func testSessionConsumedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateUser(ctx, user("alice", "alice@example.com")))
	code := session("c1", "alice")
	code.Kind, code.Challenge = store.SessionCLICode, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	must(t, s.CreateSession(ctx, code))
	got, err := s.GetSession(ctx, "c1")
	must(t, err)
	if got.Kind != store.SessionCLICode || got.Challenge != code.Challenge {
		t.Fatalf("GetSession = %+v", got)
	}
	exactlyOne(t, "deletions", store.ErrNotFound, func(int) error { return s.DeleteSession(ctx, "c1") })
}

// exactlyOne runs op n times at once and requires exactly one success,
// every other attempt failing with loser (the store's answer to a lost
// race). what names the operation in the failure.
func exactlyOne(t *testing.T, what string, loser error, op func(i int) error) {
	t.Helper()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = op(i)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantErr(t, err, loser)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent %s succeeded, want exactly 1", won, n, what)
	}
}
