package inproc_test

import (
	"syscall"
	"testing"
)

// processCPU is the process' CPU time so far (user and system, every
// thread), in ns, from getrusage(RUSAGE_SELF).
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
