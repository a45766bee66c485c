package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/duration"
)

const defaultServer = "http://127.0.0.1:8080"

// conn holds the flags every admin command shares.
type conn struct {
	server, token, tokenFile, output string
}

func (c *conn) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.server, "server", "", "tokenwright URL (env TOKENWRIGHT_SERVER; default "+defaultServer+")")
	f.StringVar(&c.token, "token", "", "personal access token (env TOKENWRIGHT_TOKEN); prefer --token-file")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding the personal access token (env TOKENWRIGHT_TOKEN_FILE)")
	f.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
}

func (c *conn) serverURL(getenv env) string {
	return firstOf(c.server, getenv.Get("TOKENWRIGHT_SERVER"), defaultServer)
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
	if c.output != "table" && c.output != "json" {
		return nil, fmt.Errorf("--output must be table or json, got %q", c.output)
	}
	token := firstOf(c.token, getenv.Get("TOKENWRIGHT_TOKEN"))
	if token == "" {
		file := firstOf(c.tokenFile, getenv.Get("TOKENWRIGHT_TOKEN_FILE"))
		if file == "" {
			return nil, errors.New("no credentials: pass --token-file FILE or set TOKENWRIGHT_TOKEN (the first admin token is in DATA/admin.token)")
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading token file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	return client.New(c.serverURL(getenv), token, nil)
}

// print writes v as JSON, or calls table with a tabwriter.
func (c *conn) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if c.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
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
			return fmt.Errorf("--expires-in: %w", err)
		}
		secs := int64(d.Seconds())
		in.ExpiresIn = &secs
	}
	return nil
}

// printSecret shows a freshly issued secret with the one-time warning.
func printSecret(tw *tabwriter.Writer, k api.KeyWithSecret, lines ...[2]string) {
	for _, l := range lines {
		fmt.Fprintf(tw, "%s:\t%s\n", l[0], l[1])
	}
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
