package sso_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

// sessionID is the stored id of the browser's session.
func sessionID(t *testing.T, e env, browser *http.Client) string {
	t.Helper()
	for _, c := range browser.Jar.Cookies(mustURL(t, e.tw.URL)) {
		if c.Name == "tokenwright_session" {
			return sso.HashSessionSecret(c.Value)
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// The pruner deletes sessions that expired without being presented again
// and audits each end (session.expire, with the timeout that ended it);
// a live session stays. It runs on the server's clock (moved here) at
// each tick (sent here), and returns when its context ends, as the
// server's Close needs to join it.
func TestPrunerEndsAbandonedSessions(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	op := ssotest.Start(t, alice)
	tw := servertest.Start(t, servertest.Options{Now: now,
		Configure: func(c *config.Config) { c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.ClientID },
		Environ:   op.Environ})
	op.Register(t, tw.URL+sso.CallbackPath)
	e := env{op: op, tw: tw}
	db := tw.Server.Store()

	abandoned, active := e.signIn(t, alice), e.signIn(t, alice)
	abandonedID, activeID := sessionID(t, e, abandoned), sessionID(t, e, active)
	offset.Add(int64(50 * time.Minute))
	if s, _ := e.me(t, active); s != http.StatusOK {
		t.Fatalf("active session after 50m: %d", s)
	}
	// A CLI's one-time code, unexchanged: pruned without a session.expire
	// (it was never a session anyone had).
	code := store.Session{ID: sso.HashSessionSecret("unexchanged-code"), User: "alice", CreatedAt: now(), LastSeenAt: now(),
		ExpiresAt: now().Add(time.Minute), IdleTimeout: time.Minute, Kind: store.SessionCLICode}
	if err := db.CreateSession(t.Context(), code); err != nil {
		t.Fatal(err)
	}
	offset.Add(int64(20 * time.Minute)) // abandoned: 70m unused (idle timeout 1h); active: 20m

	m, err := sso.New(sso.Options{SSO: tw.Config.SSO, Console: tw.Config.Console, PublicURL: tw.URL, Store: db, Log: zerolog.Nop(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	tick, done := make(chan time.Time), make(chan struct{})
	go func() { m.RunPruner(ctx, tick); close(done) }()
	// The pruner takes the second tick only once the first round is
	// over: after it, that round's audit events are all written.
	tick <- now()
	tick <- now()
	events := e.audit(t, "session.expire")
	if len(events) != 1 {
		t.Fatalf("session.expire events after pruning %+v, want the abandoned session's only", events)
	}
	ev := events[0]
	if ev.Actor != "alice" || ev.Details["timeout"] != "idle" || ev.Details["by"] != "prune" || ev.Details["kind"] != "console" {
		t.Fatalf("session.expire %+v", ev)
	}
	if _, err := db.GetSession(ctx, code.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired CLI code after pruning: %v", err)
	}
	if _, err := db.GetSession(ctx, abandonedID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("abandoned session after pruning: %v", err)
	}
	if _, err := db.GetSession(ctx, activeID); err != nil {
		t.Fatalf("active session after pruning: %v", err)
	}
	if s, _ := e.me(t, active); s != http.StatusOK {
		t.Fatalf("active session after pruning: %d", s)
	}

	// Past the absolute timeout (8h), the other one goes too.
	offset.Add(int64(8 * time.Hour))
	tick <- now()
	eventually.True(t, 5*time.Second, "the expired session's end audited", func() bool { return len(e.audit(t, "session.expire")) == 2 })
	if ev := e.audit(t, "session.expire"); ev[0].Details["timeout"] != "absolute" && ev[1].Details["timeout"] != "absolute" {
		t.Fatalf("session.expire events %+v", ev)
	}
	cancel()
	<-done
}
