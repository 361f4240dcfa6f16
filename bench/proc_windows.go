package main

import (
	"errors"
	"time"
)

// The harness measures on Linux; on Windows it builds (so that the module
// vets everywhere) and reports what it cannot read as unknown.

// errNoProc is the error of what only Linux's /proc tells.
var errNoProc = errors.New("needs Linux's /proc")

// processCPU is unknown without /proc.
func processCPU(int) (time.Duration, error) { return 0, errNoProc }

// processRSS is unknown without /proc.
func processRSS(int) (int64, error) { return 0, errNoProc }

// selfCPU is unknown here: 0.
func selfCPU() time.Duration { return 0 }

// machineBusy is unknown without /proc.
func machineBusy() time.Duration { return -1 }

// pinSelf is Linux's only.
func pinSelf(int) error { return errNoProc }

// kernelRelease is unknown here.
func kernelRelease() string { return "?" }
