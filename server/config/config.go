// Package config is tokenwright's configuration: the schema (Config and its
// sections), the defaults, loading from a YAML file and TOKENWRIGHT_*
// environment variables with unknown keys refused by their path
// (unknownkeys.go), and validation, whose every error names its setting.
// The server only reads a validated Config; it decides nothing here.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/tokenwright/tokenwright/pkg/duration"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/cors"
	"github.com/tokenwright/tokenwright/server/signing"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tracing"
)

// Config is the server configuration. It is read from a YAML (or JSON) file,
// then overridden by TOKENWRIGHT_* environment variables, then by flags.
// Each leaf's environment variable is TOKENWRIGHT_ followed by its path in
// upper snake case: tokens.lifetime is TOKENWRIGHT_TOKENS_LIFETIME.
type Config struct {
	Listen  string `yaml:"listen"`
	Issuer  string `yaml:"issuer"`
	DataDir string `yaml:"dataDir"`

	// Store selects the backend: bolt (default, one process) or etcd
	// (several replicas; see docs/high-availability.md).
	Store string `yaml:"store"`
	Etcd  Etcd   `yaml:"etcd"`

	Log struct {
		Level  string `yaml:"level"`  // trace, debug, info, warn, error
		Format string `yaml:"format"` // auto, json, console
	} `yaml:"log"`

	Tokens struct {
		// Lifetime of issued JWTs unless an account sets its own.
		Lifetime Duration `yaml:"lifetime"`
		// DefaultAudiences and DefaultScopes apply to principals that have
		// none of their own (e.g. personal access tokens).
		DefaultAudiences []string `yaml:"defaultAudiences"`
		DefaultScopes    []string `yaml:"defaultScopes"`
	} `yaml:"tokens"`

	Signing struct {
		Algorithm string `yaml:"algorithm"`
		// RotationPeriod is how long a signing key signs before its
		// successor takes over; 0 turns automatic rotation off.
		RotationPeriod Duration `yaml:"rotationPeriod"`
		// JWKSMaxAge caps how long relying parties may cache the JWKS
		// (Cache-Control max-age). It also sets the rotation timing: a new
		// key is published JWKSMaxAge + 30m before it signs.
		JWKSMaxAge Duration `yaml:"jwksMaxAge"`
	} `yaml:"signing"`

	// KEK names where the key-encryption key comes from. TOKENWRIGHT_KEK
	// (base64) wins over File; with neither, DATA/kek is used or created.
	KEK struct {
		File string `yaml:"file"`
	} `yaml:"kek"`

	Keys struct {
		DefaultLifetime Duration `yaml:"defaultLifetime"`
		MaxLifetime     Duration `yaml:"maxLifetime"` // 0: no cap, "never" allowed
		ExpiringSoon    Duration `yaml:"expiringSoon"`
		// UsageFlushInterval is how often buffered lastUsedAt/lastUsedIp
		// observations are written: the most a crash can lose of them.
		UsageFlushInterval Duration `yaml:"usageFlushInterval"`
		// MaxPATsPerUser bounds the personal access tokens one user holds
		// (revoked and expired ones count until deleted).
		MaxPATsPerUser int `yaml:"maxPATsPerUser"`
	} `yaml:"keys"`

	// Notifications: "expiring soon" notices for keys and personal access
	// tokens (see docs/scripting.md). The webhook secret comes from
	// TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET or Webhook.SecretFile.
	Notifications struct {
		Interval Duration `yaml:"interval"` // how often credentials are checked
		Webhook  struct {
			URL          string   `yaml:"url"`
			SecretFile   string   `yaml:"secretFile"`
			RetryBackoff Duration `yaml:"retryBackoff"` // first wait; doubles per attempt
		} `yaml:"webhook"`
	} `yaml:"notifications"`

	Bootstrap struct {
		AdminName  string `yaml:"adminName"`
		AdminEmail string `yaml:"adminEmail"`
	} `yaml:"bootstrap"`

	// TLS serves HTTPS from PEM, PKCS#12 or JKS (see docs/domino.md).
	TLS tlsconfig.Source `yaml:"tls"`
	// HealthListen is an optional plain-HTTP address serving only
	// /healthz and /readyz (for load balancers that cannot speak TLS).
	HealthListen string `yaml:"healthListen"`
	// MetricsListen is an optional address serving only /metrics; when set,
	// the public listener answers 404 there (see docs/hardening.md).
	MetricsListen string `yaml:"metricsListen"`
	// MetricsBearerTokenFile holds a token that /metrics then requires
	// (Authorization: Bearer); TOKENWRIGHT_METRICS_BEARER_TOKEN wins.
	MetricsBearerTokenFile string `yaml:"metricsBearerTokenFile"`
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trustedProxies"`
	// CORS is the Domino-REST-API-style origin map (server/cors).
	CORS   cors.Config `yaml:"cors"`
	Domino Domino      `yaml:"domino"`

	// Limits are the brute-force and abuse limits (see docs/hardening.md).
	Limits Limits `yaml:"limits"`

	// Tracing exports OpenTelemetry spans over OTLP/HTTP; off unless an
	// endpoint is set (server/tracing, docs/observability.md).
	Tracing tracing.Config `yaml:"tracing"`

	// SSO and Console: single sign-on to the console (sso.go).
	SSO     SSO     `yaml:"sso"`
	Console Console `yaml:"console"`
}

// Default returns the built-in defaults. Those of the account rules
// (token and key lifetimes, the expiring-soon window, the PAT quota) and of
// signing (algorithm, JWKS max-age) are read from their packages, where
// they are written once.
func Default() Config {
	var c Config
	p := accounts.DefaultPolicy()
	c.Listen = "127.0.0.1:8080"
	// Issuer stays empty: Validate derives it from Listen (issuerFor).
	c.DataDir = "./tokenwright-data"
	c.Store, c.Etcd = StoreBolt, defaultEtcd()
	c.Log.Level, c.Log.Format = "info", "auto"
	c.Tokens.Lifetime = Duration(p.DefaultTokenLifetime)
	c.Signing.Algorithm = string(signing.DefaultAlgorithm)
	c.Signing.RotationPeriod = Duration(30 * 24 * time.Hour)
	c.Signing.JWKSMaxAge = Duration(signing.DefaultMaxAge)
	c.Keys.DefaultLifetime = Duration(p.DefaultKeyLifetime)
	c.Keys.ExpiringSoon = Duration(p.ExpiringSoon)
	c.Keys.UsageFlushInterval = Duration(5 * time.Second)
	c.Keys.MaxPATsPerUser = p.MaxPATsPerUser
	c.Notifications.Interval = Duration(10 * time.Minute)
	c.Notifications.Webhook.RetryBackoff = Duration(time.Second)
	c.Bootstrap.AdminName, c.Bootstrap.AdminEmail = "admin", "admin@localhost"
	c.Limits = defaultLimits()
	c.Tracing = tracing.DefaultConfig()
	c.SSO, c.Console = defaultSSO(), defaultConsole()
	return c
}

// Duration is a time.Duration written as "10m", "90d" in configuration.
type Duration time.Duration

// UnmarshalYAML accepts duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: expected a duration such as 10m or 90d", n.Line)
	}
	v, err := duration.Parse(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Load reads path (if not empty) over the defaults, then applies the
// environment. Unknown keys are errors that name the key.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		if err := checkKeys(&doc); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// io.EOF is an empty file: no settings.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return c, err
	}
	return c, nil
}

// envAliases are short names kept for the documented CLI contract.
var envAliases = map[string]string{"TOKENWRIGHT_DATA": "TOKENWRIGHT_DATA_DIR"}

// applyEnv sets every leaf whose TOKENWRIGHT_* variable is present.
// Variables that name no setting are reported, so typos do not pass
// silently; variables of the CLI and secrets handled elsewhere are skipped.
func applyEnv(c *Config, environ []string) error {
	leaves := map[string]reflect.Value{}
	collectLeaves(reflect.ValueOf(c).Elem(), "TOKENWRIGHT", leaves)
	ignored := map[string]bool{"TOKENWRIGHT_CONFIG": true, "TOKENWRIGHT_KEK": true, "TOKENWRIGHT_SERVER": true,
		"TOKENWRIGHT_TOKEN": true, "TOKENWRIGHT_TOKEN_FILE": true, "TOKENWRIGHT_CLIENT_ID": true,
		"TOKENWRIGHT_CLIENT_SECRET": true, "TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET": true,
		"TOKENWRIGHT_METRICS_BEARER_TOKEN": true, SSOClientSecretEnv: true}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "TOKENWRIGHT_") || ignored[name] {
			continue
		}
		if alias, ok := envAliases[name]; ok {
			name = alias
		}
		field, ok := leaves[name]
		if !ok {
			return fmt.Errorf("environment: %s is not a tokenwright setting", name)
		}
		if err := setFromString(field, value); err != nil {
			return fmt.Errorf("environment: %s: %w", name, err)
		}
	}
	return nil
}

func collectLeaves(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + upperSnake(tag)
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			collectLeaves(f, name, out)
			continue
		}
		out[name] = f
	}
}

// upperSnake maps a setting's name to its environment form. An upper-case
// letter starts a word only after a lower-case letter or digit, so an
// acronym stays one word: maxPATsPerUser is MAX_PATS_PER_USER.
func upperSnake(s string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range s {
		if 'A' <= r && r <= 'Z' && ('a' <= prev && prev <= 'z' || '0' <= prev && prev <= '9') {
			b.WriteByte('_')
		}
		b.WriteRune(r)
		prev = r
	}
	return strings.ToUpper(b.String())
}

func setFromString(f reflect.Value, s string) error {
	// Settings with their own text form (e.g. cors.origins).
	if v, ok := f.Addr().Interface().(interface{ Set(string) error }); ok {
		return v.Set(s)
	}
	switch f.Interface().(type) {
	case string:
		f.SetString(s)
	case Duration:
		d, err := duration.Parse(s)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(Duration(d)))
	case []string:
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		f.Set(reflect.ValueOf(items))
	case float64:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("expected a number, got %q", s)
		}
		f.SetFloat(v)
	case int:
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("expected an integer, got %q", s)
		}
		f.SetInt(int64(v))
	case bool:
		switch strings.ToLower(s) {
		case "true", "1", "yes":
			f.SetBool(true)
		case "false", "0", "no", "":
			f.SetBool(false)
		default:
			return fmt.Errorf("expected true or false, got %q", s)
		}
	default:
		return fmt.Errorf("unsupported setting type %s", f.Type())
	}
	return nil
}

// Validate checks the configuration; errors name the setting. It also
// completes the one derived setting: an empty issuer becomes the one
// issuerFor derives from listen.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, fmt.Errorf(key+": "+format, args...)) }

	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "must be host:port, got %q", c.Listen)
	}
	if c.Issuer == "" {
		iss, err := issuerFor(c.Listen, c.TLS.Enabled())
		if err != nil {
			bad("issuer", "%v", err)
		}
		c.Issuer = iss
	}
	if err := validateIssuer(c.Issuer); c.Issuer != "" && err != nil {
		bad("issuer", "%v", err)
	}
	if c.DataDir == "" {
		bad("dataDir", "must not be empty")
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		bad("log.format", "must be auto, json or console, got %q", c.Log.Format)
	}
	if _, err := ParseLogLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if lt := c.Tokens.Lifetime.Std(); lt < 30*time.Second || lt > accounts.MaxTokenLifetime {
		bad("tokens.lifetime", "must be between 30s and %s, got %s", accounts.MaxTokenLifetime, lt)
	}
	for _, a := range c.Tokens.DefaultAudiences {
		if !accounts.ValidAudience(a) {
			bad("tokens.defaultAudiences", "%q is not an https URL (http only for loopback), a URL prefix ending in '*', or a name like Domino", a)
		}
	}
	for _, sc := range c.Tokens.DefaultScopes {
		if !accounts.ValidScope(sc) {
			bad("tokens.defaultScopes", "%q is not a valid scope", sc)
		}
	}
	if _, err := signing.ParseAlgorithm(c.Signing.Algorithm); err != nil {
		bad("signing.algorithm", "%v", err)
	}
	if m := c.Signing.JWKSMaxAge.Std(); m < time.Minute || m > 24*time.Hour {
		bad("signing.jwksMaxAge", "must be between 1m and 24h, got %s", m)
	}
	prePublish := c.Signing.JWKSMaxAge.Std() + signing.PublishMargin
	if p := c.Signing.RotationPeriod.Std(); p < 0 || p > 0 && p < 2*prePublish {
		bad("signing.rotationPeriod", "must be 0 (off) or at least twice jwksMaxAge + 30m (%s), got %s", 2*prePublish, p)
	}
	if c.Keys.DefaultLifetime <= 0 {
		bad("keys.defaultLifetime", "must be positive")
	}
	if c.Keys.MaxLifetime < 0 || c.Keys.MaxLifetime > 0 && c.Keys.DefaultLifetime > c.Keys.MaxLifetime {
		bad("keys.maxLifetime", "must be 0 (no cap) or at least keys.defaultLifetime")
	}
	if c.Keys.ExpiringSoon < 0 {
		bad("keys.expiringSoon", "must not be negative")
	}
	if iv := c.Keys.UsageFlushInterval.Std(); iv < 100*time.Millisecond || iv > time.Minute {
		bad("keys.usageFlushInterval", "must be between 100ms and 1m, got %s", iv)
	}
	if n := c.Keys.MaxPATsPerUser; n < 1 || n > 10000 {
		bad("keys.maxPATsPerUser", "must be between 1 and 10000, got %d", n)
	}
	if iv := c.Notifications.Interval.Std(); iv < 100*time.Millisecond || iv > 24*time.Hour {
		bad("notifications.interval", "must be between 100ms and 24h, got %s", iv)
	}
	if b := c.Notifications.Webhook.RetryBackoff.Std(); b < 10*time.Millisecond || b > time.Minute {
		bad("notifications.webhook.retryBackoff", "must be between 10ms and 1m, got %s", b)
	}
	if w := c.Notifications.Webhook.URL; w != "" {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("notifications.webhook.url", "must be an absolute http(s) URL, got %q", w)
		}
	}
	errs = append(errs, c.validateTrust()...)
	errs = append(errs, c.Limits.validate()...)
	errs = append(errs, c.validateStore()...)
	errs = append(errs, c.Tracing.Validate()...)
	errs = append(errs, c.validateSSO()...)
	return errors.Join(errs...)
}

// ParseLogLevel reads log.level: one of trace, debug, info, warn, error
// (any case).
func ParseLogLevel(s string) (zerolog.Level, error) {
	l, err := zerolog.ParseLevel(strings.ToLower(s))
	if err != nil || s == "" {
		return 0, fmt.Errorf("must be one of trace, debug, info, warn, error; got %q", s)
	}
	return l, nil
}

// issuerFor is the issuer of a server configured without one: its own
// address, http://HOST:PORT (https with TLS), when it listens on a loopback
// address, where that is the URL its clients use. On any other address the
// URL clients and verifiers use (a DNS name, a proxy in front) cannot be
// known from the listen address, and a loopback guess would be advertised
// in discovery and in every token's iss where nothing listens: so it is
// refused, saying what to set.
func issuerFor(listen string, tls bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", nil // reported for listen
	}
	if !isLoopbackHost(host) {
		return "", fmt.Errorf("not set, and listen %q is not a loopback address: set issuer (TOKENWRIGHT_ISSUER, --issuer) "+
			"to the https URL clients and verifiers reach this server at, e.g. https://idp.example.com", listen)
	}
	if port == "0" {
		return "", fmt.Errorf("not set, and listen %q has no fixed port: set issuer (TOKENWRIGHT_ISSUER, --issuer) or a port", listen)
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// validateIssuer requires https, except for loopback hosts used in
// development and tests, and forbids query and fragment (RFC 8414 §2).
func validateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not contain a query, fragment or user info")
	}
	if strings.HasSuffix(u.Path, "/") {
		return errors.New("must not end with a slash")
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("must use https (plain http is allowed only for loopback addresses), got %q", issuer)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
