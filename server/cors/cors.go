// Package cors answers browser cross-origin requests the way the Domino
// REST API configures them: a map from origin host endings to true (allow)
// or false (deny), the longest matching ending deciding. Nothing is allowed
// unless configured, origins are echoed one at a time (never "*"), and no
// credentials (cookies) are ever allowed: tokenwright's APIs take bearer
// tokens and Basic credentials in headers, which CORS governs through
// Access-Control-Allow-Headers instead.
package cors

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the `cors` block:
//
//	cors:
//	  localhost: true
//	  .example.com: true
//	  .evil.example.com: false
//	  tokenEndpoint: true   # also allow the token endpoint (off by default)
type Config struct {
	// TokenEndpoint extends CORS to POST /oauth/token. Off by default: a
	// browser holding a client secret is rarely a good idea.
	TokenEndpoint bool `yaml:"tokenEndpoint"`
	// Origins maps host endings to allow (true) or deny (false). In the
	// environment: TOKENWRIGHT_CORS_ORIGINS="localhost=true,.example.com=true".
	Origins Origins `yaml:"origins"`
}

// Origins is the host-ending map.
type Origins map[string]bool

var endingRE = regexp.MustCompile(`^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// Set parses "ending=bool,..." (the environment form).
func (o *Origins) Set(s string) error {
	m := Origins{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			v = "true"
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q: expected ending=true or ending=false", item)
		}
		m[strings.ToLower(strings.TrimSpace(k))] = b
	}
	*o = m
	return nil
}

// UnmarshalYAML reads the flat Domino-style map, with tokenEndpoint as the
// one reserved key.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: cors must be a map of origin host endings to true or false", n.Line)
	}
	out := Config{Origins: Origins{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		var b bool
		if val.Kind != yaml.ScalarNode || val.Decode(&b) != nil {
			return fmt.Errorf("line %d: cors.%s must be true or false", val.Line, key)
		}
		if key == "tokenEndpoint" {
			out.TokenEndpoint = b
			continue
		}
		out.Origins[strings.ToLower(key)] = b
	}
	*c = out
	return nil
}

// Validate checks the endings; errors name the key.
func (c Config) Validate() error {
	for k := range c.Origins {
		if !endingRE.MatchString(k) {
			return fmt.Errorf("cors.%s: not a host name or a host ending such as .example.com", k)
		}
	}
	return nil
}

// Enabled reports whether any origin is allowed.
func (c Config) Enabled() bool {
	for _, allow := range c.Origins {
		if allow {
			return true
		}
	}
	return false
}

// Allowed reports whether a request from origin (scheme://host[:port]) may
// read responses. An ending with a leading dot matches subdomains only
// (".example.com" matches "app.example.com"); one without a dot matches
// that host and its subdomains ("localhost" matches "localhost" and
// "app.localhost", not "evillocalhost"). The longest match wins, so
// ".evil.example.com: false" carves a hole out of ".example.com: true".
func (c Config) Allowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	best, allow := -1, false
	for k, v := range c.Origins {
		if matches(host, k) && len(k) > best {
			best, allow = len(k), v
		}
	}
	return allow
}

func matches(host, ending string) bool {
	if strings.HasPrefix(ending, ".") {
		return strings.HasSuffix(host, ending)
	}
	return host == ending || strings.HasSuffix(host, "."+ending)
}

// Middleware adds CORS headers for allowed origins on the paths that
// covered accepts, and answers their preflight requests. Other requests
// pass through untouched.
func (c Config) Middleware(covered func(r *http.Request) bool) func(http.Handler) http.Handler {
	if !c.Enabled() {
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !covered(r) {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			// Caches must key on Origin: the answer differs per origin,
			// including no Origin at all.
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			allowed := c.Allowed(origin)
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				if !allowed {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusForbidden)
					_, _ = w.Write([]byte(`{"error":"forbidden","message":"this origin is not allowed (see the cors setting)"}` + "\n"))
					return
				}
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", "ETag, WWW-Authenticate")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// String lists the configuration for logs.
func (c Config) String() string {
	var parts []string
	for k, v := range c.Origins {
		parts = append(parts, k+"="+strconv.FormatBool(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
