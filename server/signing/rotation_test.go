package signing

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

func testKEK(t *testing.T) *KEK {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	kek, err := NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// stepClock is a settable clock.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }

// plan's clock rules: the stored (wall-clock) schedule and this process's
// own observation on its monotonic clock must both allow a step, so a
// forward step of the wall clock hastens nothing (issue 14, finding 6).
func TestPlanWaitsForLocallyObservedTime(t *testing.T) {
	m := NewManager(nil, testKEK(t), Options{MaxAge: 10 * time.Minute, TokenLifetime: 20 * time.Minute})
	p, r := m.opts.PrePublish(), m.opts.Retention()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) // wall clock when the keys were written
	mono := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

	// All of the configured algorithm, so that plan makes no successor.
	active := store.SigningKey{ID: "active", Algorithm: "RS256", State: store.SigningActive, ActivatedAt: t0.Add(-time.Hour)}
	pending := store.SigningKey{ID: "pending", Algorithm: "RS256", State: store.SigningPending, CreatedAt: t0, ActivateAt: t0.Add(p)}
	retired := store.SigningKey{ID: "retired", Algorithm: "RS256", State: store.SigningRetired, RetiredAt: t0, RemoveAfter: t0.Add(r)}
	keys := []store.SigningKey{active, pending, retired}
	// seenFor: this process saw "pending" published, and "retired"
	// retired, d ago on its own clock.
	seenFor := func(d time.Duration) local {
		at := mono.Add(-d)
		return local{now: mono, seen: map[string]sighting{
			"active": {published: at}, "pending": {published: at}, "retired": {published: at, retired: at},
		}}
	}
	never := local{now: mono}

	for _, tc := range []struct {
		name         string
		wall         time.Time // now, on the (possibly stepped) wall clock
		seen         local
		wantActive   string
		wantRetained bool // the retired key is still in the set
	}{
		{"on schedule, watched long enough", t0.Add(r), seenFor(r), "pending", false},
		{"wall clock stepped a day ahead, watched 1m", t0.Add(24 * time.Hour), seenFor(time.Minute), "active", true},
		{"wall clock stepped ahead, watched 1s short", t0.Add(24 * time.Hour), seenFor(p - time.Second), "active", true},
		{"wall clock stepped ahead, watched P but not R", t0.Add(24 * time.Hour), seenFor(p), "pending", true},
		{"never seen by this process (just started)", t0.Add(24 * time.Hour), never, "active", true},
		{"watched long enough, stored schedule not yet due", t0.Add(p - time.Second), seenFor(24 * time.Hour), "active", true},
		{"wall clock stepped back, watched long enough", t0.Add(-time.Hour), seenFor(24 * time.Hour), "active", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, _, err := m.plan(keys, tc.wall, tc.seen)
			if err != nil {
				t.Fatal(err)
			}
			var gotActive string
			retained := false
			for _, k := range next {
				switch {
				case k.State == store.SigningActive:
					gotActive = k.ID
				case k.ID == "retired":
					retained = true
				}
			}
			if gotActive != tc.wantActive {
				t.Errorf("active key %q, want %q", gotActive, tc.wantActive)
			}
			if retained != tc.wantRetained {
				t.Errorf("retired key kept: %v, want %v", retained, tc.wantRetained)
			}
		})
	}
}

// After a wall-clock step the maintenance loop waits for the process's own
// remaining wait instead of ticking every second on a schedule that looks
// overdue.
func TestNextTickAfterWallClockStep(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wall := &stepClock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	mono := &stepClock{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := NewManager(s, testKEK(t), Options{Now: wall.Now, Monotonic: mono.Now, MaxAge: 10 * time.Minute})
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got, want := m.untilNextTick(), m.opts.PrePublish(); got != want {
		t.Fatalf("next tick in %s, want the pre-publication %s", got, want)
	}
	wall.t = wall.t.Add(24 * time.Hour)
	mono.t = mono.t.Add(5 * time.Minute)
	if _, err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := m.untilNextTick(), m.opts.PrePublish()-5*time.Minute; got != want {
		t.Fatalf("after a step of the wall clock the next tick is in %s, want the remaining local wait %s", got, want)
	}
}

// Which algorithm the next key gets: an administrator's choice (RotateTo)
// stands across restarts and scheduled rotations, a change of
// signing.algorithm made after it still takes effect, and keys from before
// the choice was recorded follow the configuration as they always did
// (issue 15, finding 3).
func TestAlgorithmChoiceOutlivesRestartsButNotAConfigChange(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                  string
		keyAlg, keyConfigured string // the active key and the configuration it was made under
		configured            string // signing.algorithm now
		wantSuccessor         string // algorithm of the successor plan publishes; "" none
		wantRecord            string // the active key's ConfiguredAlgorithm afterwards
	}{
		{"recorded before: unchanged configuration", "RS256", "", "RS256", "", ""},
		{"recorded before: configuration changed", "RS256", "", "ES256", "ES256", ""},
		{"made from the configuration: unchanged", "RS256", "RS256", "RS256", "", "RS256"},
		{"made from the configuration: changed", "RS256", "RS256", "ES256", "ES256", "RS256"},
		{"chosen: same configuration (a restart)", "ES256", "RS256", "RS256", "", "RS256"},
		{"chosen: configuration changed since", "ES256", "RS256", "PS256", "PS256", "RS256"},
		{"chosen: configuration now names the choice", "ES256", "RS256", "ES256", "", "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager(nil, testKEK(t), Options{Algorithm: jose.SignatureAlgorithm(tc.configured)})
			active := store.SigningKey{ID: "active", Algorithm: tc.keyAlg, ConfiguredAlgorithm: tc.keyConfigured,
				State: store.SigningActive, ActivatedAt: t0.Add(-time.Hour)}
			next, _, err := m.plan([]store.SigningKey{active}, t0, local{now: t0})
			if err != nil {
				t.Fatal(err)
			}
			var successor string
			for _, k := range next {
				switch k.State {
				case store.SigningPending:
					successor = k.Algorithm
					if k.ConfiguredAlgorithm != tc.configured {
						t.Errorf("successor records configuration %q, want %q", k.ConfiguredAlgorithm, tc.configured)
					}
				case store.SigningActive:
					if k.ConfiguredAlgorithm != tc.wantRecord {
						t.Errorf("active key records configuration %q, want %q", k.ConfiguredAlgorithm, tc.wantRecord)
					}
				}
			}
			if successor != tc.wantSuccessor {
				t.Errorf("successor %q, want %q", successor, tc.wantSuccessor)
			}
		})
	}

	// Adopted, a later change of the configuration is seen as one.
	m := NewManager(nil, testKEK(t), Options{Algorithm: jose.RS256})
	adopted := store.SigningKey{ID: "a", Algorithm: "ES256", ConfiguredAlgorithm: "ES256", State: store.SigningActive, ActivatedAt: t0}
	next, _, err := m.plan([]store.SigningKey{adopted}, t0, local{now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != 2 || next[1].State != store.SigningPending || next[1].Algorithm != "RS256" {
		t.Fatalf("after adopting ES256, signing.algorithm RS256 planned %+v", next)
	}
}
