//go:build unix

package server_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used: a
// benchmark's cost that other processes on the same cores do not inflate
// as much as they inflate its wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
