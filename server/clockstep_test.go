package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// A forward step of the wall clock (NTP correcting a slow clock, a VM
// resumed from a snapshot) must neither hand signing over to a successor
// that verifiers may not have fetched yet, nor drop a retired key whose
// tokens are still live: both wait for time this process has itself
// watched pass (issue 14, finding 6).
func TestWallClockStepHastensNoRotation(t *testing.T) {
	wall := newFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	mono := newFakeClock(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) // only its differences count
	s := servertest.Start(t, servertest.Options{Now: wall.Now, Monotonic: mono.Now, Configure: func(c *config.Config) {
		c.Signing.JWKSMaxAge = config.Duration(10 * time.Minute)
	}})
	const prePublish = 10*time.Minute + 30*time.Minute // JWKS max-age + margin
	retention := s.Server.Signing().Options().Retention()
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "stepper", Email: "stepper@example.com",
		AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(t, "stepper", api.CreateKey{Name: "k"})
	signer := func() string { return jwtHeader(t, fetchToken(t, s, key.ClientID, key.ClientSecret))["kid"].(string) }
	tick := func() {
		t.Helper()
		if _, err := s.Server.Signing().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	first := signer()

	var next api.SigningKey
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, &next); code != http.StatusCreated {
		t.Fatalf("rotate: %d", code)
	}

	// The wall clock jumps a day ahead: by the stored schedule the
	// successor is long due, but it has been published for one minute.
	wall.Advance(24 * time.Hour)
	mono.Advance(time.Minute)
	tick()
	if got := signer(); got != first {
		t.Fatalf("after a wall-clock step the successor %s signs, published 1m of the %s verifiers need", got, prePublish)
	}
	mono.Advance(prePublish - time.Minute - time.Second)
	tick()
	if got := signer(); got != first {
		t.Fatalf("successor signs 1s before its pre-publication ran out on this process's clock")
	}
	mono.Advance(time.Second)
	tick()
	if got := signer(); got != next.KID {
		t.Fatalf("after %s of pre-publication the successor does not sign (got %s)", prePublish, got)
	}

	// Another day's step: the first key's tokens are still live by the
	// process's own clock, so it stays published.
	wall.Advance(24 * time.Hour)
	mono.Advance(time.Minute)
	tick()
	if kids := s.KeyIDs(t); !slices.Contains(kids, first) {
		t.Fatalf("a wall-clock step removed the retired key %s from the JWKS %v after 1m of its %s retention", first, kids, retention)
	}
	mono.Advance(retention - time.Minute)
	tick()
	if kids := s.KeyIDs(t); slices.Contains(kids, first) {
		t.Fatalf("the retired key %s is still published after its retention: %v", first, kids)
	}
}
