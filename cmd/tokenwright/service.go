package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// serviceHost is how `serve` runs when the Windows service control manager
// started it: logs go to the Windows event log (a service has no console),
// and a stop or shutdown request from the SCM cancels the same context
// SIGTERM cancels elsewhere, so the server drains and closes the same way.
type serviceHost interface {
	Log() io.Writer
	Run(ctx context.Context, serve func(context.Context) error) error
}

// newServiceCommand manages tokenwright as a Windows service
// (service_windows.go). Elsewhere every subcommand is a usage error that
// says what to use instead (service_other.go).
func newServiceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove, start or stop tokenwright as a Windows service",
		Long: `Manage the Windows service that runs 'tokenwright serve' (Windows only: on
Linux use the systemd unit, docs/tokenwright.service; see docs/install.md).

install registers this executable as the service "tokenwright", started
automatically at boot as LocalSystem, running
  tokenwright.exe serve --config CONFIG --data DATA
with absolute paths (a service starts in C:\Windows\System32), restarted by
the service control manager if it fails, and logging to the Windows event
log (source "tokenwright"). Run it from an elevated prompt.`,
		Example: `  tokenwright service install --config C:\ProgramData\tokenwright\tokenwright.yaml
  tokenwright service start
  tokenwright service stop
  tokenwright service uninstall`,
	}
	var configFile, dataDir string
	install := &cobra.Command{
		Use:   "install",
		Short: "Register tokenwright as a Windows service",
		Example: `  tokenwright service install --config C:\ProgramData\tokenwright\tokenwright.yaml
  tokenwright service install --config C:\ProgramData\tokenwright\tokenwright.yaml --data D:\tokenwright\data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serviceInstall(cmd, configFile, dataDir)
		},
	}
	install.Flags().StringVar(&configFile, "config", "", "config file the service runs with (required)")
	install.Flags().StringVar(&dataDir, "data", "", `data directory (default %ProgramData%\tokenwright\data)`)
	_ = install.MarkFlagRequired("config")
	simple := func(use, short string, do func(*cobra.Command) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			Example: "  tokenwright service " + use,
			RunE:    func(cmd *cobra.Command, _ []string) error { return do(cmd) },
		}
	}
	cmd.AddCommand(install,
		simple("uninstall", "Remove the Windows service (stop it first)", serviceUninstall),
		simple("start", "Start the Windows service", serviceStart),
		simple("stop", "Stop the Windows service and wait until it has stopped", serviceStop),
	)
	return cmd
}
