//go:build unix

package nodenet

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test helpers that make system calls on int descriptors, which unix
// has and Windows lacks (sys_windows_test.go has what Windows does
// instead). The tests that call them stay in their files; each helper
// says which. Where Linux, FreeBSD and macOS differ, the difference is in
// sys_linuxbsd_test.go and sys_darwin_test.go.

// acceptBackoffEMFILE is the body of TestAcceptBackoffEMFILE
// (reliability_test.go): it lowers RLIMIT_NOFILE and fills the
// descriptors below it.
func acceptBackoffEMFILE(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	evs := srv.Events()
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatal(err)
	}
	port := srv.Address().Port
	if _, ok := (<-evs).(ListeningEvent); !ok {
		t.Fatal("first server event is not listening")
	}

	// The client socket is made before the limit drops; connecting it
	// takes no new descriptor, but accepting it does.
	fd, err := tcpSocket(syscall.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// The limit applies to descriptor numbers: lower it to just above the
	// highest one in use, then fill the holes below it, so that every
	// further descriptor fails with EMFILE.
	lowered := old
	setRlimitField(&lowered.Cur, uint64(maxFD(t)+1))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var fillers []int
	for {
		f, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, f)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			for _, f := range fillers {
				syscall.Close(f)
			}
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
		}
	}
	defer restore()

	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		restore()
		t.Fatalf("connect: %v", err)
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	const failures = 6 // 5+10+20+40+80 ms of backoff between them
	for i := 0; i < failures; i++ {
		select {
		case ev := <-evs:
			ee, ok := ev.(ErrorEvent)
			var ne *Error
			if !ok || !errors.As(ee.Err, &ne) || ne.Code != "EMFILE" || ne.Syscall != "accept" {
				restore()
				srv.Close()
				t.Fatalf("server event %#v; want error accept EMFILE", ev)
			}
		case <-time.After(testTimeout):
			restore()
			srv.Close()
			t.Fatal("no accept error while out of descriptors")
		}
	}
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	restore()
	if min := 150 * time.Millisecond; elapsed < min {
		t.Errorf("%d accept errors in %v; the backoff should space them over at least %v", failures, elapsed, min)
	}
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)+syscall.TimevalToNsec(ru1.Stime)) -
		time.Duration(syscall.TimevalToNsec(ru0.Utime)+syscall.TimevalToNsec(ru0.Stime))
	if cpu > elapsed/2 {
		t.Errorf("the process used %v of CPU in %v while out of descriptors: spinning", cpu, elapsed)
	}
	// Descriptors are free again: the waiting connection is accepted.
	for ev := range evs {
		if ce, ok := ev.(ConnectionEvent); ok {
			ce.Socket.Destroy()
			break
		}
	}
	srv.Close()
	for range evs {
	}
}

// maxFD is the highest descriptor number this process has open, for
// acceptBackoffEMFILE.
func maxFD(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list descriptors: %v", err)
	}
	high := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > high {
			high = n
		}
	}
	return high
}

// setRlimitField sets a field of a syscall.Rlimit to n: the fields are
// uint64 on Linux and macOS, int64 on FreeBSD.
func setRlimitField[T ~int64 | ~uint64](field *T, n uint64) {
	*field = T(n)
}

// benchEnsureFDs makes room for n connections with both ends in this
// process, raising the soft RLIMIT_NOFILE if it must, or skips. For the
// benchmarks (bench_test.go).
func benchEnsureFDs(b *testing.B, n int) {
	open := 0
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = len(ents)
	}
	need := uint64(open + 2*n + 64)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("getrlimit: %v", err)
	}
	if uint64(lim.Cur) >= need {
		return
	}
	if uint64(lim.Max) < need {
		b.Skipf("%d connections with both ends in this process need %d file descriptors; the hard limit (ulimit -Hn) is %d: raise it to run this case",
			n, need, lim.Max)
	}
	setRlimitField(&lim.Cur, need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("raising the soft limit of file descriptors to %d: %v", need, err)
	}
}

// benchCPU is the CPU time the process has used so far, for the
// benchmarks (bench_test.go).
func benchCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// getsockoptInt reads an integer socket option of fd, for getsockopt
// (helpers_net_test.go).
func getsockoptInt(fd uintptr, level, opt int) (int, error) {
	return syscall.GetsockoptInt(int(fd), level, opt)
}

// rawSocket makes a TCP socket bound to ip:port (0: any port) that
// listens with a backlog of 0 when listen is set; bound but not listening,
// it refuses connections while keeping the port. Cleanup closes it; on
// error nothing is left open. For the Happy Eyeballs and listen tests.
func rawSocket(t testing.TB, ip netip.Addr, port int, listen bool) (int, error) {
	t.Helper()
	fam := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip.Is4() {
		sa = &syscall.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		fam = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	fd, err := tcpSocket(fam)
	if err != nil {
		return 0, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return 0, err
	}
	if listen {
		if err := syscall.Listen(fd, 0); err != nil {
			syscall.Close(fd)
			return 0, err
		}
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return 0, err
	}
	t.Cleanup(func() { syscall.Close(fd) })
	switch a := got.(type) {
	case *syscall.SockaddrInet4:
		return a.Port, nil
	case *syscall.SockaddrInet6:
		return a.Port, nil
	}
	t.Fatalf("getsockname gave %T", got)
	return 0, nil
}

// nodeStall is a TCP port on 127.0.0.1 where a connect stays in progress:
// its listening socket has a backlog of 0 and one connection (the filler)
// already waits in its accept queue, so Linux drops the SYN of the next
// one. Once release hands the socket to a Server, which accepts the filler,
// the retransmitted SYN (after about a second) gets through. This makes
// Node's "while connecting" assertions deterministic.
type nodeStall struct {
	port  int
	fd    int
	srv   *Server
	conns chan *Socket // accepted sockets, the filler excepted
}

// nodeStalled makes a nodeStall, for the ports of Node's tests
// (node_*_test.go).
func nodeStalled(t *testing.T, opts ServerOptions) *nodeStall {
	t.Helper()
	fd, err := tcpSocket(syscall.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	st := &nodeStall{fd: fd, conns: make(chan *Socket, 8)}
	t.Cleanup(func() {
		if st.fd >= 0 {
			syscall.Close(st.fd)
		}
	})
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	st.port = sa.(*syscall.SockaddrInet4).Port
	filler := dialRaw(t, st.port)
	fillerPort := filler.LocalAddr().(*net.TCPAddr).Port
	st.srv = createServer(t, opts, trackSockets(t, func(s *Socket) {
		if s.RemotePort() == fillerPort {
			s.Destroy()
			return
		}
		st.conns <- s
	}))
	t.Cleanup(func() { st.srv.Close() })
	return st
}

// release lets the stalled connects complete: it hands the socket, as an
// int descriptor, to the nodeStall's server.
func (st *nodeStall) release(t *testing.T) {
	t.Helper()
	if err := st.srv.ListenHandle(st.fd); err != nil {
		t.Fatalf("ListenHandle(stalled listener) = %v; want nil", err)
	}
	syscall.Close(st.fd)
	st.fd = -1
}

// nodeFD0IsSocket reports whether descriptor 0 is a socket, or closed,
// for TestNode_net_listen_fd0 (node_server_test.go), which wants a descriptor
// that is open and not a socket.
func nodeFD0IsSocket(t *testing.T) bool {
	var st syscall.Stat_t
	return syscall.Fstat(0, &st) != nil || st.Mode&syscall.S_IFMT == syscall.S_IFSOCK
}
