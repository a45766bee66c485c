package main

import (
	"time"

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
			events, err := cl.ListAudit(cmd.Context(), q)
			if err != nil {
				return view{}, err
			}
			return view{api.List[api.AuditEvent]{Items: events}, rows(auditColumns, events)}, nil
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

var auditColumns = []column[api.AuditEvent]{
	{"TIME", func(e api.AuditEvent) string { return e.Time.Format(time.RFC3339Nano) }},
	{"ACTOR", func(e api.AuditEvent) string { return e.Actor }},
	{"ACTION", func(e api.AuditEvent) string { return e.Action }},
	{"TARGET", func(e api.AuditEvent) string { return dash(e.Target) }},
	{"RESULT", func(e api.AuditEvent) string { return e.Result }},
	{"FROM", func(e api.AuditEvent) string { return dash(e.SourceIP) }},
}
