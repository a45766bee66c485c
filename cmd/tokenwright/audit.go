package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

func newAuditCommand(getenv env) *cobra.Command {
	var c conn
	var q client.AuditQuery
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit trail (administrators)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(getenv)
			if err != nil {
				return err
			}
			raw, err := cl.ListAudit(cmd.Context(), q)
			if err != nil {
				return err
			}
			type event struct {
				ID, Actor, Action, Target, SourceIP, Result string
				Time                                        string
			}
			events := make([]event, 0, len(raw))
			for _, r := range raw {
				var e event
				if err := json.Unmarshal(r, &e); err != nil {
					return err
				}
				events = append(events, e)
			}
			return c.print(cmd.OutOrStdout(), api.List[json.RawMessage]{Items: raw}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tTARGET\tRESULT\tFROM")
				for _, e := range events {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Actor, e.Action, dash(e.Target), e.Result, dash(e.SourceIP))
				}
			})
		},
	}
	c.register(cmd)
	f := cmd.Flags()
	f.StringVar(&q.Actor, "actor", "", "only events by this user")
	f.StringVar(&q.Action, "action", "", "only this action (a trailing * matches a prefix, e.g. key.*)")
	f.StringVar(&q.Target, "target", "", "only events about this account or user")
	f.IntVar(&q.Limit, "limit", 100, "at most this many events")
	return cmd
}
