package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// newHealthcheckCommand is the probe of the container image's HEALTHCHECK:
// distroless has no shell, curl or wget, so the binary probes itself.
func newHealthcheckCommand() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if a URL answers 200 (for container health checks), 1 otherwise",
		Example: `  tokenwright healthcheck --url http://127.0.0.1:8080/readyz
  HEALTHCHECK CMD ["/usr/local/bin/tokenwright", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return fmt.Errorf("--url: %w", err)
			}
			// Redirects are not followed: a probe checks this server.
			hc := &http.Client{Transport: buildinfo.Transport(nil),
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("unhealthy: %s answered %s", target, resp.Status)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "url", "http://127.0.0.1:8080/readyz", "URL to probe")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "give up (unhealthy) after this long")
	return cmd
}
