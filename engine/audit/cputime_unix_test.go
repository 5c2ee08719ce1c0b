//go:build unix

package audit_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used so far (all threads:
// the embedded NATS server's included), or 0 when unknown.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
