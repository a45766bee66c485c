package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/etcd"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

// TestMeasureEtcdScale measures a replica's time to ready and memory with
// many API keys on etcd (the "Scale" figures in docs/high-availability.md):
// it starts a one-member etcd, lets a replica initialise the prefix, loads
// TOKENWRIGHT_MEASURE_KEYS keys (default 100,000; one service account per
// 100 keys), then starts a real `tokenwright serve` and reports the time
// until /readyz answers 200 and the process's VmRSS and VmHWM after ready
// and after token requests made with loaded keys (which must succeed).
// Run with
//
//	TOKENWRIGHT_MEASURE=1 TOKENWRIGHT_MEASURE_KEYS=1000000 go test ./cmd/tokenwright -run TestMeasureEtcdScale -v -timeout 60m
func TestMeasureEtcdScale(t *testing.T) {
	if os.Getenv("TOKENWRIGHT_MEASURE") != "1" {
		t.Skip("set TOKENWRIGHT_MEASURE=1 to measure")
	}
	n := 100_000
	if s := os.Getenv("TOKENWRIGHT_MEASURE_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 100 {
			t.Fatalf("TOKENWRIGHT_MEASURE_KEYS=%q: want a number ≥ 100", s)
		}
	}
	etcdtest.Each(t, func(t *testing.T, v etcdtest.Version) {
		c := v.StartWith(t, 1, "--quota-backend-bytes", strconv.Itoa(8<<30))
		const prefix = "/scale/"
		env := []string{"TOKENWRIGHT_STORE=etcd", "TOKENWRIGHT_ETCD_ENDPOINTS=" + strings.Join(c.Endpoints(), ","),
			"TOKENWRIGHT_ETCD_PREFIX=" + prefix}
		data := t.TempDir()
		// The first replica initialises the prefix (signing key, admin).
		first, _ := startTimed(t, data, env)
		stopDaemon(t, first)

		start := time.Now()
		owner, secrets := loadKeys(t, c.Endpoints(), prefix, n)
		t.Logf("loaded %d keys in %d accounts in %s", n, n/100, time.Since(start).Round(time.Second))

		d, ready := startTimed(t, data, env)
		pid := d.cmd.Process.Pid
		rssReady, hwmReady := procMem(t, pid)
		for i, secret := range secrets {
			resp, err := http.PostForm(d.url+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
				"client_id": {owner[i]}, "client_secret": {secret}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("token with loaded key %d: HTTP %d\n%s", i, resp.StatusCode, d.stderr)
			}
		}
		rss, hwm := procMem(t, pid)
		t.Logf("etcd %s, %d keys: ready after %s; after ready VmRSS %d MB VmHWM %d MB; after %d token requests VmRSS %d MB VmHWM %d MB",
			v.Name, n, ready.Round(10*time.Millisecond), rssReady>>10, hwmReady>>10, len(secrets), rss>>10, hwm>>10)
	})
}

// startTimed starts `tokenwright serve` and returns once /readyz answers
// 200, with the time that took since the process was started.
func startTimed(t *testing.T, data string, env []string) (*daemon, time.Duration) {
	t.Helper()
	began := time.Now()
	d := launchDaemon(t, freeAddr(t), data, env)
	for {
		resp, err := http.Get(d.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d, time.Since(began)
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("server exited before ready:\n%s", d.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(began) > 10*time.Minute {
			t.Fatalf("server not ready after 10 minutes:\n%s", d.stderr)
		}
	}
}

func stopDaemon(t *testing.T, d *daemon) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		t.Fatalf("server still running a minute after SIGTERM:\n%s", d.stderr)
	}
}

// procMem reads VmRSS and VmHWM (KiB) of pid.
func procMem(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = kb
		case "VmHWM":
			hwm = kb
		}
	}
	return rss, hwm
}

// loadKeys creates n/100 service accounts through the store and n service
// keys (100 per account) in the records the store writes for them
// (store.Key as JSON at PREFIX key/ID; service keys have no other
// record), in transactions of 128 puts, 8 at a time: through CreateKey a
// million keys would take far longer than the reload being measured. It
// returns the owner and credential of a sample of the keys.
func loadKeys(t *testing.T, endpoints []string, prefix string, n int) (owners, secrets []string) {
	t.Helper()
	ctx := context.Background()
	es, err := etcd.Open(ctx, etcd.Options{Endpoints: endpoints, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	now := time.Now().UTC().Truncate(time.Second)
	accounts := n / 100
	account := func(i int) string { return fmt.Sprintf("svc-%05d", i) }
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				err := es.CreateServiceAccount(ctx, store.ServiceAccount{ID: strconv.Itoa(i), Name: account(i),
					Email: account(i) + "@example.com", Roles: []string{"deployer"}, AllowedScopes: []string{"read", "write"},
					AllowedAudiences: []string{"https://api.example.com"}, Status: store.StatusActive,
					CreatedAt: now, UpdatedAt: now, CreatedBy: "admin"})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range accounts {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("creating accounts: %v", err)
	default:
	}

	const batch = 128
	stride := max(1, n/20)
	var mu sync.Mutex
	batches := make(chan int)
	for range 8 {
		wg.Go(func() {
			for b := range batches {
				ops := make([]clientv3.Op, 0, batch)
				for i := b; i < min(b+batch, n); i++ {
					id, err := apikey.NewID()
					if err != nil {
						panic(err)
					}
					cred, err := apikey.Generate(apikey.ServiceKey, id)
					if err != nil {
						panic(err)
					}
					k := store.Key{ID: id, Kind: store.KindServiceKey, Owner: account(i % accounts), Name: fmt.Sprintf("key-%d", i),
						Description: "deploy pipeline", SecretHash: cred.Hash(), Roles: []string{"deployer"},
						CreatedAt: now, CreatedBy: "admin", ExpiresAt: now.Add(365 * 24 * time.Hour)}
					val, err := json.Marshal(k)
					if err != nil {
						panic(err)
					}
					ops = append(ops, clientv3.OpPut(prefix+"key/"+id, string(val)))
					if i%stride == 0 {
						mu.Lock()
						owners, secrets = append(owners, k.Owner), append(secrets, cred.String())
						mu.Unlock()
					}
				}
				if _, err := es.Client().Txn(ctx).Then(ops...).Commit(); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for b := 0; b < n; b += batch {
		batches <- b
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("writing keys: %v", err)
	default:
	}
	return owners, secrets
}
