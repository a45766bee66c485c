package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/client"
)

// Exit statuses, as gh and kubectl use them: scripts tell a mistake in the
// command line (fix the script) from a failure of the server or the
// network (retry, or page someone).
const (
	exitCodeError = 1 // the server answered with an error, or could not be reached
	exitCodeUsage = 2 // unknown command or flag, wrong arguments, bad flag value
)

// usageError is a mistake in the command line: it exits with exitCodeUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf is a usageError for a bad flag value found by a command.
func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// applyConventions makes every command of the tree follow the same rules,
// so that a command added later needs nothing to get them:
//   - a flag that does not parse, a missing required flag and arguments
//     that do not fit are usage errors;
//   - a command that only groups others answers an unknown subcommand with
//     a usage error (cobra would print the help and exit 0) and shows its
//     help when called alone.
func applyConventions(root *cobra.Command) {
	// cobra adds these when it executes; added now, they are walked too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		setExample(c)
		args := c.Args
		if !c.Runnable() && c.HasSubCommands() {
			args = unknownSubcommand
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		c.Args = func(cmd *cobra.Command, a []string) error {
			if args != nil {
				if err := args(cmd, a); err != nil {
					return &usageError{err}
				}
			}
			// cobra checks required flags only after the pre-run hooks and
			// returns a plain error; checked here, they count as usage.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return &usageError{err}
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return &usageError{err}
			}
			return nil
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownSubcommand is the Args of a command that only groups others: any
// argument is a subcommand that does not exist.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return fmt.Errorf("%s", msg)
}

// confirmed asks before a destructive command. --yes answers for the user;
// on a terminal the user answers y/N; without a terminal nobody can, and
// the command is refused (exit 2), so a script that forgot --yes fails
// instead of hanging or deleting unasked. declined says what was not done
// and how to do it.
func confirmed(cmd *cobra.Command, question, declined string) error {
	if yes, _ := cmd.Flags().GetBool("yes"); yes {
		return nil
	}
	ok, err := confirm(cmd, question)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintln(cmd.ErrOrStderr(), declined)
		return &exitError{code: exitCodeUsage}
	}
	return nil
}

// addYes registers --yes on a destructive command (read by confirmed).
func addYes(cmd *cobra.Command, usage string) {
	cmd.Flags().Bool("yes", false, usage)
}

// exitCodeOf is the exit status for err.
func exitCodeOf(err error) int {
	var status *exitError
	var usage *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return status.code
	case errors.As(err, &usage):
		return exitCodeUsage
	default:
		return exitCodeError
	}
}

// report prints err, with a pointer to the help for a usage error.
func report(cmd *cobra.Command, err error) {
	var status *exitError
	if errors.As(err, &status) {
		return // the command printed why
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	var usage *usageError
	if errors.As(err, &usage) {
		path := "tokenwright"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", path)
	}
}

// notFoundError is the API's not_found, said with what was not found: the
// server answers only "not found", but the command knows what it asked for.
type notFoundError struct {
	what string // e.g. service account "ci-bot"
	err  error  // the API's answer
}

func (e *notFoundError) Error() string {
	var apiErr *client.APIError
	if errors.As(e.err, &apiErr) {
		// The API's code stays in the message for scripts that look for it.
		return fmt.Sprintf("%s not found (%s, HTTP %d)", e.what, apiErr.Code, apiErr.Status)
	}
	return e.what + " not found"
}
func (e *notFoundError) Unwrap() error { return e.err }

// named replaces a not_found answer with one that names what (a
// fmt.Sprintf of format and a); other errors pass unchanged.
func named(err error, format string, a ...any) error {
	if client.IsNotFound(err) {
		return &notFoundError{what: fmt.Sprintf(format, a...), err: err}
	}
	return err
}

// Descriptions of the objects the commands name, for named.
const (
	accountRef = "service account %q"
	userRef    = "user %q"
)
