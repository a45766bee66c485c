package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/tokenwright/tokenwright/server/clientip"
)

// DominoConfig is the `domino` block: what every Domino-profile token
// needs to be accepted by the organisation's Domino servers.
type DominoConfig struct {
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
	if c.TLS.Enabled() && !strings.HasPrefix(c.Issuer, "https://") {
		bad("issuer", "must be an https URL when tls is configured, got %q", c.Issuer)
	}
	if c.HealthListen != "" {
		if _, _, err := net.SplitHostPort(c.HealthListen); err != nil {
			bad("healthListen", "must be host:port, got %q", c.HealthListen)
		} else if c.HealthListen == c.Listen {
			bad("healthListen", "must differ from listen")
		}
	}
	if _, err := clientip.ParseProxies(c.TrustedProxies); err != nil {
		bad("trustedProxies", "%v", err)
	}
	if err := c.CORS.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, site := range c.Domino.Sites {
		if err := ValidateDominoSite(site); err != nil {
			bad("domino.sites", "%v", err)
		}
	}
	return errs
}

// ValidateDominoSite requires https://host[:port] exactly: Domino compares
// "aud" with the Internet Site's URL, and how it treats a path or a
// trailing slash is undocumented, so neither is accepted.
func ValidateDominoSite(site string) error {
	u, err := url.Parse(site)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q must be an https URL such as https://domino.example.com", site)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return errors.New(site + ": must be https://host or https://host:port, without a path or trailing slash")
	}
	if u.Host != strings.ToLower(u.Host) {
		return errors.New(site + ": write the host name in lower case")
	}
	return nil
}
