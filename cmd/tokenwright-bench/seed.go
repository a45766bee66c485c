//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tokenwright/tokenwright/internal/ownerfile"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/etcd"
)

const (
	benchAccount = "bench"
	secretsFile  = "bench-secrets.txt"
	// maxLoadKeys bounds how many distinct keys the load rotates through;
	// the rest of a large seed only weighs on the store.
	maxLoadKeys = 1000
)

// seedOffline writes one account and n keys straight into the server's
// store before the server starts (the bbolt file of the data directory, or
// the etcd cluster at etcdEndpoints): seeding a million keys through the
// API would measure the API, not the token path.
func seedOffline(ctx context.Context, dataDir string, etcdEndpoints []string, n int) error {
	if _, err := os.Stat(filepath.Join(dataDir, secretsFile)); err == nil {
		return nil // seeded by an earlier run: reuse it (a million keys take a while)
	}
	var db store.Store
	var err error
	if len(etcdEndpoints) > 0 {
		db, err = etcd.Open(ctx, etcd.Options{Endpoints: etcdEndpoints})
	} else {
		db, err = bolt.Open(filepath.Join(dataDir, bolt.FileName), bolt.Options{})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC()
	err = db.CreateServiceAccount(ctx, store.ServiceAccount{ID: "bench", Name: benchAccount, Email: "bench@example.com",
		NotesName: "CN=bench/O=Bench", Roles: []string{"bench"}, AllowedScopes: []string{"Domino.user.all", "$DATA"},
		AllowedAudiences: []string{"https://domino.example.com", "Domino"}, Status: store.StatusActive,
		Profile: "domino", CreatedAt: now, UpdatedAt: now, CreatedBy: "bench"})
	if err != nil {
		return err
	}
	sample := make([]string, 0, min(n, maxLoadKeys))
	stride := max(1, n/maxLoadKeys) // spread the sample over the whole key space
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 64 { // concurrent creates share bbolt batches (one fsync each), etcd raft batches likewise
		wg.Go(func() {
			for i := range jobs {
				id, err := apikey.NewID()
				if err == nil {
					var cred apikey.Credential
					if cred, err = apikey.Generate(apikey.ServiceKey, id); err == nil {
						err = db.CreateKey(ctx, store.Key{ID: id, Kind: store.KindServiceKey, Owner: benchAccount,
							Name: fmt.Sprintf("bench-%d", i), SecretHash: cred.Hash(), Roles: []string{"bench"},
							CreatedAt: now, ExpiresAt: now.Add(365 * 24 * time.Hour), CreatedBy: "bench"})
						if err == nil && i%stride == 0 {
							mu.Lock()
							if len(sample) < maxLoadKeys {
								sample = append(sample, cred.String())
							}
							mu.Unlock()
						}
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ownerfile.WriteFile(filepath.Join(dataDir, secretsFile), []byte(strings.Join(sample, "\n")))
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
