package config_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/config"
)

func TestStoreConfig(t *testing.T) {
	t.Parallel()
	// Defaults: bolt, and a usable etcd block once endpoints are given.
	cfg, err := config.Load("", nil)
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
	cfg, err = config.Load(file, []string{"TOKENWRIGHT_ETCD_ENDPOINTS=https://a:2379,https://b:2379", "TOKENWRIGHT_ETCD_REQUEST_TIMEOUT=2s"})
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

	cases := map[string]refusal{
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
	checkRefused(t, cases)
}
