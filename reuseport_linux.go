package nodenet

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenOptions.ReusePort's socket option differs by system (libuv makes
// the same choices for Node): Linux's SO_REUSEPORT here,
// reuseport_freebsd.go, and reuseport_other.go where there is none.

// setReusePort sets SO_REUSEPORT on fd, before bind(2): Linux (3.9 and
// later) spreads the connections among the sockets that share the port.
func setReusePort(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
