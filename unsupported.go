//go:build !linux && !freebsd

package nodenet

import (
	"errors"
	"fmt"
	"runtime"
)

// This file is built only where nodenet has something it cannot do:
// ReusePort where no option spreads connections (reuseport_other.go), and
// handles on Windows (handles_windows.go). On Linux and FreeBSD nothing
// uses it.

// unsupported is the error of what this system cannot do (what names it):
// Node's ENOTSUP, wrapping errors.ErrUnsupported, with a message that says
// what and where, since a bare "ENOTSUP" would not tell which option or
// call it was.
func unsupported(syscallName, what string) *Error {
	return &Error{
		Code:    "ENOTSUP",
		Syscall: syscallName,
		Msg:     fmt.Sprintf("%s ENOTSUP: %s is not supported on %s", syscallName, what, runtime.GOOS),
		Err:     errors.ErrUnsupported,
	}
}
