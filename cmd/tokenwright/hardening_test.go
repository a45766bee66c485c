package main_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/store/bolt"
)

// adminToken reads the bootstrap token of a data directory.
func adminToken(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// call sends a JSON admin request; it returns the status and body. Errors
// (a killed server) come back as status 0.
func call(c *http.Client, base, token, method, path string, in any) (int, []byte) {
	var body io.Reader
	if in != nil {
		data, _ := json.Marshal(in)
		body = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, base+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, data
}

func mustCall(t *testing.T, base, token, method, path string, in any, want int) map[string]any {
	t.Helper()
	code, data := call(http.DefaultClient, base, token, method, path, in)
	if code != want {
		t.Fatalf("%s %s: HTTP %d %s, want %d", method, path, code, data, want)
	}
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}

func requestToken(c *http.Client, base, id, secret string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// TestSIGTERMDrainsInFlightRequests starts the real binary, begins a token
// request whose body is still arriving, sends SIGTERM, then completes the
// body: the request must be answered in full and the process exit 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	tok := adminToken(t, d.data)
	mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": "drain", "email": "drain@example.com"}, 201)
	key := mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/drain/keys", map[string]any{"name": "k"}, 201)

	conn, err := net.Dial("tcp", strings.TrimPrefix(d.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "grant_type=client_credentials"
	basic := base64.StdEncoding.EncodeToString([]byte("drain:" + key["clientSecret"].(string)))
	head := fmt.Sprintf("POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n%s", basic, len(body), body[:5])
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	// Let the server read the headers, making the connection active (not
	// idle), then ask it to stop.
	time.Sleep(300 * time.Millisecond)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "serve says it is draining", func() bool {
		return strings.Contains(d.stderr.String(), "draining in-flight requests")
	})
	if _, err := conn.Write([]byte(body[5:])); err != nil {
		t.Fatalf("the server dropped the in-flight request: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the in-flight request: %v\n%s", err, d.stderr)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(data), "access_token") {
		t.Fatalf("in-flight request: HTTP %d %s", resp.StatusCode, data)
	}
	done := make(chan error, 1)
	go func() { done <- d.wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after draining")
	}
	if !strings.Contains(d.stderr.String(), "draining in-flight requests") {
		t.Fatalf("no drain message in the log:\n%s", d.stderr)
	}
}

// crashCycles is how many SIGKILLs TestCrashSafetyUnderSIGKILL survives
// (TOKENWRIGHT_CRASH_CYCLES; more by hand).
func crashCycles(t *testing.T) int {
	n := 15
	if v := os.Getenv("TOKENWRIGHT_CRASH_CYCLES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("TOKENWRIGHT_CRASH_CYCLES=%q", v)
		}
	}
	return n
}

// TestCrashSafetyUnderSIGKILL runs the real binary, drives admin writes and
// token traffic, kills it with SIGKILL at a random moment, and restarts it,
// many times. Every write the API acknowledged must be there afterwards,
// the file must pass bbolt's consistency check after every kill, and
// start-up must need no repair.
func TestCrashSafetyUnderSIGKILL(t *testing.T) {
	cycles := crashCycles(t)
	data := filepath.Join(t.TempDir(), "data")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	type ack struct{ account, keyID, secret string }
	var acked []ack
	revoked := map[string]bool{}
	var mu sync.Mutex
	client := &http.Client{Timeout: 5 * time.Second}

	var firstSecret string
	writes, tokens := 0, 0
	for cycle := range cycles {
		// Limits off: the test checks durability, and its verification
		// pass reads every key back as fast as it can.
		d := startDaemon(t, data, "TOKENWRIGHT_LIMITS_ENABLED=false")
		tok := adminToken(t, d.data)

		// Everything acknowledged so far is present and in its state.
		for _, a := range acked {
			code, body := call(client, d.url, tok, "GET", "/api/v1/service-accounts/"+a.account+"/keys/"+a.keyID, nil)
			if code != 200 {
				t.Fatalf("cycle %d: acknowledged key %s/%s is gone: HTTP %d %s", cycle, a.account, a.keyID, code, body)
			}
			var k map[string]any
			_ = json.Unmarshal(body, &k)
			// A revocation the API acknowledged must have stuck; one that
			// was cut off by the kill may or may not have happened.
			if revoked[a.keyID] && k["status"] != "revoked" {
				t.Fatalf("cycle %d: key %s status %v after an acknowledged revocation", cycle, a.keyID, k["status"])
			}
		}
		if firstSecret != "" {
			if code, body := requestToken(client, d.url, acked[0].account, firstSecret); code != 200 {
				t.Fatalf("cycle %d: first key no longer works: HTTP %d %s", cycle, code, body)
			}
		}

		// Load: two writers and a token requester until the kill.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("c%d-w%d-%d", cycle, w, i)
					code, _ := call(client, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": name, "email": name + "@example.com"})
					if code != 201 {
						continue // killed, or not acknowledged: nothing promised
					}
					code, body := call(client, d.url, tok, "POST", "/api/v1/service-accounts/"+name+"/keys", map[string]any{"name": "k"})
					if code != 201 {
						continue
					}
					var k map[string]any
					_ = json.Unmarshal(body, &k)
					a := ack{account: name, keyID: k["id"].(string), secret: k["clientSecret"].(string)}
					mu.Lock()
					acked = append(acked, a)
					writes += 2
					if firstSecret == "" {
						firstSecret = a.secret
						acked[0], acked[len(acked)-1] = acked[len(acked)-1], acked[0]
					}
					mu.Unlock()
					if i%3 == 2 {
						code, _ := call(client, d.url, tok, "POST", "/api/v1/service-accounts/"+name+"/keys/"+a.keyID+":revoke", nil)
						if code == 200 {
							mu.Lock()
							revoked[a.keyID] = true
							writes++
							mu.Unlock()
						}
					}
				}
			})
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				secret, account := firstSecret, ""
				if len(acked) > 0 {
					account = acked[0].account
				}
				mu.Unlock()
				if secret == "" {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if code, _ := requestToken(client, d.url, account, secret); code == 200 {
					mu.Lock()
					tokens++
					mu.Unlock()
				}
			}
		})
		time.Sleep(time.Duration(50+rng.IntN(450)) * time.Millisecond)
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = d.wait()
		close(stop)
		wg.Wait()
		if err := bolt.Verify(filepath.Join(data, bolt.FileName)); err != nil {
			t.Fatalf("cycle %d: after SIGKILL: %v", cycle, err)
		}
	}
	// One last start proves the final kill needs no repair either.
	d := startDaemon(t, data, "TOKENWRIGHT_LIMITS_ENABLED=false")
	tok := adminToken(t, d.data)
	code, body := call(client, d.url, tok, "GET", "/api/v1/service-accounts", nil)
	if code != 200 {
		t.Fatalf("after the last kill: HTTP %d", code)
	}
	var list struct{ Items []map[string]any }
	_ = json.Unmarshal(body, &list)
	present := map[string]bool{}
	for _, sa := range list.Items {
		present[sa["userName"].(string)] = true
	}
	for _, a := range acked {
		if !present[a.account] {
			t.Fatalf("acknowledged account %s lost", a.account)
		}
	}
	t.Logf("survived %d SIGKILLs: %d acknowledged writes (%d accounts with keys, %d revocations), %d tokens issued, nothing lost",
		cycles, writes, len(acked), len(revoked), tokens)
}

// TestBackupAndRestoreWhileServing takes an online backup while admin
// writes and token traffic run, restores it into the stopped server's data
// directory and checks the result.
func TestBackupAndRestoreWhileServing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	tok := adminToken(t, data)
	env := []string{"TOKENWRIGHT_SERVER=" + d.url, "TOKENWRIGHT_TOKEN_FILE=" + filepath.Join(data, "admin.token")}
	mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": "before", "email": "before@example.com"}, 201)
	key := mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/before/keys", map[string]any{"name": "k"}, 201)
	secret := key["clientSecret"].(string)

	// Background load during the backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("load-%d", i)
			call(http.DefaultClient, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": name, "email": name + "@example.com"})
			requestToken(http.DefaultClient, d.url, "before", secret)
		}
	})
	backupFile := filepath.Join(t.TempDir(), "snap.db")
	out := run(t, env, false, "backup", backupFile)
	close(stop)
	wg.Wait()
	if !strings.Contains(out, "verified") {
		t.Fatalf("backup printed %q", out)
	}
	if err := bolt.Verify(backupFile); err != nil {
		t.Fatalf("backup file: %v", err)
	}
	if fi, _ := os.Stat(backupFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	// Only administrators may take one, and it is audited.
	mustCall(t, d.url, tok, "POST", "/api/v1/users", map[string]any{"userName": "alice", "email": "alice@example.com"}, 201)
	pat := mustCall(t, d.url, tok, "POST", "/api/v1/users/alice/tokens", map[string]any{"name": "p"}, 201)
	if code, _ := call(http.DefaultClient, d.url, pat["clientSecret"].(string), "GET", "/api/v1/backup", nil); code != 403 {
		t.Fatalf("backup by a non-administrator: HTTP %d, want 403", code)
	}
	audit := run(t, env, false, "audit", "-o", "json")
	if strings.Count(audit, "backup.create") < 2 || !strings.Contains(audit, "denied") {
		t.Fatalf("backups not audited:\n%s", audit)
	}

	mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": "after", "email": "after@example.com"}, 201)

	// Restore refuses while the server holds the database, and refuses
	// files that are not tokenwright databases.
	if errOut := run(t, nil, true, "restore", backupFile, "--data", data); !strings.Contains(errOut, "stop the server") {
		t.Fatalf("restore while serving: %s", errOut)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	_ = os.WriteFile(junk, bytes.Repeat([]byte("x"), 8192), 0o600)
	if errOut := run(t, nil, true, "restore", junk, "--data", data); !strings.Contains(errOut, "refusing") {
		t.Fatalf("restore of junk: %s", errOut)
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	// An offline backup of the stopped server works too.
	offline := filepath.Join(t.TempDir(), "offline.db")
	run(t, nil, false, "backup", offline, "--data", data)
	if err := bolt.Verify(offline); err != nil {
		t.Fatalf("offline backup: %v", err)
	}

	out = run(t, nil, false, "restore", backupFile, "--data", data)
	if !strings.Contains(out, "before-restore-") {
		t.Fatalf("restore printed %q", out)
	}
	asides, _ := filepath.Glob(filepath.Join(data, bolt.FileName+".before-restore-*"))
	if len(asides) != 1 {
		t.Fatalf("old database not kept aside: %v", asides)
	}

	d2 := startDaemon(t, data)
	if code, _ := call(http.DefaultClient, d2.url, tok, "GET", "/api/v1/service-accounts/before", nil); code != 200 {
		t.Fatalf("restored server lacks the account made before the backup: HTTP %d", code)
	}
	if code, _ := call(http.DefaultClient, d2.url, tok, "GET", "/api/v1/service-accounts/after", nil); code != 404 {
		t.Fatalf("restored server has the account made after the backup: HTTP %d", code)
	}
	if code, body := requestToken(http.DefaultClient, d2.url, "before", secret); code != 200 {
		t.Fatalf("token after restore: HTTP %d %s", code, body)
	}
}

// TestSecretsNeverLeak runs a full scenario with debug logging and then
// looks for every secret and token it created in the log, the audit trail,
// the database file, the list and get responses and the metrics.
func TestSecretsNeverLeak(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data, "TOKENWRIGHT_LOG_LEVEL=debug", "TOKENWRIGHT_LOG_FORMAT=json")
	tok := adminToken(t, data)
	secrets := map[string]string{"bootstrap admin token": tok}

	mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": "etl", "email": "etl@example.com",
		"allowedScopes": []string{"Domino.user.all"}, "allowedAudiences": []string{"https://domino.example.com"}}, 201)
	k1 := mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/etl/keys", map[string]any{"name": "one"}, 201)
	k2 := mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/etl/keys", map[string]any{"name": "two"}, 201)
	secrets["key one"], secrets["key two"] = k1["clientSecret"].(string), k2["clientSecret"].(string)
	rot := mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/etl/keys/"+k2["id"].(string)+":rotate", map[string]any{"gracePeriod": 0}, 200)
	secrets["rotated key"] = rot["clientSecret"].(string)
	mustCall(t, d.url, tok, "POST", "/api/v1/users", map[string]any{"userName": "bob", "email": "bob@example.com"}, 201)
	pat := mustCall(t, d.url, tok, "POST", "/api/v1/users/bob/tokens", map[string]any{"name": "laptop"}, 201)
	secrets["PAT"] = pat["clientSecret"].(string)
	mustCall(t, d.url, pat["clientSecret"].(string), "GET", "/api/v1/users/me", nil, 200)

	// Tokens, by Basic and by form post.
	for i := range 3 {
		code, body := requestToken(http.DefaultClient, d.url, "etl", secrets["key one"])
		if code != 200 {
			t.Fatalf("token: HTTP %d %s", code, body)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(body, &tr)
		secrets["JWT "+strconv.Itoa(i)] = tr.AccessToken
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"etl"}, "client_secret": {secrets["rotated key"]}}
	resp, err := http.PostForm(d.url+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if tr.AccessToken == "" {
		t.Fatalf("client_secret_post: HTTP %d", resp.StatusCode)
	}
	secrets["JWT post"] = tr.AccessToken

	// Introspection and revocation carry a token in the body and a secret
	// in the header.
	for _, ep := range []string{"/oauth/introspect", "/oauth/revoke"} {
		req, _ := http.NewRequest(http.MethodPost, d.url+ep, strings.NewReader(url.Values{"token": {secrets["JWT 1"]}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("etl", secrets["rotated key"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Introspection is for resource servers (403 for this client);
		// either way the request went through the logging path.
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: HTTP %d", ep, resp.StatusCode)
		}
	}

	// Failures that carry secret material: an almost-right secret, a right
	// secret for the wrong client, a rotated-away secret, a secret in the
	// URL, a PAT as a client secret, and a JWT as an admin bearer token.
	nearly := secrets["key one"][:30] + flip(secrets["key one"][30]) + secrets["key one"][31:]
	secrets["near-miss secret"] = nearly
	requestToken(http.DefaultClient, d.url, "etl", nearly)
	requestToken(http.DefaultClient, d.url, "bob", secrets["key one"])
	requestToken(http.DefaultClient, d.url, "etl", secrets["key two"])
	requestToken(http.DefaultClient, d.url, "bob", secrets["PAT"])
	if r, err := http.Get(d.url + "/oauth/token?client_secret=" + url.QueryEscape(secrets["key one"])); err == nil {
		r.Body.Close()
	}
	if r, err := http.Get(d.url + "/api/v1/service-accounts?access_token=" + url.QueryEscape(tok)); err == nil {
		r.Body.Close()
	}
	call(http.DefaultClient, d.url, secrets["JWT 0"], "GET", "/api/v1/service-accounts", nil)
	mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/etl/keys/"+k1["id"].(string)+":revoke", nil, 200)
	requestToken(http.DefaultClient, d.url, "etl", secrets["key one"])

	// Everything an operator or an API caller can see.
	surfaces := map[string]string{}
	for _, p := range []string{"/api/v1/service-accounts", "/api/v1/service-accounts/etl", "/api/v1/service-accounts/etl/keys",
		"/api/v1/service-accounts/etl/keys/" + k1["id"].(string), "/api/v1/users", "/api/v1/users/bob/tokens", "/api/v1/tokens",
		"/api/v1/audit?limit=1000"} {
		code, body := call(http.DefaultClient, d.url, tok, "GET", p, nil)
		if code != 200 {
			t.Fatalf("GET %s: HTTP %d", p, code)
		}
		surfaces["GET "+p] = string(body)
	}
	_, metrics := call(http.DefaultClient, d.url, "", "GET", "/metrics", nil)
	surfaces["GET /metrics"] = string(metrics)

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(data, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	surfaces["database file"] = string(db)

	// The log: every line is a JSON log record (the bootstrap token is in
	// DATA/admin.token, and on stdout only when that is a terminal).
	var logs strings.Builder
	debugLines := 0
	for line := range strings.SplitSeq(strings.TrimSuffix(d.stderr.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("not a JSON log record: %q", line)
		}
		logs.WriteString(line + "\n")
		if strings.Contains(line, `"level":"debug"`) {
			debugLines++
		}
	}
	if debugLines == 0 {
		t.Fatal("no debug records: the scenario did not run with debug logging")
	}
	surfaces["log records"] = logs.String()
	surfaces["stdout"] = d.stdout.String()

	checked := 0
	for sname, secret := range secrets {
		needles := []string{secret}
		if strings.Count(secret, ".") == 2 { // a JWT: its signature alone is a leak too
			needles = append(needles, secret[strings.LastIndexByte(secret, '.')+1:])
		} else if len(secret) > 64 { // twk_/twp_ ID _ SECRET CHECKSUM: the random part alone
			needles = append(needles, secret[21:64])
		}
		for where, text := range surfaces {
			for _, n := range needles {
				checked++
				if strings.Contains(text, n) {
					t.Errorf("%s found in %s", sname, where)
				}
			}
		}
	}
	t.Logf("%d secrets and tokens × %d surfaces (%d KiB of logs, %d KiB database): %d checks, no leak",
		len(secrets), len(surfaces), len(logs.String())>>10, len(db)>>10, checked)
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
