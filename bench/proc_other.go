//go:build unix && !linux

package main

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errNoProc is the error of what only Linux's /proc tells.
var errNoProc = errors.New("needs Linux's /proc")

// processCPU is unknown without /proc.
func processCPU(int) (time.Duration, error) { return 0, errNoProc }

// processRSS is unknown without /proc.
func processRSS(int) (int64, error) { return 0, errNoProc }

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is unknown without /proc.
func machineBusy() time.Duration { return -1 }

// pinSelf is Linux's only.
func pinSelf(int) error { return errNoProc }

// kernelRelease is the running kernel's release (uname -r).
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
