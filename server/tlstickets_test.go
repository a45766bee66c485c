package server_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
	"github.com/tokenwright/tokenwright/server/tlstickets/ticketstest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// TestTLSTicketsSurviveRestart: on bbolt the session-ticket key is stored,
// so a client resumes its session after the server restarts (with
// crypto/tls's own per-process keys it would pay a full handshake). The
// stored record holds the key only sealed under the KEK: the raw bbolt
// value contains it in no encoding, and the key it opens to is the one
// the tickets are really encrypted with (a plain Go TLS server given only
// that key resumes tokenwright's ticket).
func TestTLSTicketsSurviveRestart(t *testing.T) {
	t.Parallel()
	src := tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key")}
	configure := func(c *config.Config) { c.TLS, c.Issuer = src, "https://"+c.Listen }
	dir := filepath.Join(t.TempDir(), "data")
	first := servertest.Start(t, servertest.Options{DataDir: dir, Configure: configure})
	versions := map[string]uint16{"TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13}
	clients := map[string]*tls.Config{}
	for name, v := range versions {
		clients[name] = tlstest.ResumingClient(t, pki("ca.pem"), v)
		if tlstest.Handshake(t, first.Addr, clients[name]).DidResume {
			t.Fatalf("%s: the first connection resumed", name)
		}
		if !tlstest.Handshake(t, first.Addr, clients[name]).DidResume {
			t.Fatalf("%s: the second connection to the same server did not resume", name)
		}
	}
	first.Stop()
	second := servertest.Start(t, servertest.Options{DataDir: dir, Configure: configure})
	for name, cfg := range clients {
		if !tlstest.Handshake(t, second.Addr, cfg).DidResume {
			t.Fatalf("%s: the session did not resume after the restart", name)
		}
	}
	ids := second.Server.TLSTickets().KeyIDs()
	logs := second.Logs() + first.Logs()
	second.Stop()

	kek, err := signing.ReadKEKFile(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawTicketRecords(t, filepath.Join(dir, bolt.FileName))
	if len(raw) != 1 || len(ids) != 1 {
		t.Fatalf("%d stored ticket keys, %d served; want the one made at the first start", len(raw), len(ids))
	}
	key := ticketstest.WantSealed(t, kek, raw[0], logs)

	// The opened key decrypts tokenwright's tickets.
	plain := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	cert, err := tls.LoadX509KeyPair(pki("server.pem"), pki("server.key"))
	if err != nil {
		t.Fatal(err)
	}
	plain.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	plain.TLS.SetSessionTicketKeys([][32]byte{key})
	plain.StartTLS()
	defer plain.Close()
	for name, cfg := range clients {
		if !tlstest.Handshake(t, plain.Listener.Addr().String(), cfg).DidResume {
			t.Fatalf("%s: a server with only the stored key did not resume tokenwright's ticket", name)
		}
	}
}

// rawTicketRecords reads the stored ticket keys' bytes straight from the
// bbolt file (the server stopped).
func rawTicketRecords(t *testing.T, path string) [][]byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [][]byte
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("tls_ticket_keys")).ForEach(func(_, v []byte) error {
			out = append(out, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTLSTicketsDamagedKeyReplaced: a stored ticket key that no longer
// opens under the KEK (a damaged or altered record) does not stop the
// server: it is logged, deleted and replaced, and sessions resume again
// under the new key.
func TestTLSTicketsDamagedKeyReplaced(t *testing.T) {
	t.Parallel()
	src := tlsconfig.Source{Cert: pki("server.pem"), Key: pki("server.key")}
	configure := func(c *config.Config) { c.TLS, c.Issuer = src, "https://"+c.Listen }
	dir := filepath.Join(t.TempDir(), "data")
	first := servertest.Start(t, servertest.Options{DataDir: dir, Configure: configure})
	first.Stop()

	db, err := bbolt.Open(filepath.Join(dir, bolt.FileName), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("tls_ticket_keys"))
		id, v := b.Cursor().First()
		var rec store.TLSTicketKey
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		rec.EncryptedKey[len(rec.EncryptedKey)-1] ^= 1
		v, _ = json.Marshal(rec)
		return b.Put(id, v)
	})
	if err = errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	second := servertest.Start(t, servertest.Options{DataDir: dir, Configure: configure})
	if got, want := second.Server.TLSTickets().KeyIDs(), []string{store.TLSTicketKeyID(2)}; !slices.Equal(got, want) {
		t.Fatalf("after a damaged key the server serves %v, want %v", got, want)
	}
	if !strings.Contains(second.Logs(), "does not open") {
		t.Fatalf("the damaged key was not reported:\n%s", second.Logs())
	}
	cfg := tlstest.ResumingClient(t, pki("ca.pem"), tls.VersionTLS13)
	tlstest.Handshake(t, second.Addr, cfg)
	if !tlstest.Handshake(t, second.Addr, cfg).DidResume {
		t.Fatal("no resumption under the replacement key")
	}
}
