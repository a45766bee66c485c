//go:build !windows

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errNotWindows is every `service` subcommand's answer off Windows: a
// usage error (exit 2), since the command cannot work here at all.
var errNotWindows = &usageError{errors.New("tokenwright service manages a Windows service and works only on Windows; " +
	"on Linux run tokenwright under systemd (docs/tokenwright.service) or in a container, see docs/install.md")}

func serviceInstall(*cobra.Command, string, string) error { return errNotWindows }
func serviceUninstall(*cobra.Command) error               { return errNotWindows }
func serviceStart(*cobra.Command) error                   { return errNotWindows }
func serviceStop(*cobra.Command) error                    { return errNotWindows }

// windowsService is nil: only Windows has a service control manager.
func windowsService() (serviceHost, error) { return nil, nil }
