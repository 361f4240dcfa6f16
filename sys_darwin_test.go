package nodenet

import "syscall"

// What macOS spells apart from Linux and FreeBSD (sys_linuxbsd_test.go);
// sys_unix_test.go says what these files are for.

// tcpKeepIdle is the socket option that holds the keep-alive idle time,
// in seconds: TCP_KEEPALIVE on macOS.
const tcpKeepIdle = syscall.TCP_KEEPALIVE

// tcpSocket makes a TCP socket of family fam, close-on-exec. macOS has no
// SOCK_CLOEXEC: the flag is set after, under ForkLock, so that no process
// started meanwhile inherits the socket.
func tcpSocket(fam int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := syscall.Socket(fam, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(fd)
	return fd, nil
}
