package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tokenwright/tokenwright/pkg/client"
)

// view is what an admin command shows: value with -o json or -o yaml,
// table with -o table (the default).
type view struct {
	value any
	table func(tw *tabwriter.Writer)
}

// run is the RunE of an admin command. The steps every such command
// shares live here, so that they happen in the same order everywhere:
// check --output and the credentials before anything else, then call the
// server, then print its answer in the chosen format. do is the part that
// differs: what to ask and how to show the answer.
func (c *conn) run(getenv env, do func(cmd *cobra.Command, args []string, cl *client.Client) (view, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cl, err := c.client(getenv)
		if err != nil {
			return err
		}
		v, err := do(cmd, args, cl)
		if err != nil {
			return err
		}
		return c.print(cmd.OutOrStdout(), v.value, v.table)
	}
}

// outputFormats are the values of -o on the commands that print data.
var outputFormats = []string{"table", "json", "yaml"}

// print writes v as JSON or YAML, or calls table with a tabwriter.
func (c *conn) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch c.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		return writeYAML(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// writeYAML writes v as the YAML form of its JSON, so both formats have
// the same field names (the API types' json tags) in the same order.
func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	// JSON is YAML in flow style with quoted strings; block style reads
	// better. The encoder still quotes a string that would otherwise read
	// as another type ("true", a timestamp).
	var block func(n *yaml.Node)
	block = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			block(c)
		}
	}
	block(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// column is one column of a table whose rows are Ts.
type column[T any] struct {
	head string
	cell func(T) string
}

// rows shows items as a table: a header line of the column heads, then a
// line per item.
func rows[T any](cols []column[T], items []T) func(tw *tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = c.head
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		for _, it := range items {
			for i, c := range cols {
				cells[i] = c.cell(it)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
}

// field is one "Label: value" line of a record shown on its own.
type field struct{ label, value string }

// fields shows one record, a "Label: value" line per field.
func fields(tw *tabwriter.Writer, fs ...field) {
	for _, f := range fs {
		fmt.Fprintf(tw, "%s:\t%s\n", f.label, f.value)
	}
}

// message is a table that is one sentence.
func message(format string, a ...any) func(tw *tabwriter.Writer) {
	return func(tw *tabwriter.Writer) { fmt.Fprintf(tw, format, a...) }
}

// deleted is the view of a deletion: {"deleted": name} as JSON, or the
// sentence format (with name for its %s).
func deleted(name, format string) view {
	return view{map[string]string{"deleted": name}, message(format, name)}
}
