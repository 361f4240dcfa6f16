//go:build unix

package nodenet

import (
	"os"
	"syscall"
)

// The socket calls the standard library does not make for a listener,
// on a descriptor a RawConn's Control gives. They are apart because unix
// takes the descriptor as an int and Windows as a Handle
// (sockfd_windows.go).

// listenFD calls listen(2) on fd with backlog. Linux, macOS and FreeBSD
// take a second listen on a listening socket as a new queue length.
func listenFD(fd uintptr, backlog int) error {
	return syscall.Listen(int(fd), backlog)
}

// setIPv6Only sets IPV6_V6ONLY on fd, before bind(2).
func setIPv6Only(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
}

// listenerFile duplicates a listening socket into a new *os.File, for
// another listener on it (ListenHandle of a *Server). The listener's own
// File method would do it too, but a file it makes, handed to
// net.FileListener, puts the descriptor in blocking mode until the new
// listener makes it non-blocking again, and the mode belongs to the
// socket, which both descriptors share: an accept of the first server's
// loop that starts in between blocks in the kernel, and that server's
// Close never returns. A file os.NewFile makes of a non-blocking
// descriptor is left non-blocking.
func listenerFile(sc syscall.Conn) (*os.File, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(sysfd uintptr) { fd, derr = dupCloseOnExec(int(sysfd)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("dup", derr)
	}
	return os.NewFile(uintptr(fd), "listener"), nil
}
