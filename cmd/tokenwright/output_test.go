package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

// TestRunChecksBeforeItCalls: an admin command refuses a bad --output or
// missing credentials before it asks the server anything, and prints what
// the call returns as JSON or as its table.
func TestRunChecksBeforeItCalls(t *testing.T) {
	for _, c := range []struct {
		name, output string
		getenv       env
		want         string // output, or the error
		called       bool
	}{
		{"bad output", "xml", env{"TOKENWRIGHT_TOKEN=x"}, `--output must be table, json or yaml, got "xml"`, false},
		{"no credentials", "table", nil, "no credentials: pass --token-file FILE", false},
		{"table", "table", env{"TOKENWRIGHT_TOKEN=x"}, "A  B\n1  two\n", true},
		{"json", "json", env{"TOKENWRIGHT_TOKEN=x"}, "{\n  \"a\": 1\n}\n", true},
		{"yaml", "yaml", env{"TOKENWRIGHT_TOKEN=x"}, "a: 1\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := conn{output: c.output}
			called := false
			run := conn.run(c.getenv, func(*cobra.Command, []string, *client.Client) (view, error) {
				called = true
				return view{map[string]int{"a": 1}, func(tw *tabwriter.Writer) { tw.Write([]byte("A\tB\n1\ttwo\n")) }}, nil
			})
			var out bytes.Buffer
			cmd := &cobra.Command{}
			cmd.SetOut(&out)
			err := run(cmd, nil)
			got := out.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.HasPrefix(got, c.want) || called != c.called {
				t.Errorf("got %q (called %v), want %q (called %v)", got, called, c.want, c.called)
			}
		})
	}
}

// TestKeyTables: the account-key and personal-access-token tables share
// their columns; the token table names the user instead of describing.
func TestKeyTables(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 0, 0, time.Local)
	used := created.Add(time.Hour)
	keys := []api.Key{
		{ID: "k1", Name: "ci", ClientID: "alice", Status: api.KeyExpiringSoon, CreatedAt: created, LastUsedAt: &used, LastUsedIP: "10.0.0.1"},
		{ID: "k2", Name: "old", ClientID: "alice", Status: api.KeyRevoked, CreatedAt: created, Description: "gone"},
	}
	for _, c := range []struct {
		name string
		cols []column[api.Key]
		want string
	}{
		{"key", keyColumns, "" +
			"ID  NAME  STATUS         CREATED           EXPIRES  LAST USED                       DESCRIPTION\n" +
			"k1  ci    expiring soon  2026-01-02 03:04  never    2026-01-02 04:04 from 10.0.0.1  -\n" +
			"k2  old   revoked        2026-01-02 03:04  never    never                           gone\n"},
		{"pat", patColumns, "" +
			"ID  USER   NAME  STATUS         CREATED           EXPIRES  LAST USED\n" +
			"k1  alice  ci    expiring soon  2026-01-02 03:04  never    2026-01-02 04:04 from 10.0.0.1\n" +
			"k2  alice  old   revoked        2026-01-02 03:04  never    never\n"},
	} {
		var out bytes.Buffer
		tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
		rows(c.cols, keys)(tw)
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("%s table:\n%s\nwant:\n%s", c.name, out.String(), c.want)
		}
	}
}
