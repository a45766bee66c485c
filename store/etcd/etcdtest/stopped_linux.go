package etcdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// stopped reports whether every thread of process pid is stopped (state
// T in /proc/PID/task/TID/stat). kill(2) returns before a SIGSTOP has
// taken hold: a thread running on another core can still finish a request
// (a one-member cluster even commits a write) after Pause has sent it.
func stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(task)
		if err != nil {
			return false
		}
		// "TID (comm) STATE …": the state follows the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
			return false
		}
	}
	return true
}
