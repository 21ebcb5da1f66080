//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process used so far (user and system), or 0
// where unknown.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
