package sso_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// Two replicas on one etcd cluster: a session created by a sign-in on A
// is accepted by B, and the user's deactivation through B ends it on A
// (within the etcd mirror's propagation, bounded here by 2 s); the
// client secret comes from sso.clientSecretFile.
func TestDeactivationOnAnotherReplicaEndsSessions(t *testing.T) {
	c := etcdtest.Start(t, 1)
	op := ssotest.Start(t, alice)
	secretFile := filepath.Join(t.TempDir(), "sso-secret")
	if err := os.WriteFile(secretFile, []byte(op.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := servertest.Replicas(t, c.Endpoints(), func(c *config.Config) {
		c.SSO.Issuer, c.SSO.ClientID, c.SSO.ClientSecretFile = op.Issuer, op.ClientID, secretFile
	})
	op.Register(t, a.URL+sso.CallbackPath, b.URL+sso.CallbackPath)
	onA, onB := env{op: op, tw: a}, env{op: op, tw: b}

	browser := onA.signIn(t, alice) // the jar sends the cookie to both (cookies ignore ports)
	eventually.True(t, 2*time.Second, "A's session accepted by B", func() bool {
		status, _ := onB.me(t, browser)
		return status == http.StatusOK
	})
	inactive := "inactive"
	if s := b.Do(t, b.AdminToken, http.MethodPatch, "/api/v1/users/alice", api.UpdateUser{Status: &inactive}, nil); s != http.StatusOK {
		t.Fatalf("deactivate on B: %d", s)
	}
	eventually.True(t, 2*time.Second, "the session ended on A", func() bool {
		status, _ := onA.me(t, browser)
		return status == http.StatusUnauthorized
	})
}
