package servertest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/config"
)

// sharedKEK is the key-encryption key every replica of one installation
// shares (the signing keys in etcd are sealed under it).
var sharedKEK = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// Replica starts a tokenwright server on the etcd cluster at endpoints,
// one replica of an installation: every replica started here shares the
// key-encryption key and the prefix /ha/. edit, when not nil, changes the
// configuration further.
func Replica(t testing.TB, endpoints []string, edit func(*config.Config)) *Server {
	t.Helper()
	return Start(t, Options{
		Environ: func(name string) string {
			if name == "TOKENWRIGHT_KEK" {
				return sharedKEK
			}
			return ""
		},
		Configure: func(cfg *config.Config) {
			cfg.Store = config.StoreEtcd
			cfg.Etcd.Endpoints = endpoints
			cfg.Etcd.Prefix = "/ha/"
			cfg.Keys.UsageFlushInterval = config.Duration(200 * time.Millisecond)
			if edit != nil {
				edit(cfg)
			}
		},
	})
}

// Replicas starts two replicas; the first bootstraps the administrator,
// whose token both accept.
func Replicas(t testing.TB, endpoints []string, edit func(*config.Config)) (a, b *Server) {
	t.Helper()
	a = Replica(t, endpoints, edit)
	b = Replica(t, endpoints, edit)
	if a.AdminToken == "" || b.AdminToken != "" {
		t.Fatalf("bootstrap: admin token on A %v, on B %v; want only on A", a.AdminToken != "", b.AdminToken != "")
	}
	b.AdminToken = a.AdminToken
	return a, b
}

// KeyIDs is the sorted kids of the server's published JWKS.
func (s *Server) KeyIDs(t testing.TB) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(s.DoRaw(t, "", http.MethodGet, "/keys")), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}
