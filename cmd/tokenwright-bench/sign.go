//go:build unix

package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/server/signing"
)

// rawSignRate measures how many JWS signatures per second go-jose makes
// with a key of alg on all cores (GOMAXPROCS goroutines): the ceiling for
// the token endpoint on this machine, measured in the same run.
func rawSignRate(alg string, d time.Duration) float64 {
	priv, err := signing.GenerateKey(jose.SignatureAlgorithm(alg))
	if err != nil {
		return 0
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv}, nil)
	if err != nil {
		return 0
	}
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"bench","aud":["https://domino.example.com","Domino"],"exp":1795419070,"nbf":1795418470,"iat":1795418470,"jti":"1ba0a636ee1ac03eb2fb4821e5ddada0","client_id":"bench","azp":"bench","scope":"Domino.user.all $DATA","email":"bench@example.com","CN":"CN=bench/O=Bench","roles":["bench"]}`)
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := signer.Sign(payload); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
