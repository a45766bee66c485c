package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// snapshot is everything a store holds, in a comparable form.
type snapshot struct {
	Accounts []store.ServiceAccount
	Users    []store.User
	Keys     []store.Key
	Signing  []store.SigningKey
	Revoked  []store.RevokedToken
	Audit    []store.AuditEvent // IDs cleared: each backend assigns its own
}

func snap(t *testing.T, s store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var out snapshot
	var err error
	check := func(e error) {
		if e != nil {
			t.Fatal(e)
		}
	}
	out.Accounts, err = s.ListServiceAccounts(ctx)
	check(err)
	out.Users, err = s.ListUsers(ctx)
	check(err)
	out.Keys, err = s.ListKeys(ctx, store.KeyQuery{})
	check(err)
	out.Signing, err = s.ListSigningKeys(ctx)
	check(err)
	out.Revoked, err = s.ListRevokedTokens(ctx)
	check(err)
	out.Audit, err = s.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	check(err)
	for i := range out.Audit {
		out.Audit[i].ID = ""
	}
	return out
}

func openBolt(t *testing.T, dir string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(dir, bolt.FileName), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bolt -> etcd -> bolt loses nothing, the cluster serves the migrated
// credentials, and a non-empty target is refused without --force.
func TestMigrateRoundTrip(t *testing.T) {
	c := etcdtest.Start(t, 1)
	endpoints := strings.Join(c.Endpoints(), ",")

	// A single-node installation with something of everything.
	src := servertest.Start(t, servertest.Options{})
	src.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci@example.com", Roles: []string{"deployer"},
		Claims: map[string]any{"team": "ops"}})
	key := src.CreateKey(t, "ci-bot", api.CreateKey{Name: "pipeline"})
	revoked := src.CreateKey(t, "ci-bot", api.CreateKey{Name: "old"})
	if code := src.Do(t, src.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot/keys/"+revoked.ID+":revoke", nil, nil); code != 200 {
		t.Fatalf("revoke: HTTP %d", code)
	}
	if code := src.Do(t, src.AdminToken, http.MethodPost, "/api/v1/users", map[string]any{"userName": "alice", "email": "alice@example.com"}, nil); code != 201 {
		t.Fatalf("create user: HTTP %d", code)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(src.Server.Store().RevokeToken(context.Background(), store.RevokedToken{JTI: "jti-1",
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second), RevokedAt: time.Now().UTC().Truncate(time.Second)}))
	src.Stop()

	orig := openBolt(t, src.DataDir)
	want := snap(t, orig)
	must(orig.Close())
	if len(want.Keys) != 3 || len(want.Users) != 2 || len(want.Signing) == 0 || len(want.Audit) == 0 || len(want.Revoked) != 1 {
		t.Fatalf("fixture incomplete: %d keys, %d users, %d signing keys, %d audit, %d revoked",
			len(want.Keys), len(want.Users), len(want.Signing), len(want.Audit), len(want.Revoked))
	}

	out := run(t, nil, false, "migrate", "--from", "bolt:"+src.DataDir, "--to", "etcd:"+endpoints, "--etcd-prefix", "/mig/")
	if !strings.Contains(out, "1 service accounts") || !strings.Contains(out, "3 keys") {
		t.Fatalf("migrate output: %s", out)
	}
	// A second run into the now non-empty cluster is refused...
	if errOut := run(t, nil, true, "migrate", "--from", "bolt:"+src.DataDir, "--to", "etcd:"+endpoints, "--etcd-prefix", "/mig/"); !strings.Contains(errOut, "not empty") {
		t.Fatalf("non-empty target: %s", errOut)
	}
	// ...unless forced.
	run(t, nil, false, "migrate", "--from", "bolt:"+src.DataDir, "--to", "etcd:"+endpoints, "--etcd-prefix", "/mig/", "--force")

	es, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/mig/"})
	must(err)
	inEtcd := snap(t, es)
	must(es.Close())
	// --force kept the first copy's audit trail and appended the second.
	if len(inEtcd.Audit) != 2*len(want.Audit) {
		t.Fatalf("etcd holds %d audit events, want %d", len(inEtcd.Audit), 2*len(want.Audit))
	}
	inEtcd.Audit = inEtcd.Audit[:len(want.Audit)]
	if !reflect.DeepEqual(inEtcd, want) {
		t.Fatalf("etcd copy differs:\n got %+v\nwant %+v", inEtcd, want)
	}

	// A server on the cluster (same KEK) issues tokens for the migrated key
	// and refuses the migrated revocation.
	d := startDaemon(t, t.TempDir(), "TOKENWRIGHT_STORE=etcd", "TOKENWRIGHT_ETCD_ENDPOINTS="+endpoints,
		"TOKENWRIGHT_ETCD_PREFIX=/mig/", "TOKENWRIGHT_KEK_FILE="+filepath.Join(src.DataDir, "kek"))
	for secret, wantStatus := range map[string]int{key.ClientSecret: 200, revoked.ClientSecret: 401} {
		resp, err := http.PostForm(d.url+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"ci-bot"}, "client_secret": {secret}})
		must(err)
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("token from the cluster: HTTP %d %v, want %d\n%s", resp.StatusCode, body, wantStatus, d.stderr)
		}
	}
	_ = d.cmd.Process.Kill()
	_ = d.wait()

	// And back: a fresh bolt file equal to the original (the audit trail
	// of the etcd side includes the forced second copy).
	back := t.TempDir()
	run(t, nil, false, "migrate", "--from", "etcd:"+endpoints, "--etcd-prefix", "/mig/", "--to", "bolt:"+back)
	bs := openBolt(t, back)
	got := snap(t, bs)
	must(bs.Close())
	got.Audit = got.Audit[len(got.Audit)-len(want.Audit):] // oldest events come last
	got.Keys, want.Keys = stripUsage(got.Keys), stripUsage(want.Keys)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip lost something:\n got %+v\nwant %+v", got, want)
	}

	// `kek rotate` works on the configured etcd store too (replicas
	// stopped): a replica with the new KEK serves the same keys.
	etcdEnv := []string{"TOKENWRIGHT_STORE=etcd", "TOKENWRIGHT_ETCD_ENDPOINTS=" + endpoints, "TOKENWRIGHT_ETCD_PREFIX=/mig/"}
	newKEK := filepath.Join(t.TempDir(), "kek.new")
	out = run(t, append(etcdEnv, "TOKENWRIGHT_KEK_FILE="+filepath.Join(src.DataDir, "kek")), false,
		"kek", "rotate", "--data", t.TempDir(), "--new-kek-file", newKEK, "--generate")
	if !strings.Contains(out, "Re-encrypted") {
		t.Fatalf("kek rotate on etcd: %s", out)
	}
	d = startDaemon(t, t.TempDir(), append(etcdEnv, "TOKENWRIGHT_KEK_FILE="+newKEK)...)
	resp, err := http.PostForm(d.url+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"ci-bot"}, "client_secret": {key.ClientSecret}})
	must(err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token after kek rotate on etcd: HTTP %d\n%s", resp.StatusCode, d.stderr)
	}
}

// stripUsage drops lastUsed fields, which the token requests made above
// against the cluster legitimately changed.
func stripUsage(keys []store.Key) []store.Key {
	for i := range keys {
		keys[i].LastUsedAt, keys[i].LastUsedIP = time.Time{}, ""
	}
	return keys
}
