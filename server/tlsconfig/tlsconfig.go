// Package tlsconfig loads tokenwright's serving certificate from PEM,
// PKCS#12 or a Java keystore, and keeps it fresh: a Reloader hands the
// current certificate to crypto/tls through GetCertificate, so replacing
// the files (or sending SIGHUP) changes the certificate for new
// connections while established ones carry on undisturbed.
package tlsconfig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"github.com/rs/zerolog"
	"software.sslmate.com/src/go-pkcs12"
)

// Source names where the certificate comes from; exactly one of Cert+Key,
// PKCS12 or JKS is set. It is the `tls` block of the configuration.
type Source struct {
	Cert   string `yaml:"cert"`   // PEM certificate chain, leaf first
	Key    string `yaml:"key"`    // PEM private key (PKCS#1, PKCS#8 or SEC 1)
	PKCS12 string `yaml:"pkcs12"` // .p12/.pfx file
	JKS    string `yaml:"jks"`    // Java keystore
	// Password unlocks PKCS12 or JKS; PasswordFile is preferred (the
	// password then never sits in the configuration or the environment).
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"passwordFile"`
	// Alias selects the JKS private-key entry; empty means the only one.
	Alias string `yaml:"alias"`
	// AllowExpired serves a certificate outside its validity period (with
	// a warning) instead of refusing it. Every client refuses such a
	// certificate, so this is only for a deliberate stopgap.
	AllowExpired bool `yaml:"allowExpired"`
}

// Enabled reports whether TLS is configured at all.
func (s Source) Enabled() bool { return s.Cert != "" || s.Key != "" || s.PKCS12 != "" || s.JKS != "" }

// Validate checks the combination of settings; errors name the key under
// prefix (e.g. "tls").
func (s Source) Validate(prefix string) error {
	if !s.Enabled() {
		if s.Password != "" || s.PasswordFile != "" || s.Alias != "" {
			return fmt.Errorf("%s: password, passwordFile and alias need %s.pkcs12 or %s.jks", prefix, prefix, prefix)
		}
		if s.AllowExpired {
			return fmt.Errorf("%s.allowExpired needs a certificate (%s.cert, %s.pkcs12 or %s.jks)", prefix, prefix, prefix, prefix)
		}
		return nil
	}
	kinds := 0
	for _, set := range []bool{s.Cert != "" || s.Key != "", s.PKCS12 != "", s.JKS != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return fmt.Errorf("%s: set only one of cert+key, pkcs12 or jks", prefix)
	case (s.Cert == "") != (s.Key == ""):
		return fmt.Errorf("%s.cert and %s.key must be set together", prefix, prefix)
	case s.Cert != "" && (s.Password != "" || s.PasswordFile != ""):
		return fmt.Errorf("%s.password: PEM keys must be unencrypted; use pkcs12 or jks for a password-protected key", prefix)
	case s.Password != "" && s.PasswordFile != "":
		return fmt.Errorf("%s: set only one of password and passwordFile", prefix)
	case s.Alias != "" && s.JKS == "":
		return fmt.Errorf("%s.alias applies to jks only", prefix)
	}
	return nil
}

// files are the paths whose contents determine the certificate.
func (s Source) files() []string {
	var out []string
	for _, f := range []string{s.Cert, s.Key, s.PKCS12, s.JKS, s.PasswordFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// certificateFile names the setting and the file the certificate comes from.
func (s Source) certificateFile() (setting, path string) {
	switch {
	case s.PKCS12 != "":
		return "tls.pkcs12", s.PKCS12
	case s.JKS != "":
		return "tls.jks", s.JKS
	}
	return "tls.cert", s.Cert
}

func (s Source) password() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	data, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading tls.passwordFile: %w", err)
	}
	// A trailing newline from `echo secret > file` is not part of it.
	return strings.TrimRight(string(data), "\r\n"), nil
}

// Load reads the certificate and key and checks that they belong together.
func Load(s Source) (*tls.Certificate, error) {
	var (
		cert tls.Certificate
		err  error
	)
	switch {
	case s.Cert != "":
		cert, err = tls.LoadX509KeyPair(s.Cert, s.Key)
		if err != nil {
			return nil, fmt.Errorf("loading tls.cert/tls.key: %w", err)
		}
	case s.PKCS12 != "":
		cert, err = loadPKCS12(s)
	case s.JKS != "":
		cert, err = loadJKS(s)
	default:
		return nil, errors.New("tls: no certificate configured")
	}
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: parsing the certificate: %w", err)
		}
	}
	return &cert, nil
}

func loadPKCS12(s Source) (tls.Certificate, error) {
	data, err := os.ReadFile(s.PKCS12)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading tls.pkcs12: %w", err)
	}
	pw, err := s.password()
	if err != nil {
		return tls.Certificate{}, err
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, pw)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("decoding tls.pkcs12 %s (wrong password?): %w", s.PKCS12, err)
	}
	der := [][]byte{leaf.Raw}
	for _, c := range chain {
		der = append(der, c.Raw)
	}
	return assemble(der, key, "tls.pkcs12")
}

func loadJKS(s Source) (tls.Certificate, error) {
	data, err := os.ReadFile(s.JKS)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading tls.jks: %w", err)
	}
	pw, err := s.password()
	if err != nil {
		return tls.Certificate{}, err
	}
	ks := keystore.New()
	if err := ks.Load(bytes.NewReader(data), []byte(pw)); err != nil {
		return tls.Certificate{}, fmt.Errorf("loading tls.jks %s (wrong password?): %w", s.JKS, err)
	}
	alias := s.Alias
	if alias == "" {
		var keys []string
		for _, a := range ks.Aliases() {
			if ks.IsPrivateKeyEntry(a) {
				keys = append(keys, a)
			}
		}
		if len(keys) != 1 {
			return tls.Certificate{}, fmt.Errorf("tls.jks %s holds %d private keys %v: set tls.alias", s.JKS, len(keys), keys)
		}
		alias = keys[0]
	}
	// keytool uses the store password for the key unless told otherwise.
	entry, err := ks.GetPrivateKeyEntry(alias, []byte(pw))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls.alias %q in %s: %w", alias, s.JKS, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls.jks: parsing the private key of %q: %w", alias, err)
	}
	var der [][]byte
	for _, c := range entry.CertificateChain {
		der = append(der, c.Content)
	}
	return assemble(der, key, "tls.jks")
}

// assemble builds a tls.Certificate and checks that the key matches the
// leaf, which tls.X509KeyPair does for PEM but nothing does for the others.
func assemble(der [][]byte, key any, setting string) (tls.Certificate, error) {
	if len(der) == 0 {
		return tls.Certificate{}, fmt.Errorf("%s: no certificate", setting)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: parsing the certificate: %w", setting, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("%s: unsupported private key type %T", setting, key)
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return tls.Certificate{}, fmt.Errorf("%s: the private key does not match the certificate", setting)
	}
	return tls.Certificate{Certificate: der, PrivateKey: signer, Leaf: leaf}, nil
}

// ExpiryWarning is how long before its end a certificate is announced at
// warn level, at start and on every reload: two weeks leaves time to renew
// before the clients (Domino among them) refuse it.
const ExpiryWarning = 14 * 24 * time.Hour

// ValidityError is a certificate outside its validity period. Its text
// names the setting, the file and the date, and says how to serve it
// anyway.
type ValidityError struct {
	Setting, File       string
	NotBefore, NotAfter time.Time
	Now                 time.Time
}

// Expired tells an expired certificate from one that is not yet valid.
func (e *ValidityError) Expired() bool { return e.Now.After(e.NotAfter) }

func (e *ValidityError) Error() string {
	const day = "2006-01-02 15:04:05 UTC"
	what := fmt.Sprintf("expired on %s", e.NotAfter.UTC().Format(day))
	if !e.Expired() {
		what = fmt.Sprintf("is not valid before %s", e.NotBefore.UTC().Format(day))
	}
	return fmt.Sprintf("%s %s: the certificate %s (now %s); clients refuse it: replace it, or set tls.allowExpired: true to serve it anyway",
		e.Setting, e.File, what, e.Now.UTC().Format(day))
}

// CheckValidity returns a *ValidityError if the certificate is outside its
// validity period at now (crypto/x509's rule: NotBefore <= now <= NotAfter).
func CheckValidity(s Source, leaf *x509.Certificate, now time.Time) error {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		setting, file := s.certificateFile()
		return &ValidityError{Setting: setting, File: file, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Now: now}
	}
	return nil
}

// Reloader serves the current certificate and replaces it when its files
// change or Reload is called. A failed reload keeps the old certificate.
type Reloader struct {
	src Source
	log zerolog.Logger

	current atomic.Pointer[tls.Certificate]
	mu      sync.Mutex // serialises reloads
	stamp   [sha256.Size]byte
}

// NewReloader loads the certificate once; an error here is a startup error.
func NewReloader(src Source, log zerolog.Logger) (*Reloader, error) {
	r := &Reloader{src: src, log: log}
	stamp, err := r.fingerprint()
	if err != nil {
		return nil, err
	}
	cert, err := r.load()
	if err != nil {
		return nil, err
	}
	r.stamp = stamp
	r.current.Store(cert)
	return r, nil
}

// load reads the certificate and judges its validity: outside its validity
// period it is refused unless AllowExpired, and it is logged (with a
// warning when it is invalid or ends within ExpiryWarning). The wall clock
// decides, not an injected one: it is what every client judges it by.
func (r *Reloader) load() (*tls.Certificate, error) {
	cert, err := Load(r.src)
	if err != nil {
		return nil, err
	}
	leaf, now := cert.Leaf, time.Now()
	invalid := CheckValidity(r.src, leaf, now)
	if invalid != nil && !r.src.AllowExpired {
		return nil, invalid
	}
	r.log.Info().Str("subject", leaf.Subject.String()).Time("not_after", leaf.NotAfter).
		Str("serial", leaf.SerialNumber.String()).Msg("TLS certificate loaded")
	switch left := leaf.NotAfter.Sub(now); {
	case invalid != nil:
		r.log.Warn().Err(invalid).Time("not_before", leaf.NotBefore).Time("not_after", leaf.NotAfter).
			Msg("TLS certificate expired or not yet valid, served anyway (tls.allowExpired): clients will refuse it")
	case left < ExpiryWarning:
		r.log.Warn().Time("not_after", leaf.NotAfter).Str("subject", leaf.Subject.String()).
			Msgf("TLS certificate expires in %d days: renew it", int(math.Ceil(left.Hours()/24)))
	}
	return cert, nil
}

// Certificate returns the certificate in use.
func (r *Reloader) Certificate() *tls.Certificate { return r.current.Load() }

// GetCertificate is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// fingerprint hashes the contents of the source files. Contents rather than
// mtime and size: a replacement certificate often has the same size, and
// copies can preserve the old mtime.
func (r *Reloader) fingerprint() ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, f := range r.src.files() {
		data, err := os.ReadFile(f)
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("tls: %w", err)
		}
		sum := sha256.Sum256(data)
		h.Write(sum[:])
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// Reload loads the files now. On failure the old certificate stays in use
// and the error is logged and returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, _ := r.fingerprint()
	return r.reloadLocked(stamp)
}

func (r *Reloader) reloadLocked(stamp [sha256.Size]byte) error {
	// Remember what was tried, so that a broken file is reported once and
	// retried only when it changes again.
	r.stamp = stamp
	cert, err := r.load()
	if err != nil {
		r.log.Error().Err(err).Msg("TLS certificate reload failed; still serving the previous certificate")
		return err
	}
	r.current.Store(cert)
	return nil
}

// Watch polls the files every interval until ctx ends and reloads when
// their contents change. Polling (rather than inotify) also works for
// Kubernetes secret volumes, whose files change by symlink swaps.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp, err := r.fingerprint()
		if err != nil {
			continue // mid-replacement; try again next tick
		}
		r.mu.Lock()
		if stamp != r.stamp {
			_ = r.reloadLocked(stamp)
		}
		r.mu.Unlock()
	}
}

// ServerConfig returns the TLS configuration for serving: TLS 1.2 at least,
// AEAD cipher suites with forward secrecy for TLS 1.2 (TLS 1.3 suites are
// not configurable and all modern), HTTP/2 and HTTP/1.1 by ALPN.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
