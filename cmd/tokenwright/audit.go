package main

import (
	"encoding/json"

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
		RunE: c.run(getenv, func(cmd *cobra.Command, _ []string, cl *client.Client) (view, error) {
			raw, err := cl.ListAudit(cmd.Context(), q)
			if err != nil {
				return view{}, err
			}
			events := make([]auditRow, 0, len(raw))
			for _, r := range raw {
				var e auditRow
				if err := json.Unmarshal(r, &e); err != nil {
					return view{}, err
				}
				events = append(events, e)
			}
			return view{api.List[json.RawMessage]{Items: raw}, rows(auditColumns, events)}, nil
		}),
	}
	c.register(cmd)
	f := cmd.Flags()
	f.StringVar(&q.Actor, "actor", "", "only events by this user")
	f.StringVar(&q.Action, "action", "", "only this action (a trailing * matches a prefix, e.g. key.*)")
	f.StringVar(&q.Target, "target", "", "only events about this account or user")
	f.IntVar(&q.Limit, "limit", 100, "at most this many events")
	return cmd
}

// auditRow is what the audit table shows of an event.
type auditRow struct {
	ID, Actor, Action, Target, SourceIP, Result string
	Time                                        string
}

var auditColumns = []column[auditRow]{
	{"TIME", func(e auditRow) string { return e.Time }},
	{"ACTOR", func(e auditRow) string { return e.Actor }},
	{"ACTION", func(e auditRow) string { return e.Action }},
	{"TARGET", func(e auditRow) string { return dash(e.Target) }},
	{"RESULT", func(e auditRow) string { return e.Result }},
	{"FROM", func(e auditRow) string { return dash(e.SourceIP) }},
}
