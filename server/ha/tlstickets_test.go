package ha_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/internal/testclock"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
	"github.com/tokenwright/tokenwright/server/tlstickets"
	"github.com/tokenwright/tokenwright/server/tlstickets/ticketstest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

const pkiDir = "../../testdata/tls"

// ticketKEK is the installation's key-encryption key (the test opens the
// stored ticket keys with it).
var ticketKEK = []byte("fedcba9876543210fedcba9876543210")

// ticketReplica starts a replica on the etcd cluster at endpoints serving
// TLS with the shared test certificate, on clock, re-reading the ticket
// keys every refresh (0: the default minute, so only the test's own
// Ticks change what it serves).
func ticketReplica(t *testing.T, endpoints []string, clock *testclock.Clock, refresh time.Duration) *servertest.Server {
	t.Helper()
	kek := base64.StdEncoding.EncodeToString(ticketKEK)
	return servertest.Start(t, servertest.Options{
		Now: clock.Now, TLSTicketRefresh: refresh,
		Environ: func(name string) string {
			if name == "TOKENWRIGHT_KEK" {
				return kek
			}
			return ""
		},
		Configure: func(cfg *config.Config) {
			cfg.Store, cfg.Etcd.Endpoints, cfg.Etcd.Prefix = config.StoreEtcd, endpoints, "/ha/"
			cfg.TLS = tlsconfig.Source{Cert: pkiDir + "/server.pem", Key: pkiDir + "/server.key"}
			cfg.Issuer = "https://" + cfg.Listen
		},
	})
}

func tick(t *testing.T, replicas ...*servertest.Server) {
	t.Helper()
	for _, r := range replicas {
		if err := r.Server.TLSTickets().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func storedTicketIDs(t *testing.T, r *servertest.Server) []string {
	t.Helper()
	keys, err := r.Server.Store().ListTLSTicketKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func wantServed(t *testing.T, r *servertest.Server, name string, want ...string) {
	t.Helper()
	if got := r.Server.TLSTickets().KeyIDs(); !slices.Equal(got, want) {
		t.Fatalf("replica %s serves ticket keys %v, want %v (encrypting first)", name, got, want)
	}
}

// servesSoon waits (a few of r's refresh intervals) until r serves want.
func servesSoon(t *testing.T, r *servertest.Server, name string, want ...string) {
	t.Helper()
	eventually.True(t, 5*time.Second, "replica "+name+" serves ticket keys "+strings.Join(want, ", "), func() bool {
		return slices.Equal(r.Server.TLSTickets().KeyIDs(), want)
	})
}

func resumes(t *testing.T, r *servertest.Server, cfg *tls.Config) bool {
	t.Helper()
	return tlstest.Handshake(t, r.Addr, cfg).DidResume
}

// TestHATLSTicketsSharedAndRotated: two replicas on one etcd cluster with
// the same certificate share the session-ticket keys through the store.
// A session begun at A resumes at B (TLS 1.2 and 1.3); the stored record
// holds the key only sealed under the KEK (the raw etcd value); a key
// made by one replica at rotation is read by the other and encrypts on
// both after the pre-publication, while tickets under the old key still
// resume; past the acceptance window the old key is deleted from the
// store and its tickets get a full handshake on both replicas.
func TestHATLSTicketsSharedAndRotated(t *testing.T) {
	etcdtest.Each(t, testHATLSTicketsSharedAndRotated)
}

func testHATLSTicketsSharedAndRotated(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	clock := testclock.New()
	a := ticketReplica(t, c.Endpoints(), clock, 0)
	b := ticketReplica(t, c.Endpoints(), clock, 100*time.Millisecond) // picks up A's keys by itself
	one, two, three := store.TLSTicketKeyID(1), store.TLSTicketKeyID(2), store.TLSTicketKeyID(3)
	wantServed(t, a, "A", one)
	wantServed(t, b, "B", one)

	clients := map[string]*tls.Config{
		"TLS1.2": tlstest.ResumingClient(t, pkiDir+"/ca.pem", tls.VersionTLS12),
		"TLS1.3": tlstest.ResumingClient(t, pkiDir+"/ca.pem", tls.VersionTLS13),
	}
	for name, cfg := range clients {
		if resumes(t, a, cfg) {
			t.Fatalf("%s: the first connection resumed", name)
		}
		if !resumes(t, b, cfg) {
			t.Fatalf("%s: a session begun at replica A did not resume at replica B", name)
		}
	}

	// The record in etcd, read raw: sealed under the KEK, the key in no
	// encoding, and no replica logged it.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), "/ha/tlsticketkey/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != "/ha/tlsticketkey/"+one {
		t.Fatalf("etcd holds %d ticket keys, want /ha/tlsticketkey/%s", len(resp.Kvs), one)
	}
	kek, err := signing.NewKEK(ticketKEK)
	if err != nil {
		t.Fatal(err)
	}
	ticketstest.WantSealed(t, kek, resp.Kvs[0].Value, a.Logs()+b.Logs())

	// Rotation: A makes key 2 once key 1 is R old; B reads it at its next
	// refresh, by itself. Key 1 encrypts on both until key 2 is P old.
	clock.Advance(tlstickets.Rotation)
	tick(t, a)
	if got := storedTicketIDs(t, a); !slices.Equal(got, []string{one, two}) {
		t.Fatalf("after R the store holds %v, want [%s %s]", got, one, two)
	}
	wantServed(t, a, "A", one, two)
	servesSoon(t, b, "B", one, two)
	clock.Advance(tlstickets.PrePublish)
	tick(t, a)
	wantServed(t, a, "A", two, one)
	servesSoon(t, b, "B", two, one)
	for name, cfg := range clients {
		// The cached ticket is under key 1, still accepted; the new one
		// A issues is under key 2, which B accepts.
		if !resumes(t, a, cfg) || !resumes(t, b, cfg) {
			t.Fatalf("%s: after the rotation a session did not resume on both replicas", name)
		}
	}

	// Past A: keys 1 and 2 are deleted, key 3 is made; the cached ticket
	// (under key 2) gets a full handshake on either replica.
	clock.Advance(tlstickets.Acceptance)
	tick(t, a)
	if got := storedTicketIDs(t, a); !slices.Equal(got, []string{three}) {
		t.Fatalf("past A the store holds %v, want [%s]", got, three)
	}
	wantServed(t, a, "A", three)
	servesSoon(t, b, "B", three)
	for name, cfg := range clients {
		if resumes(t, b, cfg) {
			t.Fatalf("%s: a ticket under a key past its acceptance window resumed", name)
		}
		if !resumes(t, a, cfg) {
			t.Fatalf("%s: the ticket issued under the new key did not resume at the other replica", name)
		}
	}
}

// TestHATLSTicketRotationRace: replicas that find the newest key R old at
// the same moment make exactly one new key between them, round after
// round, and serve the same set.
func TestHATLSTicketRotationRace(t *testing.T) { etcdtest.Each(t, testHATLSTicketRotationRace) }

func testHATLSTicketRotationRace(t *testing.T, v etcdtest.Version) {
	c := v.Start(t, 1)
	clock := testclock.New()
	a := ticketReplica(t, c.Endpoints(), clock, 0)
	b := ticketReplica(t, c.Endpoints(), clock, 0)
	const rounds = 5
	for round := range rounds {
		clock.Advance(tlstickets.Rotation)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i, r := range []*servertest.Server{a, b} {
			wg.Go(func() {
				<-start
				errs[i] = r.Server.TLSTickets().Tick(context.Background())
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := storedTicketIDs(t, a); len(got) != round+2 {
			t.Fatalf("round %d: the store holds %d ticket keys %v, want %d (one new key per rotation)", round, len(got), got, round+2)
		}
		tick(t, a, b)
		if ka, kb := a.Server.TLSTickets().KeyIDs(), b.Server.TLSTickets().KeyIDs(); !slices.Equal(ka, kb) {
			t.Fatalf("round %d: A serves %v, B serves %v", round, ka, kb)
		}
	}
}
