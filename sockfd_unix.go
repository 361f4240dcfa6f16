//go:build unix

package nodenet

import "syscall"

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
