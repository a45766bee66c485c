package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server"
)

func TestStoreConfig(t *testing.T) {
	t.Parallel()
	// Defaults: bolt, and a usable etcd block once endpoints are given.
	cfg, err := server.LoadConfig("", nil)
	if err != nil || cfg.Store != "bolt" || cfg.Etcd.Prefix != "/tokenwright/" || cfg.Validate() != nil {
		t.Fatalf("defaults: %v %+v", err, cfg.Etcd)
	}

	file := writeFile(t, `store: etcd
etcd:
  endpoints: [http://10.0.0.1:2379, 10.0.0.2:2379]
  prefix: /tw-prod/
  tls: {ca: /etc/etcd/ca.pem, cert: /etc/etcd/client.pem, key: /etc/etcd/client-key.pem}
  dialTimeout: 3s
`)
	cfg, err = server.LoadConfig(file, []string{"TOKENWRIGHT_ETCD_ENDPOINTS=https://a:2379,https://b:2379", "TOKENWRIGHT_ETCD_REQUEST_TIMEOUT=2s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := cfg.Etcd
	if cfg.Store != "etcd" || !slices.Equal(e.Endpoints, []string{"https://a:2379", "https://b:2379"}) || e.Prefix != "/tw-prod/" ||
		e.TLS.CA != "/etc/etcd/ca.pem" || e.TLS.Key != "/etc/etcd/client-key.pem" || e.DialTimeout.Std() != 3*time.Second ||
		e.RequestTimeout.Std() != 2*time.Second || e.MaxStaleness.Std() != 5*time.Minute {
		t.Fatalf("etcd block not read as written: %+v", cfg)
	}

	cases := map[string]struct{ file, env, want string }{
		"unknown backend":   {env: "TOKENWRIGHT_STORE=postgres", want: "store"},
		"no endpoints":      {file: "store: etcd\n", want: "etcd.endpoints"},
		"bad endpoint":      {file: "store: etcd\netcd:\n  endpoints: [ftp://x:1]\n", want: "etcd.endpoints"},
		"endpoint no port":  {env: "TOKENWRIGHT_STORE=etcd\x00TOKENWRIGHT_ETCD_ENDPOINTS=etcd.local", want: "etcd.endpoints"},
		"prefix no slash":   {file: "store: etcd\netcd:\n  endpoints: [127.0.0.1:2379]\n  prefix: tw\n", want: "etcd.prefix"},
		"cert without key":  {file: "store: etcd\netcd:\n  endpoints: [127.0.0.1:2379]\n  tls: {cert: c.pem}\n", want: "etcd.tls"},
		"unknown etcd key":  {file: "etcd:\n  endpoint: [127.0.0.1:2379]\n", want: "endpoint"},
		"bad dial timeout":  {file: "store: etcd\netcd:\n  endpoints: [127.0.0.1:2379]\n  dialTimeout: 0s\n", want: "etcd.dialTimeout"},
		"unknown etcd env":  {env: "TOKENWRIGHT_ETCD_ENDPOINT=x:1", want: "TOKENWRIGHT_ETCD_ENDPOINT"},
		"staleness too low": {env: "TOKENWRIGHT_STORE=etcd\x00TOKENWRIGHT_ETCD_ENDPOINTS=x:1\x00TOKENWRIGHT_ETCD_MAX_STALENESS=10ms", want: "etcd.maxStaleness"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			var env []string
			if tc.env != "" {
				env = strings.Split(tc.env, "\x00")
			}
			cfg, err := server.LoadConfig(path, env)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
