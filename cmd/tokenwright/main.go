// Command tokenwright is the service-account token server and its CLI.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, err := newRootCommand(os.Stdout, os.Stderr, env(os.Environ())).ExecuteContextC(ctx)
	if err != nil {
		report(cmd, err)
		stop()
		os.Exit(exitCodeOf(err))
	}
}

// exitError carries a specific exit status (after the command printed why).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// env is the process environment as KEY=VALUE pairs (injected for tests).
type env []string

// Get returns the value of name, or "".
func (e env) Get(name string) string {
	for i := len(e) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

func newRootCommand(stdout, stderr io.Writer, getenv env) *cobra.Command {
	root := &cobra.Command{
		Use:           "tokenwright",
		Short:         "Service-account token server: API keys in, short-lived signed JWTs out",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().Version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCommand(getenv),
		newServiceAccountCommand(getenv),
		newKeyCommand(getenv),
		newUserCommand(getenv),
		newPATCommand(getenv),
		newTokenCommand(getenv),
		newProxyCommand(getenv),
		newAuditCommand(getenv),
		newSigningKeysCommand(getenv),
		newKEKCommand(getenv),
		newDominoCommand(getenv),
		newSSOCommand(getenv),
		newBackupCommand(getenv), newRestoreCommand(),
		newMigrateCommand(),
		newVersionCommand(), newHealthcheckCommand(),
		newServiceCommand(),
		newLoginCommand(getenv), newLogoutCommand(getenv), newWhoamiCommand(getenv),
	)
	applyConventions(root)
	return root
}
