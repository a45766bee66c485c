package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/store/etcd"
)

// Store backends (the `store` setting).
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// Etcd is the `etcd:` block, used when store is etcd.
type Etcd struct {
	// Endpoints are client URLs (http://host:2379, https://…) or host:port.
	Endpoints []string `yaml:"endpoints"`
	// Prefix under which tokenwright keeps its keys; it must end in "/".
	Prefix string `yaml:"prefix"`
	TLS    struct {
		CA   string `yaml:"ca"`   // PEM bundle that verifies the etcd servers
		Cert string `yaml:"cert"` // client certificate (with key)
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	DialTimeout Duration `yaml:"dialTimeout"`
	// RequestTimeout bounds each write: without quorum, admin writes fail
	// with 503 after it instead of hanging.
	RequestTimeout Duration `yaml:"requestTimeout"`
	// MaxStaleness is how long tokens keep being issued from the
	// in-memory index after the last contact with an etcd quorum.
	MaxStaleness Duration `yaml:"maxStaleness"`
}

func defaultEtcd() Etcd {
	return Etcd{Prefix: "/tokenwright/", DialTimeout: Duration(5 * time.Second),
		RequestTimeout: Duration(5 * time.Second), MaxStaleness: Duration(5 * time.Minute)}
}

// validateStore checks store and the etcd block; errors name the key.
func (c *Config) validateStore() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, fmt.Errorf(key+": "+format, args...)) }
	switch c.Store {
	case StoreBolt:
		return nil
	case StoreEtcd:
	default:
		bad("store", "must be bolt or etcd, got %q", c.Store)
		return errs
	}
	e := c.Etcd
	if len(e.Endpoints) == 0 {
		bad("etcd.endpoints", "must list at least one endpoint when store is etcd")
	}
	for _, ep := range e.Endpoints {
		if err := validateEndpoint(ep); err != nil {
			bad("etcd.endpoints", "%v", err)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") || len(e.Prefix) < 2 {
		bad("etcd.prefix", "must start and end with / (e.g. /tokenwright/), got %q", e.Prefix)
	}
	if (e.TLS.Cert == "") != (e.TLS.Key == "") {
		bad("etcd.tls", "cert and key must be given together")
	}
	if d := e.DialTimeout.Std(); d < 100*time.Millisecond || d > 5*time.Minute {
		bad("etcd.dialTimeout", "must be between 100ms and 5m, got %s", d)
	}
	if d := e.RequestTimeout.Std(); d < 100*time.Millisecond || d > 5*time.Minute {
		bad("etcd.requestTimeout", "must be between 100ms and 5m, got %s", d)
	}
	if d := e.MaxStaleness.Std(); d < time.Second || d > 24*time.Hour {
		bad("etcd.maxStaleness", "must be between 1s and 24h, got %s", d)
	}
	return errs
}

func validateEndpoint(ep string) error {
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%q is not an http(s)://host:port URL", ep)
		}
		return nil
	}
	if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
		return fmt.Errorf("%q is not host:port or an http(s) URL", ep)
	}
	return nil
}

// Options turns the block into etcd.Options, loading the TLS files.
func (e Etcd) Options() (etcd.Options, error) {
	o := etcd.Options{Endpoints: e.Endpoints, Prefix: e.Prefix, DialTimeout: e.DialTimeout.Std(),
		RequestTimeout: e.RequestTimeout.Std(), MaxStaleness: e.MaxStaleness.Std()}
	useTLS := e.TLS.CA != "" || e.TLS.Cert != ""
	for _, ep := range e.Endpoints {
		useTLS = useTLS || strings.HasPrefix(ep, "https://")
	}
	if useTLS {
		tlsCfg, err := etcd.LoadTLS(e.TLS.CA, e.TLS.Cert, e.TLS.Key)
		if err != nil {
			return o, err
		}
		o.TLS = tlsCfg
	}
	return o, nil
}
