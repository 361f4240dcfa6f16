package nodenet

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// The test helpers of sys_unix_test.go, on Windows. Those that need what
// Windows lacks (int descriptors, RLIMIT_NOFILE, ListenHandle(int)) skip
// the test that calls them, saying why; the others do on Windows what the
// unix ones do.

// tcpKeepIdle is the socket option that holds the keep-alive idle time,
// in seconds.
const tcpKeepIdle = windows.TCP_KEEPIDLE

// acceptBackoffEMFILE skips TestAcceptBackoffEMFILE: Windows has no
// RLIMIT_NOFILE to lower, so accept cannot be made to fail with EMFILE.
func acceptBackoffEMFILE(t *testing.T) {
	t.Skip("needs RLIMIT_NOFILE, which Windows lacks")
}

// benchEnsureFDs does nothing: Windows has no limit on descriptors to
// raise.
func benchEnsureFDs(*testing.B, int) {}

// benchCPU is the CPU time the process has used so far, kernel and user.
func benchCPU(b *testing.B) time.Duration {
	p, err := syscall.GetCurrentProcess()
	if err != nil {
		b.Fatal(err)
	}
	var creation, exit, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(p, &creation, &exit, &kernel, &user); err != nil {
		b.Fatal(err)
	}
	return filetimeDuration(kernel) + filetimeDuration(user)
}

// filetimeDuration converts a Filetime that holds a duration (in units of
// 100 ns), not a date.
func filetimeDuration(ft syscall.Filetime) time.Duration {
	return time.Duration(int64(ft.HighDateTime)<<32|int64(ft.LowDateTime)) * 100
}

// getsockoptInt reads an integer socket option of the socket handle fd.
func getsockoptInt(fd uintptr, level, opt int) (int, error) {
	return syscall.GetsockoptInt(syscall.Handle(fd), level, opt)
}

// rawSocket skips: its callers want a listener of backlog 0 whose full
// queue drops SYNs, and a bound socket that refuses, as unix gives them.
func rawSocket(t testing.TB, _ netip.Addr, _ int, _ bool) (int, error) {
	t.Skip("needs a raw unix socket (rawSocket)")
	return 0, nil
}

// nodeStall has, on Windows, the fields the tests read; nodeStalled
// skips before any is set.
type nodeStall struct {
	port  int
	conns chan *Socket
}

// nodeStalled skips: the stall needs a full backlog that drops SYNs, and
// its release hands the socket over with ListenHandle(int), unix only.
func nodeStalled(t *testing.T, _ ServerOptions) *nodeStall {
	t.Skip("needs a stalled unix listener, handed over as an int descriptor")
	return nil
}

// release is not reached on Windows: nodeStalled skips first.
func (st *nodeStall) release(t *testing.T) {
	t.Fatal("nodeStall.release on Windows: nodeStalled should have skipped")
}

// nodeFD0IsSocket skips TestNode_net_listen_fd0: ListenHandle(int) is
// unix only (Windows gives ENOTSUP).
func nodeFD0IsSocket(t *testing.T) bool {
	t.Skip("ListenHandle(int) is unix only")
	return false
}
