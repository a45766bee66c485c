package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/cache"
)

// liveBolt is the bbolt handle of a running test server: the tests below
// take the audit bucket out of the live file, so that appending an event
// fails inside the same transaction as the change it records.
func liveBolt(t *testing.T, s *servertest.Server) *bbolt.DB {
	t.Helper()
	c, ok := s.Server.Store().(*cache.Store)
	if !ok {
		t.Fatalf("served store is %T, want the cache over bbolt", s.Server.Store())
	}
	b, ok := c.Store.(*bolt.Store)
	if !ok {
		t.Fatalf("cached store is %T, want bbolt", c.Store)
	}
	return b.DB()
}

func dropAuditBucket(t *testing.T, db *bbolt.DB) {
	t.Helper()
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("audit")) }); err != nil {
		t.Fatal(err)
	}
}

func restoreAuditBucket(t *testing.T, db *bbolt.DB) {
	t.Helper()
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("audit")); return err }); err != nil {
		t.Fatal(err)
	}
}

// TestAuditIsPartOfEveryChange (finding 4): every administrative change
// is stored together with its audit event, in one bbolt transaction. With
// the event's append failing, each action answers 500 internal_error and
// changes nothing; once appends work again, the same action succeeds and
// the trail holds exactly one event for it, a success.
func TestAuditIsPartOfEveryChange(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	db := liveBolt(t, s)
	admin := s.AdminToken
	must(t, s.Do(t, admin, "POST", "/api/v1/users", api.CreateUser{UserName: "alice", Email: "alice@example.com"}, nil), 201, "alice")
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", AllowedAudiences: []string{dominoSite}})
	k1 := s.CreateKey(t, "svc", api.CreateKey{Name: "k1"})
	s.CreateKey(t, "svc", api.CreateKey{Name: "k2"})
	var pat1, pat2 api.KeyWithSecret
	must(t, s.Do(t, admin, "POST", "/api/v1/users/alice/tokens", api.CreateKey{Name: "one"}, &pat1), 201, "pat one")
	must(t, s.Do(t, admin, "POST", "/api/v1/users/alice/tokens", api.CreateKey{Name: "two"}, &pat2), 201, "pat two")

	status := func(path string) int { return s.Do(t, admin, "GET", path, nil, nil) }
	key := func(path string) api.Key {
		var k api.Key
		must(t, s.Do(t, admin, "GET", path, nil, &k), 200, path)
		return k
	}
	count := func(path string) int {
		var l api.List[map[string]any]
		must(t, s.Do(t, admin, "GET", path, nil, &l), 200, path)
		return len(l.Items)
	}
	account := func() api.ServiceAccount {
		var sa api.ServiceAccount
		must(t, s.Do(t, admin, "GET", "/api/v1/service-accounts/svc", nil, &sa), 200, "svc")
		return sa
	}
	patStatus := func(id string) string {
		var l api.List[api.Key]
		must(t, s.Do(t, admin, "GET", "/api/v1/users/alice/tokens", nil, &l), 200, "pats")
		for _, k := range l.Items {
			if k.ID == id {
				return k.Status
			}
		}
		return "gone"
	}
	call := func(method, path string, in any) func(out any) int {
		return func(out any) int { return s.Do(t, admin, method, path, in, out) }
	}
	desc, email := "changed", "bob2@example.com"
	var pending api.SigningKey
	keyPath := "/api/v1/service-accounts/svc/keys/" + k1.ID
	steps := []struct {
		action  string
		do      func(out any) int // out: the answer's body
		ok      int
		applied func() bool // nil: nothing to see
		out     any         // what a success answers
	}{
		{"user.create", call("POST", "/api/v1/users", api.CreateUser{UserName: "bob", Email: "bob@example.com"}), 201,
			func() bool { return status("/api/v1/users/bob") == 200 }, nil},
		{"service_account.create", call("POST", "/api/v1/service-accounts", api.CreateServiceAccount{UserName: "svc2", Email: "svc2@example.com"}), 201,
			func() bool { return status("/api/v1/service-accounts/svc2") == 200 }, nil},
		{"service_account.update", call("PATCH", "/api/v1/service-accounts/svc", api.UpdateServiceAccount{Description: &desc}), 200,
			func() bool { return account().Description == desc }, nil},
		{"service_account.update", call("POST", "/api/v1/service-accounts/svc/owners", api.Owner{UserName: "alice"}), 200,
			func() bool { return len(account().Owners) == 1 }, nil},
		{"service_account.deactivate", call("POST", "/api/v1/service-accounts/svc:deactivate", nil), 200,
			func() bool { return account().Status == "inactive" }, nil},
		{"service_account.activate", call("POST", "/api/v1/service-accounts/svc:activate", nil), 200,
			func() bool { return account().Status == "active" }, nil},
		{"key.create", call("POST", "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "k3"}), 201,
			func() bool { return count("/api/v1/service-accounts/svc/keys") == 3 }, nil},
		{"key.rotate", call("POST", keyPath+":rotate", nil), 200,
			func() bool { return key(keyPath).RotatedAt != nil }, nil},
		{"key.revoke", call("POST", keyPath+":revoke", nil), 200,
			func() bool { return key(keyPath).Status == "revoked" }, nil},
		{"key.revoke_all", call("POST", "/api/v1/service-accounts/svc/keys:revokeAll", nil), 200,
			func() bool {
				var l api.List[api.Key]
				must(t, s.Do(t, admin, "GET", "/api/v1/service-accounts/svc/keys", nil, &l), 200, "keys")
				for _, k := range l.Items {
					if k.Status != "revoked" {
						return false
					}
				}
				return true
			}, nil},
		{"key.delete", call("DELETE", keyPath, nil), 204,
			func() bool { return status(keyPath) == 404 }, nil},
		{"pat.create", call("POST", "/api/v1/users/alice/tokens", api.CreateKey{Name: "three"}), 201,
			func() bool { return count("/api/v1/users/alice/tokens") == 3 }, nil},
		{"pat.revoke", call("POST", "/api/v1/users/alice/tokens/"+pat1.ID+":revoke", nil), 200,
			func() bool { return patStatus(pat1.ID) == "revoked" }, nil},
		{"pat.revoke_all", call("POST", "/api/v1/users/alice/tokens:revokeAll", nil), 200,
			func() bool { return patStatus(pat2.ID) == "revoked" }, nil},
		{"pat.delete", call("DELETE", "/api/v1/users/alice/tokens/"+pat1.ID, nil), 204,
			func() bool { return patStatus(pat1.ID) == "gone" }, nil},
		{"user.update", call("PATCH", "/api/v1/users/bob", api.UpdateUser{Email: &email}), 200,
			func() bool {
				var u api.User
				must(t, s.Do(t, admin, "GET", "/api/v1/users/bob", nil, &u), 200, "bob")
				return u.Email == email
			}, nil},
		{"signing_key.rotate", call("POST", "/api/v1/signing-keys:rotate", nil), 201,
			func() bool { return count("/api/v1/signing-keys") == 2 }, &pending},
		{"signing_key.remove", func(out any) int { return s.Do(t, admin, "DELETE", "/api/v1/signing-keys/"+pending.KID, nil, out) }, 204,
			func() bool { return count("/api/v1/signing-keys") == 1 }, nil},
		{"service_account.delete", call("DELETE", "/api/v1/service-accounts/svc2", nil), 204,
			func() bool { return status("/api/v1/service-accounts/svc2") == 404 }, nil},
		{"user.delete", call("DELETE", "/api/v1/users/bob", nil), 204,
			func() bool { return status("/api/v1/users/bob") == 404 }, nil},
		// A backup changes nothing, but is refused when its event cannot
		// be written.
		{"backup.create", func(out any) int {
			req, _ := http.NewRequest("GET", s.URL+"/api/v1/backup", nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
					t.Fatalf("backup answered %d without a JSON error: %v", resp.StatusCode, err)
				}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.StatusCode
		}, 200, nil, nil},
	}
	logged := 0
	for _, st := range steps {
		dropAuditBucket(t, db)
		var e api.Error
		if code := st.do(&e); code != http.StatusInternalServerError || e.Code != api.CodeInternal {
			t.Fatalf("%s with the audit append failing answered %d %+v, want 500 %s", st.action, code, e, api.CodeInternal)
		}
		if st.applied != nil && st.applied() {
			t.Fatalf("%s was applied although its audit event could not be written", st.action)
		}
		// The failure's own record cannot be written either: it is logged.
		if n := strings.Count(s.Logs(), "writing audit event failed"); st.action != "backup.create" && n <= logged {
			t.Fatalf("%s: the failure whose record could not be written was not logged", st.action)
		} else {
			logged = n
		}
		restoreAuditBucket(t, db)
		if code := st.do(st.out); code != st.ok {
			t.Fatalf("%s answered %d, want %d", st.action, code, st.ok)
		}
		if st.applied != nil && !st.applied() {
			t.Fatalf("%s answered %d but was not applied", st.action, st.ok)
		}
		events, err := s.Server.Store().ListAudit(context.Background(), store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Action != st.action || events[0].Result != store.ResultSuccess || events[0].Actor != "admin" {
			t.Fatalf("%s left the trail %+v, want exactly one success event of it", st.action, events)
		}
		if st.action == "signing_key.rotate" && events[0].Target != pending.KID {
			t.Fatalf("the rotation's event names %q, want the new key %q", events[0].Target, pending.KID)
		}
	}
}
