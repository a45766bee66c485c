//go:build unix

package etcdtest

import "syscall"

// The signals that freeze and continue a member (Cluster.Pause, Resume).
const (
	stopSignal     = syscall.SIGSTOP
	continueSignal = syscall.SIGCONT
)
