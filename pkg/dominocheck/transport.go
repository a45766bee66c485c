package dominocheck

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

const wellKnown = "/.well-known/openid-configuration"

// dateFormat is how dates appear in results.
const dateFormat = "2006-01-02 15:04 UTC"

func date(t time.Time) string { return t.UTC().Format(dateFormat) }

// fetchBase is where discovery is fetched from for a Base URL as entered:
// without trailing slashes or a /.well-known suffix, so that the remaining
// rules can still be checked when the Base URL itself is wrong (which the
// issuer rule reports).
func fetchBase(base string) string {
	return strings.TrimRight(strings.TrimSuffix(strings.TrimRight(base, "/"), wellKnown), "/")
}

// baseURLDifference says how the idpcat Base URL differs from the issuer,
// compared byte for byte as Domino compares iss with it; "" if they are
// equal.
func baseURLDifference(base, issuer string) string {
	if base == issuer {
		return ""
	}
	switch {
	case strings.TrimRight(base, "/") == issuer:
		return fmt.Sprintf("the Base URL %q ends with %q, the issuer %q does not", base, base[len(issuer):], issuer)
	case strings.TrimRight(issuer, "/") == base:
		return fmt.Sprintf("the issuer %q ends with %q, the Base URL %q does not", issuer, issuer[len(base):], base)
	case strings.TrimSuffix(strings.TrimRight(base, "/"), wellKnown) == issuer:
		return fmt.Sprintf("the Base URL %q includes %s (Domino 12.0.2 refuses it); the issuer is %q", base, wellKnown, issuer)
	case strings.EqualFold(base, issuer):
		return fmt.Sprintf("the Base URL %q and the issuer %q differ in upper and lower case", base, issuer)
	}
	b, errB := url.Parse(base)
	i, errI := url.Parse(issuer)
	if errB == nil && errI == nil {
		switch {
		case b.Scheme != i.Scheme:
			return fmt.Sprintf("the Base URL %q uses %s, the issuer %q uses %s", base, b.Scheme, issuer, i.Scheme)
		case b.Host != i.Host && b.Hostname() == i.Hostname():
			return fmt.Sprintf("the Base URL %q has port %q, the issuer %q has %q (an explicit default port is not the same string)",
				base, b.Port(), issuer, i.Port())
		case b.Host != i.Host:
			return fmt.Sprintf("the Base URL %q names host %s, the issuer %q names %s", base, b.Host, issuer, i.Host)
		case b.Path != i.Path:
			return fmt.Sprintf("the Base URL %q has path %q, the issuer %q has %q", base, b.Path, issuer, i.Path)
		}
	}
	n := 0
	for n < len(base) && n < len(issuer) && base[n] == issuer[n] {
		n++
	}
	return fmt.Sprintf("the Base URL %q and the issuer %q differ from byte %d on", base, issuer, n)
}

// certificateResult reports the certificate the server presented.
func (c *checker) certificateResult(state *tls.ConnectionState) {
	if state == nil || len(state.PeerCertificates) == 0 {
		return
	}
	leaf := state.PeerCertificates[0]
	days := int(leaf.NotAfter.Sub(c.now).Hours() / 24)
	c.pass("TLS certificate", fmt.Sprintf("%s, valid until %s (%d days), chain trusted", leaf.Subject, date(leaf.NotAfter), days))
}

// transportFailure reports a failed fetch, telling certificate problems
// apart by their x509 error types: each has its own fix.
func (c *checker) transportFailure(rule string, err error) {
	var (
		invalid x509.CertificateInvalidError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
	)
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		cert := invalid.Cert
		if c.now.Before(cert.NotBefore) {
			c.fail("TLS certificate", fmt.Sprintf("the server's certificate (%s) is not valid before %s", cert.Subject, date(cert.NotBefore)),
				"check the clock of this host and of the server (NTP); Domino refuses a certificate that is not yet valid")
			return
		}
		c.fail("TLS certificate", fmt.Sprintf("the server's certificate (%s) expired on %s", cert.Subject, date(cert.NotAfter)),
			"renew the certificate: Domino refuses an expired one, so it fetches neither discovery nor keys (ERR_BSAFE_NON_EXISTENT)")
	case errors.As(err, &unknown):
		issuer := "an unknown CA"
		if unknown.Cert != nil {
			issuer = fmt.Sprintf("%q", unknown.Cert.Issuer.String())
		}
		c.fail("TLS certificate", fmt.Sprintf("the server's certificate is signed by %s, which is not trusted here", issuer),
			"serve a certificate chaining to a CA in Domino's cacert.pem (test with --cacert FILE, Domino's cacert.pem)")
	case errors.As(err, &host):
		c.fail("TLS certificate", fmt.Sprintf("the server's certificate is not for %s: %v", host.Host, host),
			"serve a certificate whose names include the Base URL's host")
	default:
		c.fail(rule, err.Error(), "make the issuer reachable from Domino (DNS, firewall, proxy)")
	}
}
