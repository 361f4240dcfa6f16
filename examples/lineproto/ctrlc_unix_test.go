//go:build unix

package main

import "syscall"

// TestCtrlC sends its own process SIGINT, which unix can do and Windows
// cannot (ctrlc_windows_test.go).

// sendCtrlC sends this process SIGINT, as Ctrl-C in a terminal does.
func sendCtrlC() error {
	return syscall.Kill(syscall.Getpid(), syscall.SIGINT)
}
