//go:build !linux

package etcdtest

// stopped cannot be observed without Linux's /proc: Pause returns as soon
// as the signal is sent.
func stopped(int) bool { return true }
