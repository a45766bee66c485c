package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build identity: version, commit, build date, Go version",
		Example: `  tokenwright version
  tokenwright version -o json    # {"version":"v1.2.3","commit":"…","date":"…","go":"go1.26.8"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := buildinfo.Read()
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			case "table", "text":
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "Version:\t%s\nCommit:\t%s\nDate:\t%s\nGo:\t%s\n", b.Version, b.Commit, b.Date, b.Go)
				return tw.Flush()
			}
			return fmt.Errorf("--output must be table or json, got %q", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}
