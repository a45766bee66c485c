//go:build !unix

package etcdtest

import "syscall"

// Windows cannot freeze a process with a signal: Process.Signal refuses
// these, so Pause and Resume do nothing there. The tests that pause
// members run on Unix (CI); this file only lets the package compile for
// `GOOS=windows go vet ./...`.
const (
	stopSignal     = syscall.Signal(0x13)
	continueSignal = syscall.Signal(0x12)
)
