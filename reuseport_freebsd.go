package nodenet

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenOptions.ReusePort on FreeBSD; reuseport_linux.go says why the
// option is split by system.

// setReusePort sets SO_REUSEPORT_LB on fd, before bind(2): FreeBSD's
// SO_REUSEPORT lets sockets share the port without spreading the
// connections among them; SO_REUSEPORT_LB (FreeBSD 12 and later) spreads
// them, as Linux's SO_REUSEPORT does.
func setReusePort(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT_LB, 1)
}
