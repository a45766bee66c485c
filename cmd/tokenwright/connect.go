package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/duration"
)

const defaultServer = "http://127.0.0.1:8080"

// serverUsage is the --server flag's help where the URL is just where the
// server is (domino check says more: it compares it with the issuer).
const serverUsage = "tokenwright URL (env TOKENWRIGHT_SERVER; default " + defaultServer + ")"

// endpoint is how a command reaches a tokenwright server: its URL and the
// CAs its certificate must chain to. Every command that talks to a server
// registers it, so --server and --cacert mean the same everywhere.
type endpoint struct {
	server, caFile string
}

func (e *endpoint) registerEndpoint(f *pflag.FlagSet, serverHelp string) {
	f.StringVar(&e.server, "server", "", serverHelp)
	f.StringVar(&e.caFile, "cacert", "", "PEM file of the CAs to trust for the server's certificate, instead of the system roots "+
		"(which SSL_CERT_FILE / SSL_CERT_DIR replace)")
}

func (e *endpoint) serverURL(getenv env) string {
	return firstOf(e.server, getenv.Get("TOKENWRIGHT_SERVER"), defaultServer)
}

// httpClient trusts the system roots (Go reads SSL_CERT_FILE and
// SSL_CERT_DIR on Linux), or only the CAs in --cacert, as curl's --cacert
// does. A certificate from an unknown CA fails with a hint at both.
func (e *endpoint) httpClient() (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if e.caFile != "" {
		pem, err := os.ReadFile(e.caFile)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert: no PEM certificates in %s", e.caFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: buildinfo.Transport(trustHint{t})}, nil
}

// trustHint adds what to do to an "unknown authority" error.
type trustHint struct{ next http.RoundTripper }

func (h trustHint) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	var unknown x509.UnknownAuthorityError
	if err != nil && errors.As(err, &unknown) {
		return nil, &untrustedError{err}
	}
	return resp, err
}

// untrustedError is a TLS failure because no trusted CA signed the
// server's certificate.
type untrustedError struct{ err error }

func (e *untrustedError) Error() string {
	return e.err.Error() + " (the server's certificate is not signed by a CA this host trusts: pass --cacert FILE with that CA, or set SSL_CERT_FILE)"
}

func (e *untrustedError) Unwrap() error { return e.err }

// conn holds the flags every admin command shares.
type conn struct {
	endpoint
	token, tokenFile, output string
}

func (c *conn) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	c.registerConnection(f, serverUsage)
	f.StringVarP(&c.output, "output", "o", "table", "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// registerConnection registers the endpoint and the admin credentials.
func (c *conn) registerConnection(f *pflag.FlagSet, serverHelp string) {
	c.registerEndpoint(f, serverHelp)
	f.StringVar(&c.token, "token", "", "personal access token (env TOKENWRIGHT_TOKEN); prefer --token-file")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding the personal access token (env TOKENWRIGHT_TOKEN_FILE)")
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func (c *conn) client(getenv env) (*client.Client, error) {
	cl, _, err := c.requiredClient(getenv)
	return cl, err
}

// requiredClient is adminClient for a command that needs it: --output is
// checked first, and no credential at all is an error.
func (c *conn) requiredClient(getenv env) (*client.Client, *storedLogin, error) {
	if !slices.Contains(outputFormats, c.output) {
		return nil, nil, usageErrorf("--output must be table, json or yaml, got %q", c.output)
	}
	cl, login, err := c.adminClient(getenv)
	if err == nil && cl == nil {
		err = errors.New("no credentials: pass --token-file FILE or set TOKENWRIGHT_TOKEN (the first admin token is in DATA/admin.token), " +
			"or run tokenwright login (single sign-on)")
	}
	return cl, login, err
}

// optionalClient is the admin API client, or nil if no credential is
// given (for commands that use the API only when they may; an expired
// stored login counts as none).
func (c *conn) optionalClient(getenv env) (*client.Client, error) {
	cl, _, err := c.adminClient(getenv)
	if expired := (*loginExpiredError)(nil); errors.As(err, &expired) {
		return nil, nil
	}
	return cl, err
}

// adminClient is the admin API client with the first credential given:
// --token, TOKENWRIGHT_TOKEN, --token-file, TOKENWRIGHT_TOKEN_FILE, then
// the login `tokenwright login` stored for the server (login is nil when a
// token was given). It is nil if there is none; an expired stored login is
// a loginExpiredError.
func (c *conn) adminClient(getenv env) (cl *client.Client, login *storedLogin, err error) {
	token := firstOf(c.token, getenv.Get("TOKENWRIGHT_TOKEN"))
	if file := firstOf(c.tokenFile, getenv.Get("TOKENWRIGHT_TOKEN_FILE")); token == "" && file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("reading token file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	server := c.serverURL(getenv)
	if token == "" {
		l, ok, err := loginFor(getenv, server)
		if err != nil || !ok {
			return nil, nil, err
		}
		if !time.Now().Before(l.ExpiresAt) {
			return nil, nil, &loginExpiredError{server: loginKey(server), at: l.ExpiresAt}
		}
		token, login = l.Token, &l
	}
	hc, err := c.httpClient()
	if err != nil {
		return nil, nil, err
	}
	cl, err = client.New(server, token, hc)
	return cl, login, err
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setExpiry turns --expires-in (a duration, "never", or empty for the
// server default) into the API's fields.
func setExpiry(in *api.CreateKey, expiresIn string) error {
	switch expiresIn {
	case "":
	case "never":
		in.NeverExpires = true
	default:
		d, err := duration.Parse(expiresIn)
		if err != nil {
			return usageErrorf("--expires-in: %w", err)
		}
		secs := int64(d.Seconds())
		in.ExpiresIn = &secs
	}
	return nil
}

// printSecret shows a freshly issued secret with the one-time warning.
func printSecret(tw *tabwriter.Writer, k api.KeyWithSecret, lines ...field) {
	fields(tw, lines...)
	if k.ClientSecret == "" {
		fmt.Fprintf(tw, "Authentication:\t%s (registered public key %s)\n", k.AuthMethod, publicKeyID(k.PublicKey))
		return
	}
	fmt.Fprintf(tw, "Secret:\t%s\n", k.ClientSecret)
	fmt.Fprintln(tw, "\nStore the secret now: it is not stored by the server and will not be shown again.")
}

// publicKeyID is the kid of a registered public JWK, for display.
func publicKeyID(jwk json.RawMessage) string {
	var k struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(jwk, &k)
	return k.KID
}
