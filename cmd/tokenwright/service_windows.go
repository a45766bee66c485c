//go:build windows

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceName is the Windows service's name, and its event log source.
const serviceName = "tokenwright"

func serviceInstall(cmd *cobra.Command, configFile, dataDir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	configFile, err = filepath.Abs(configFile)
	if err != nil {
		return err
	}
	if _, err := os.Stat(configFile); err != nil {
		return &usageError{fmt.Errorf("--config: %w", err)}
	}
	if dataDir == "" {
		programData, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
		if err != nil {
			return err
		}
		dataDir = filepath.Join(programData, "tokenwright", "data")
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager (run from an elevated prompt): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("service %q is already installed (tokenwright service uninstall first)", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: "tokenwright",
		Description: "Service-account token server: API keys in, short-lived signed JWTs out",
		StartType:   mgr.StartAutomatic,
	}, "serve", "--config", configFile, "--data", dataDir)
	if err != nil {
		return fmt.Errorf("creating service %q: %w", serviceName, err)
	}
	defer s.Close()
	installed := false
	defer func() {
		if !installed { // never leave a half-configured service behind
			_ = s.Delete()
		}
	}()
	// Restart after a failure (a crash, or serve exiting with an error),
	// 5 s later; the failure count resets after a day without one.
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	}, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("setting the service's recovery actions: %w", err)
	}
	// Also when serve stops with an error and reports it (exit code 1),
	// not only when the process dies.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("setting the service's recovery actions: %w", err)
	}
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		return fmt.Errorf("registering the event log source: %w", err)
	}
	installed = true
	fmt.Fprintf(cmd.OutOrStdout(), "installed service %q: %s serve --config %s --data %s\nstart it with: tokenwright service start\n",
		serviceName, exe, configFile, dataDir)
	return nil
}

func openService() (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the service control manager (run from an elevated prompt): %w", err)
	}
	s, err := m.OpenService(serviceName)
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("service %q: %w", serviceName, err)
	}
	return m, s, nil
}

func serviceUninstall(cmd *cobra.Command) error {
	m, s, err := openService()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Delete(); err != nil {
		return fmt.Errorf("removing service %q: %w", serviceName, err)
	}
	_ = eventlog.Remove(serviceName)
	fmt.Fprintf(cmd.OutOrStdout(), "removed service %q (the data directory is left as it is)\n", serviceName)
	return nil
}

func serviceStart(cmd *cobra.Command) error {
	m, s, err := openService()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting service %q: %w", serviceName, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "started service %q\n", serviceName)
	return nil
}

func serviceStop(cmd *cobra.Command) error {
	m, s, err := openService()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	status, err := s.Control(svc.Stop)
	if err != nil {
		return fmt.Errorf("stopping service %q: %w", serviceName, err)
	}
	// The SCM answers at once; the server drains its connections first.
	// Polling is the SCM's own interface for this (there is no wait call).
	deadline := time.Now().Add(time.Minute)
	for status.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("service %q has not stopped after a minute (state %d)", serviceName, status.State)
		}
		time.Sleep(300 * time.Millisecond)
		if status, err = s.Query(); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stopped service %q\n", serviceName)
	return nil
}

// windowsService is the service host when the SCM started this process,
// nil when it runs from a console.
func windowsService() (serviceHost, error) {
	is, err := svc.IsWindowsService()
	if err != nil || !is {
		return nil, err
	}
	el, err := eventlog.Open(serviceName)
	if err != nil {
		return nil, fmt.Errorf("opening the event log: %w", err)
	}
	return &scmHost{log: &eventLogWriter{el: el}}, nil
}

type scmHost struct{ log *eventLogWriter }

func (h *scmHost) Log() io.Writer { return h.log }

// Run reports to the SCM, runs serve until it returns or the SCM asks to
// stop (or the machine shuts down), and then cancels serve's context: the
// path SIGTERM takes on Unix.
func (h *scmHost) Run(ctx context.Context, serve func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handler := &scmHandler{ctx: ctx, cancel: cancel, serve: serve}
	if err := svc.Run(serviceName, handler); err != nil {
		return err
	}
	return handler.err
}

type scmHandler struct {
	ctx    context.Context
	cancel context.CancelFunc
	serve  func(context.Context) error
	err    error
}

func (h *scmHandler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	done := make(chan error, 1)
	go func() { done <- h.serve(h.ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case h.err = <-done:
			// serve ended by itself (an error at start, say): report a
			// service-specific exit code so that recovery restarts it.
			if h.err != nil {
				return true, 1
			}
			return false, 0
		case r := <-requests:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				h.cancel()
				h.err = <-done
				return false, 0
			}
		}
	}
}

// eventLogWriter sends each log line to the Windows event log, as an
// error, a warning or information by the level the line names.
type eventLogWriter struct{ el *eventlog.Log }

func (w *eventLogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\r\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		msg := string(line)
		var err error
		switch {
		case bytes.Contains(line, []byte(`"level":"error"`)), bytes.Contains(line, []byte(`"level":"fatal"`)), bytes.Contains(line, []byte(" ERR ")):
			err = w.el.Error(1, msg)
		case bytes.Contains(line, []byte(`"level":"warn"`)), bytes.Contains(line, []byte(" WRN ")):
			err = w.el.Warning(1, msg)
		default:
			err = w.el.Info(1, msg)
		}
		if err != nil {
			return 0, errors.Join(errors.New("writing to the event log"), err)
		}
	}
	return len(p), nil
}
