package ha_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// must fails the test unless an admin call answered want.
func must(t *testing.T, code, want int, what string) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: HTTP %d, want %d", what, code, want)
	}
}

// within polls cond until it holds or limit passes, and returns how long
// it took.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	eventually.True(t, limit, what, cond)
	return time.Since(start)
}

func TestHATwoReplicasShareState(t *testing.T) { etcdtest.Each(t, testHATwoReplicasShareState) }

func testHATwoReplicasShareState(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	a, b := servertest.Replicas(t, c.Endpoints(), nil)

	// Created on A, usable on B.
	a.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	key := a.CreateKey(t, "svc", api.CreateKey{Name: "ci"})
	within(t, time.Second, "key created on A usable on B", func() bool {
		status, _ := b.ClientCredentials(t, "svc", key.ClientSecret)
		return status == http.StatusOK
	})
	a.WantToken(t, "svc", key.ClientSecret)

	// Revoked on A, refused on B within 1 s.
	must(t, a.Do(t, a.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+key.ID+":revoke", nil, nil), 200, "revoke on A")
	took := within(t, time.Second, "key revoked on A refused on B", func() bool {
		status, code := b.ClientCredentials(t, "svc", key.ClientSecret)
		return status == http.StatusUnauthorized && code == "invalid_client"
	})
	t.Logf("revocation on A reached B after %s", took)

	// Concurrent duplicate creates through both replicas: exactly one wins
	// the name, and exactly one wins the email.
	const n = 8
	codes := make([]int, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			in := api.CreateServiceAccount{UserName: "dup", Email: fmt.Sprintf("dup%d@example.com", i)}
			if i >= n {
				in = api.CreateServiceAccount{UserName: fmt.Sprintf("mail%d", i), Email: "same@example.com"}
			}
			codes[i] = s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts", in, nil)
		})
	}
	wg.Wait()
	for half, group := range [][]int{codes[:n], codes[n:]} {
		created := 0
		for _, code := range group {
			switch code {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
			default:
				t.Fatalf("duplicate create answered HTTP %d", code)
			}
		}
		if created != 1 {
			t.Fatalf("race %d: %d creates succeeded, want exactly 1 (%v)", half, created, group)
		}
	}
	var list api.List[api.ServiceAccount]
	must(t, b.Do(t, b.AdminToken, http.MethodGet, "/api/v1/service-accounts", nil, &list), 200, "list on B")
	if len(list.Items) != 3 {
		t.Fatalf("B lists %d accounts, want 3 (svc, dup, one mail*)", len(list.Items))
	}

	// Both replicas publish the same JWKS, also right after a rotation on A.
	if ka, kb := a.KeyIDs(t), b.KeyIDs(t); len(ka) == 0 || !slices.Equal(ka, kb) {
		t.Fatalf("JWKS differ: A %v, B %v", ka, kb)
	}
	must(t, a.Do(t, a.AdminToken, http.MethodPost, "/api/v1/signing-keys:rotate", nil, nil), 201, "rotate on A")
	ka := a.KeyIDs(t)
	within(t, 5*time.Second, "B publishes the key set rotated on A", func() bool { return slices.Equal(ka, b.KeyIDs(t)) })
	if len(ka) < 2 {
		t.Fatalf("rotation published %v, want the old and the new key", ka)
	}
}

func TestHAOneEtcdMemberDown(t *testing.T) { etcdtest.Each(t, testHAOneEtcdMemberDown) }

func testHAOneEtcdMemberDown(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 3)
	a, b := servertest.Replicas(t, c.Endpoints(), nil)
	a.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	key := a.CreateKey(t, "svc", api.CreateKey{Name: "ci"})

	// Kill the leader, the worst member to lose.
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	c.Kill(leader)
	// During the election a replica that cannot prove its memory fresh
	// answers 503 for about a second (docs/high-availability.md, the
	// leader row); never a refusal of the valid key.
	for _, s := range []*servertest.Server{a, b} {
		within(t, 10*time.Second, "a token during the election", func() bool {
			status, body := s.ClientCredentials(t, "svc", key.ClientSecret)
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				t.Fatalf("token during the election: HTTP %d %s", status, body)
			}
			return status == http.StatusOK
		})
	}
	// A write sent while the survivors elect a new leader is resent until
	// it lands (idempotently: see store/etcd's transaction marker), so the
	// caller sees a slower success. Only a call whose reads before the
	// write (the administrator's token, the account) reached no quorum is
	// answered 503 "try again", and then nothing was made: the test
	// retries exactly those, and fails on a 503 whose outcome is unknown.
	start := time.Now()
	var k2 api.KeyWithSecret
	within(t, 15*time.Second, "a key created during the election", func() bool {
		var raw json.RawMessage
		code := b.Do(t, b.AdminToken, http.MethodPost, "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "after-kill"}, &raw)
		var e api.Error
		switch {
		case code == http.StatusCreated:
			return json.Unmarshal(raw, &k2) == nil
		case code != http.StatusServiceUnavailable || json.Unmarshal(raw, &e) != nil:
			t.Fatalf("creating a key during the election: HTTP %d %s", code, raw)
		case strings.Contains(e.Message, "may or may not have been made"):
			t.Fatalf("a create during the election ended with its outcome unknown: %s", raw)
		}
		return false
	})
	took := time.Since(start)
	t.Logf("first successful write %s after the leader was killed", took)
	for _, s := range []*servertest.Server{a, b} {
		s.WantToken(t, "svc", key.ClientSecret)
	}
	a.CreateAccount(t, api.CreateServiceAccount{UserName: "svc2", Email: "svc2@example.com"})
	within(t, time.Second, "key created on B during the outage usable on A", func() bool {
		status, _ := a.ClientCredentials(t, "svc", k2.ClientSecret)
		return status == http.StatusOK
	})
	must(t, b.Do(t, b.AdminToken, "POST", "/api/v1/service-accounts/svc/keys/"+key.ID+":revoke", nil, nil), 200, "revoke on B")
	within(t, time.Second, "revocation on B refused on A", func() bool {
		status, _ := a.ClientCredentials(t, "svc", key.ClientSecret)
		return status == http.StatusUnauthorized
	})

	// The member comes back and catches up.
	c.Restart(leader)
	c.WaitHealthy(c.Members[leader].ClientURL)
	a.CreateAccount(t, api.CreateServiceAccount{UserName: "svc3", Email: "svc3@example.com"})
}

func TestHAQuorumLoss(t *testing.T) { etcdtest.Each(t, testHAQuorumLoss) }

func testHAQuorumLoss(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 3)
	a := servertest.Replica(t, c.Endpoints(), func(cfg *config.Config) { cfg.Etcd.RequestTimeout = config.Duration(time.Second) })
	// B trusts its in-memory index for only 4 s without quorum (it serves
	// from memory only after quorumGrace, 1.5 s, so this leaves a window
	// in which it must).
	b := servertest.Replica(t, c.Endpoints(), func(cfg *config.Config) {
		cfg.Etcd.RequestTimeout = config.Duration(time.Second)
		cfg.Etcd.MaxStaleness = config.Duration(4 * time.Second)
	})
	b.AdminToken = a.AdminToken
	a.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	key := a.CreateKey(t, "svc", api.CreateKey{Name: "ci"})
	within(t, time.Second, "B sees the key", func() bool { s, _ := b.ClientCredentials(t, "svc", key.ClientSecret); return s == 200 })

	c.Kill(1)
	c.Kill(2)
	// Tokens keep being issued from the in-memory index once the replica
	// has had no answer from a quorum for quorumGrace (1.5 s): before
	// that, a read it cannot prove fresh is answered 503, because a lost
	// quorum cannot yet be told from a paused member.
	for _, s := range []*servertest.Server{a, b} {
		within(t, 5*time.Second, "a token from the in-memory index without quorum", func() bool {
			code, _ := s.ClientCredentials(t, "svc", key.ClientSecret)
			return code == http.StatusOK
		})
		if got := s.DoRaw(t, "", http.MethodGet, "/readyz"); !json.Valid([]byte(got)) {
			t.Fatalf("readyz: %s", got)
		}
	}
	// ...while administrative writes fail cleanly with 503.
	for _, s := range []*servertest.Server{a, b} {
		var e api.Error
		code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts",
			api.CreateServiceAccount{UserName: "during", Email: "during@example.com"}, &e)
		if code != http.StatusServiceUnavailable || e.Code != api.CodeUnavailable {
			t.Fatalf("write without quorum: HTTP %d %+v, want 503 %s", code, e, api.CodeUnavailable)
		}
	}
	// Once A serves the administrator's token from its in-memory index
	// (within quorumGrace of the last contact it refuses it, with the
	// generic message), the write itself is sent; etcd cannot say whether
	// it landed (it may once quorum returns), so the client is told to
	// read back before retrying.
	within(t, 10*time.Second, "503 saying the outcome is unknown", func() bool {
		var e api.Error
		code := a.Do(t, a.AdminToken, http.MethodPost, "/api/v1/service-accounts",
			api.CreateServiceAccount{UserName: "during", Email: "during@example.com"}, &e)
		if code != http.StatusServiceUnavailable || e.Code != api.CodeUnavailable {
			t.Fatalf("write without quorum: HTTP %d %+v, want 503 %s", code, e, api.CodeUnavailable)
		}
		return strings.Contains(e.Message, "may or may not have been made; read it back before retrying")
	})
	// Past etcd.maxStaleness B stops issuing (it could miss a revocation
	// made on the majority side of a partition) and reports not ready;
	// A, with the default 5m, keeps issuing.
	within(t, 10*time.Second, "B refuses once stale", func() bool {
		status, _ := b.ClientCredentials(t, "svc", key.ClientSecret)
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Fatalf("stale replica answered HTTP %d", status)
		}
		return status == http.StatusServiceUnavailable
	})
	if code := b.Do(t, "", http.MethodGet, "/readyz", nil, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("stale replica /readyz: HTTP %d, want 503", code)
	}
	a.WantToken(t, "svc", key.ClientSecret)

	// Quorum returns: writes work again on both replicas.
	c.Restart(1)
	c.Restart(2)
	c.WaitHealthy(c.Endpoints()...)
	for i, s := range []*servertest.Server{a, b} {
		within(t, 30*time.Second, "writes after quorum returns", func() bool {
			return s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts",
				api.CreateServiceAccount{UserName: fmt.Sprintf("after%d", i), Email: fmt.Sprintf("after%d@example.com", i)}, nil) == http.StatusCreated
		})
	}
	within(t, 5*time.Second, "B issues again", func() bool { s, _ := b.ClientCredentials(t, "svc", key.ClientSecret); return s == 200 })
	// after0 was written through A; B's watch may still be catching up
	// after the outage (replicas converge, they do not read through).
	within(t, 5*time.Second, "B sees A's account", func() bool {
		return b.Do(t, b.AdminToken, http.MethodGet, "/api/v1/service-accounts/after0", nil, nil) == http.StatusOK
	})
	k2 := b.CreateKey(t, "after0", api.CreateKey{Name: "ci"})
	within(t, time.Second, "A sees B's new key", func() bool { s, _ := a.ClientCredentials(t, "after0", k2.ClientSecret); return s == 200 })
}

// Replicas started at the same moment on an empty store agree: one
// administrator, one signing key, the same JWKS.
func TestHASimultaneousFirstStart(t *testing.T) { etcdtest.Each(t, testHASimultaneousFirstStart) }

func testHASimultaneousFirstStart(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	servers := make([]*servertest.Server, 3)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i] = servertest.Replica(t, c.Endpoints(), nil) })
	}
	wg.Wait()
	tokens := 0
	for _, s := range servers {
		if s.AdminToken != "" {
			tokens++
		}
	}
	if tokens != 1 {
		t.Fatalf("%d replicas bootstrapped an administrator, want 1", tokens)
	}
	want := servers[0].KeyIDs(t)
	if len(want) != 1 {
		t.Fatalf("JWKS %v, want exactly one key", want)
	}
	for _, s := range servers[1:] {
		if got := s.KeyIDs(t); !slices.Equal(got, want) {
			t.Fatalf("JWKS differ: %v vs %v", got, want)
		}
	}
}
