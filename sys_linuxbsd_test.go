//go:build linux || freebsd

package nodenet

import (
	"syscall"
	"testing"
)

// What Linux and FreeBSD spell alike and macOS does not
// (sys_darwin_test.go), and what they have that the others lack
// (unsupported_test.go); sys_unix_test.go says what these files are for.

// tcpKeepIdle is the socket option that holds the keep-alive idle time,
// in seconds.
const tcpKeepIdle = syscall.TCP_KEEPIDLE

// tcpSocket makes a TCP socket of family fam, close-on-exec.
func tcpSocket(fam int) (int, error) {
	return syscall.Socket(fam, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
}

// needReusePort lets a test of ReusePort run: Linux and FreeBSD have it.
func needReusePort(testing.TB) {}
