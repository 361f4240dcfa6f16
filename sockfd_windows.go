package nodenet

import (
	"errors"
	"os"
	"syscall"
)

// The socket calls of sockfd_unix.go, on a Windows socket Handle.

// listenFD calls listen on fd with backlog. On a socket that is bound and
// not listening it starts listening (ListenHandle); on one that listens
// already, Winsock keeps the first queue length, so the backlog of Listen
// and ListenContext does not reach Windows: its queue is the standard
// library's (SOMAXCONN).
func listenFD(fd uintptr, backlog int) error {
	return syscall.Listen(syscall.Handle(fd), backlog)
}

// setIPv6Only sets IPV6_V6ONLY on fd, before bind.
func setIPv6Only(fd uintptr) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
}

// listenerFile is the File of the listener behind sc, as Windows has it
// (the standard library does not support it there: ListenHandle of a
// *Server then fails with its error).
func listenerFile(sc syscall.Conn) (*os.File, error) {
	if fl, ok := sc.(interface{ File() (*os.File, error) }); ok {
		return fl.File()
	}
	return nil, errors.ErrUnsupported
}
