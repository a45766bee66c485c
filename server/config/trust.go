package config

import (
	"fmt"
	"net"
	"strings"

	"github.com/tokenwright/tokenwright/server/clientip"
	"github.com/tokenwright/tokenwright/server/domino"
)

// Domino is the `domino` block: what every Domino-profile token
// needs to be accepted by the organisation's Domino servers.
type Domino struct {
	// Sites are the Domino Internet Site URLs (https://host[:port]) that
	// every Domino-profile account may target and gets in "aud" by
	// default; an account's own allowedAudiences replace them.
	Sites []string `yaml:"sites"`
	// RestAPI adds the Domino REST API's default audience "Domino".
	RestAPI bool `yaml:"restApi"`
}

// validateTrust checks the settings of the transport and Domino trust
// (TLS, proxies, CORS, Domino sites); every error names its key.
func (c *Config) validateTrust() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, fmt.Errorf(key+": "+format, args...)) }
	if err := c.TLS.Validate("tls"); err != nil {
		errs = append(errs, err)
	}
	if c.TLS.Enabled() && c.Issuer != "" && !strings.HasPrefix(c.Issuer, "https://") {
		bad("issuer", "must be an https URL when tls is configured, got %q", c.Issuer)
	}
	if c.HealthListen != "" {
		if _, _, err := net.SplitHostPort(c.HealthListen); err != nil {
			bad("healthListen", "must be host:port, got %q", c.HealthListen)
		} else if c.HealthListen == c.Listen {
			bad("healthListen", "must differ from listen")
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metricsListen", "must be host:port, got %q", c.MetricsListen)
		} else if c.MetricsListen == c.Listen || c.MetricsListen == c.HealthListen {
			bad("metricsListen", "must differ from listen and healthListen")
		}
	}
	if _, err := clientip.ParseProxies(c.TrustedProxies); err != nil {
		bad("trustedProxies", "%v", err)
	}
	if err := c.CORS.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, site := range c.Domino.Sites {
		if err := domino.ValidateSite(site); err != nil {
			bad("domino.sites", "%v", err)
		}
	}
	return errs
}
