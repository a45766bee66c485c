package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokenwright/tokenwright/store/bolt"
)

// populatedDataDir runs a real server on a fresh data directory, creates a
// few accounts and keys through the API, stops it with SIGTERM and returns
// the directory (admin.token, kek, tokenwright.db).
func populatedDataDir(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data, "TOKENWRIGHT_LIMITS_ENABLED=false")
	tok := adminToken(t, data)
	for i := range 40 {
		name := fmt.Sprintf("svc-%02d", i)
		mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts", map[string]any{"userName": name, "email": name + "@example.com",
			"description": strings.Repeat("d", 500)}, 201)
		mustCall(t, d.url, tok, "POST", "/api/v1/service-accounts/"+name+"/keys", map[string]any{"name": "k"}, 201)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(); err != nil {
		t.Fatalf("serve did not exit cleanly: %v\n%s", err, d.stderr)
	}
	return data
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// dirState is every file's name and content hash: a refused start must
// leave it exactly as it was.
func dirState(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// usedPages returns the ids of the first n leaf or branch pages of a bbolt
// file: pages the server reads, unlike free ones.
func usedPages(t *testing.T, path string, n int) []int {
	t.Helper()
	// Read-write (the server is stopped): bbolt loads the freelist only
	// then, and Tx.Page needs it. Nothing is written.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []int
	_ = db.View(func(tx *bbolt.Tx) error {
		for id := 2; len(ids) < n; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				break
			}
			if p.Type == "leaf" || p.Type == "branch" {
				ids = append(ids, id)
			}
			id += p.OverflowCount
		}
		return nil
	})
	if len(ids) < n {
		t.Fatalf("only %d data pages in %s", len(ids), path)
	}
	return ids
}

// serveOnce runs `serve` on data and returns its output and exit error; it
// fails the test if the server is still running after 20 s.
func serveOnce(t *testing.T, data string, env ...string) (string, error) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), "serve", "--data", data, "--listen", addr, "--issuer", "http://"+addr)
	cmd.Env = append(cleanEnv(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve kept running on a damaged data directory:\n%s", out.String())
	}
	return out.String(), err
}

// TestDamagedDatabaseIsRefused (issue 14, finding 5): a truncated file,
// garbage in data pages, an empty file, a foreign file and a bbolt file
// that is not tokenwright's are each refused at start by the real binary:
// a non-zero exit, a message naming the file and `tokenwright restore`, no
// Go panic, and not one byte written to the data directory (no new kek,
// database or admin.token). The refused truncated file is then replaced
// with `tokenwright restore` and the server starts on the backup.
func TestDamagedDatabaseIsRefused(t *testing.T) {
	good := populatedDataDir(t)
	goodDB := filepath.Join(good, bolt.FileName)
	garbage := usedPages(t, goodDB, 3)
	rng := rand.New(rand.NewPCG(14, 5))

	cases := []struct {
		name   string
		damage func(t *testing.T, data string)
		noKEK  bool // also remove DATA/kek: no KEK may be generated
	}{
		{name: "truncated to 20000 bytes", damage: func(t *testing.T, data string) {
			if err := os.Truncate(filepath.Join(data, bolt.FileName), 20000); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "garbage in three data pages", damage: func(t *testing.T, data string) {
			f, err := os.OpenFile(filepath.Join(data, bolt.FileName), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			page := make([]byte, os.Getpagesize())
			for _, id := range garbage {
				for i := range page {
					page[i] = byte(rng.UintN(256))
				}
				if _, err := f.WriteAt(page, int64(id*len(page))); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "empty file", damage: func(t *testing.T, data string) {
			if err := os.Truncate(filepath.Join(data, bolt.FileName), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "empty file without a KEK", noKEK: true, damage: func(t *testing.T, data string) {
			if err := os.Truncate(filepath.Join(data, bolt.FileName), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "truncated without a KEK", noKEK: true, damage: func(t *testing.T, data string) {
			if err := os.Truncate(filepath.Join(data, bolt.FileName), 20000); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "not a bbolt file", damage: func(t *testing.T, data string) {
			junk := make([]byte, 64<<10)
			for i := range junk {
				junk[i] = byte(rng.UintN(256))
			}
			if err := os.WriteFile(filepath.Join(data, bolt.FileName), junk, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a bbolt file that is not tokenwright's", damage: func(t *testing.T, data string) {
			path := filepath.Join(data, bolt.FileName)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("someone-else"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
			if err := errors.Join(err, db.Close()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := copyDir(t, good)
			tc.damage(t, data)
			if tc.noKEK {
				if err := os.Remove(filepath.Join(data, "kek")); err != nil {
					t.Fatal(err)
				}
			}
			before := dirState(t, data)
			out, err := serveOnce(t, data)
			if err == nil {
				t.Fatalf("serve exited 0 on a damaged database:\n%s", out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Fatalf("serve panicked:\n%s", out)
			}
			dbPath := filepath.Join(data, bolt.FileName)
			if !strings.Contains(out, dbPath) || !strings.Contains(out, "tokenwright restore") {
				t.Fatalf("the refusal does not name %s and `tokenwright restore`:\n%s", dbPath, out)
			}
			after := dirState(t, data)
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a refused start changed the data directory:\nbefore %v\nafter  %v\n%s", fileNames(before), fileNames(after), out)
			}
		})
	}

	t.Run("restore replaces the refused file", func(t *testing.T) {
		data := copyDir(t, good)
		if err := os.Truncate(filepath.Join(data, bolt.FileName), 20000); err != nil {
			t.Fatal(err)
		}
		out := run(t, nil, false, "restore", goodDB, "--data", data)
		if !strings.Contains(out, "before-restore") {
			t.Fatalf("restore did not keep the refused file aside:\n%s", out)
		}
		d := startDaemon(t, data)
		mustCall(t, d.url, adminToken(t, data), "GET", "/api/v1/service-accounts/svc-39", nil, 200)
	})
}

// TestStrayKEKNotGenerated (issue 14, finding 5): with no KEK configured,
// none in DATA and a database whose signing keys are sealed with one, the
// start is refused and no new DATA/kek is left behind.
func TestStrayKEKNotGenerated(t *testing.T) {
	data := copyDir(t, populatedDataDir(t))
	if err := os.Remove(filepath.Join(data, "kek")); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, data)
	out, err := serveOnce(t, data)
	if err == nil || !strings.Contains(out, "TOKENWRIGHT_KEK_FILE") {
		t.Fatalf("serve without the KEK: %v\n%s", err, out)
	}
	if after := dirState(t, data); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused start changed the data directory: %v -> %v", fileNames(before), fileNames(after))
	}
}

func fileNames(m map[string][32]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
