// Test helpers at the network level: raw sockets, hanging and dual-stack ports,
// a fake DNS server, socket options, IPv6 availability, listen queues.

package nodenet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpConnOf is the *net.TCPConn under an open socket.
func tcpConnOf(t testing.TB, s *Socket) *net.TCPConn {
	t.Helper()
	s.mu.Lock()
	c := s.c.nc
	s.mu.Unlock()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("the socket's connection is a %T; want a *net.TCPConn", c)
	}
	return tc
}

// getsockopt reads an integer socket option of tc's descriptor.
func getsockopt(t testing.TB, tc *net.TCPConn, level, opt int) int {
	t.Helper()
	rc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = getsockoptInt(fd, level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, gerr)
	}
	return v
}

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// needIPv6 skips the test when the machine cannot listen on ::1.
func needIPv6(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback (::1): %v", err)
	}
	ln.Close()
}

// hangingListener makes ip:port (0: any port) a listener that never accepts and
// whose accept queue is full, so that a connect to it hangs: Linux drops
// the SYNs. It skips the test if a connect does not hang there (checked
// with a 100 ms dial).
func hangingListener(t testing.TB, ip netip.Addr, port int) (int, error) {
	t.Helper()
	port, err := rawSocket(t, ip, port, true)
	if err != nil {
		return 0, err
	}
	addr := netip.AddrPortFrom(ip, uint16(port)).String()
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return port, nil
			}
			t.Skipf("filling the backlog of %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skipf("connects to %s, whose backlog is full, do not hang", addr)
	return 0, nil
}

// dualPortServer listens a new server (made by mk, no events read yet) on
// second and a free port P, then calls bind(P) for the other address; it
// tries again with a new port while bind fails with EADDRINUSE. Cleanup
// closes the server.
func dualPortServer(t testing.TB, mk func() *Server, second netip.Addr, bind func(port int) error) (*Server, int) {
	t.Helper()
	for try := 0; ; try++ {
		srv := mk()
		if err := srv.Listen(0, second.String(), 0); err != nil {
			t.Fatalf("Listen(0, %s, 0) = %v", second, err)
		}
		port := srv.Address().Port
		err := bind(port)
		if err == nil {
			t.Cleanup(func() { srv.Close() })
			return srv, port
		}
		srv.Close()
		if try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("binding the other address on port %d: %v", port, err)
		}
	}
}

// portOnBoth returns a port on which open succeeds on both
// addresses: open(second, 0) takes a free port, then open(first, port)
// the same one, with a new port while first's is taken (EADDRINUSE). What
// open makes, its own cleanup closes.
func portOnBoth(t testing.TB, first, second netip.Addr, open func(ip netip.Addr, port int) (int, error)) int {
	t.Helper()
	for try := 0; ; try++ {
		port, err := open(second, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = open(first, port); err == nil {
			return port
		}
		if try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatal(err)
		}
	}
}

// fakeDNS serves hosts (fully qualified, lower-case names: "a.test.")
// on UDP 127.0.0.1 and returns a resolver that asks only it: A and AAAA
// answers from hosts, NXDOMAIN for any other name. Cleanup stops it.
func fakeDNS(t testing.TB, hosts map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], hosts); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// dnsAnswer builds the response to the DNS query q: the header with q's
// ID, QR, RD and RA set, q's question echoed, and one answer per address
// of the asked type (A: 1, AAAA: 28).
func dnsAnswer(q []byte, hosts map[string][]netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l >= len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	addrs, known := hosts[strings.ToLower(strings.Join(labels, "."))+"."]
	var rdata [][]byte
	for _, a := range addrs {
		if (qtype == 1 && a.Is4()) || (qtype == 28 && a.Is6()) {
			rdata = append(rdata, a.AsSlice())
		}
	}
	flags := uint16(0x8180) // QR, RD, RA, NOERROR
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte(nil), q[0:2]...)
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
	resp = binary.BigEndian.AppendUint32(resp, 0) // no authority, no additional
	resp = append(resp, q[12:i+5]...)
	for _, rd := range rdata {
		resp = append(resp, 0xc0, 12) // the name: a pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // class IN
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rd)))
		resp = append(resp, rd...)
	}
	return resp
}

// onlyError returns the error of the only ErrorEvent in evs, or nil.
func onlyError(t testing.TB, evs []Event) error {
	t.Helper()
	var errs []error
	for _, ev := range evs {
		if e, ok := ev.(ErrorEvent); ok {
			errs = append(errs, e.Err)
		}
	}
	if len(errs) != 1 {
		t.Errorf("%d ErrorEvents in %q; want 1", len(errs), names(evs))
		return nil
	}
	return errs[0]
}

// errorWithCode checks that err is an *Error with Code code and returns it.
func errorWithCode(t testing.TB, what string, err error, code string) *Error {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) {
		t.Errorf("%s = %v (%T); want an *Error with Code %q", what, err, err, code)
		return nil
	}
	if ne.Code != code {
		t.Errorf("%s: Code = %q (%v); want %q", what, ne.Code, err, code)
	}
	return ne
}

// endedOrReset reports whether the events are those of a client whose
// server closed the connection at once: its end, or a reset.
func endedOrReset(evs []Event) bool {
	got := names(evs)
	return got == "connect end close(false)" || got == "connect error(read ECONNRESET) close(true)"
}

// dualTarget gives the name of a host that resolves to both ::1 and
// 127.0.0.1, the resolver to use (nil: the default one) and its two
// addresses in the order the resolver gives them.
type dualTarget struct {
	name          string
	host          string
	resolver      *net.Resolver
	first, second netip.Addr
}

// dualTargets are "localhost" through /etc/hosts (offline DNS), when it
// maps to both loopback addresses, and a made-up name of the fake DNS.
func dualTargets(t *testing.T) []dualTarget {
	t.Helper()
	needIPv6(t)
	var out []dualTarget
	for _, tg := range []dualTarget{
		{name: "localhost", host: "localhost"},
		{name: "fake DNS", host: "dual.nodenet.test", resolver: fakeDNS(t, map[string][]netip.Addr{
			"dual.nodenet.test.": {lo6, lo4},
		})},
	} {
		r := tg.resolver
		if r == nil {
			offlineDNS(t)
			r = net.DefaultResolver
		}
		ips, err := r.LookupNetIP(ctxTimeout(t), "ip", tg.host)
		if err != nil || len(ips) != 2 || ips[0].Unmap().Is4() == ips[1].Unmap().Is4() {
			t.Logf("%s resolves to %v (%v), not to one IPv4 and one IPv6 loopback address: not tried", tg.host, ips, err)
			continue
		}
		tg.first, tg.second = ips[0].Unmap(), ips[1].Unmap()
		out = append(out, tg)
	}
	return out
}

// attemptNames is the connection attempt events of evs, in order, as
// "attempt ::1" and "failed 127.0.0.1 ECONNREFUSED".
func attemptNames(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case ConnectionAttemptEvent:
			out = append(out, "attempt "+e.Address.Address)
		case ConnectionAttemptFailedEvent:
			code := "?"
			var ne *Error
			if errors.As(e.Err, &ne) {
				code = ne.Code
			}
			out = append(out, "failed "+e.Address.Address+" "+code)
		}
	}
	return out
}

// isPending is Node's socket.pending told by ReadyState: not connected,
// because Connect has not been called, is still connecting, or has closed.
func isPending(s *Socket) bool {
	rs := s.ReadyState()
	return rs == "opening" || rs == "closed"
}

// ssLine runs ss with args, which must select exactly one socket, and
// returns the fields of its line.
func ssLine(t *testing.T, ssPath string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(ssPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ss %q: %v: %s", args, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("ss %q gave %d lines; want 1:\n%s", args, len(lines), out)
	}
	f := strings.Fields(lines[0])
	if len(f) < 4 {
		t.Fatalf("ss line %q has too few fields", lines[0])
	}
	return f
}

// listenTCP starts srv on 127.0.0.1 and a free port; Cleanup closes it.
func listenTCP(t testing.TB, srv *Server) int {
	t.Helper()
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Address().Port
}

// freePort returns a TCP port that was free on host a moment ago, for
// the tests that listen on a given port (Node's common.PORT); it skips
// the test where host cannot be listened on.
func freePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// refusedPort returns a port of 127.0.0.1 where nothing listens, so that
// a connect to it is refused.
func refusedPort(t testing.TB) int {
	return freePort(t, "127.0.0.1")
}

// listenUnix starts srv on a new Unix socket under t.TempDir() and
// returns its path; Cleanup closes srv.
func listenUnix(t testing.TB, srv *Server) string {
	t.Helper()
	path := sockPath(t)
	if err := srv.ListenUnix(path); err != nil {
		t.Fatalf("ListenUnix(%q): %v", path, err)
	}
	t.Cleanup(func() { srv.Close() })
	return path
}

// dialRaw connects a plain net.Conn to the server, for a peer whose
// behaviour the test controls byte by byte.
func dialRaw(t testing.TB, port int) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// rawPair gives a Socket connected to a raw peer over loopback TCP
// (flowPair over "tcp4").
func rawPair(t testing.TB, opts ConnectOptions) (*Socket, *net.TCPConn) {
	t.Helper()
	s, c := flowPair(t, "tcp4", opts)
	return s, c.(*net.TCPConn)
}

// connectedRawPair is rawPair with the socket's events recorded, past its
// ConnectEvent.
func connectedRawPair(t testing.TB, opts ConnectOptions) (*Socket, *net.TCPConn, *recorder) {
	t.Helper()
	s, c := rawPair(t, opts)
	return s, c, recordConnected(t, s)
}

// listenLoopback listens on network, on a free port: "tcp4" (127.0.0.1),
// "tcp6" (::1; the test is skipped where there is none) or "unix" (a
// socket under t.TempDir()). Cleanup closes the listener.
func listenLoopback(t testing.TB, network string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	switch network {
	case "tcp4":
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
	case "tcp6":
		ln, err = net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
	case "unix":
		ln, err = net.Listen("unix", sockPath(t))
	default:
		t.Fatalf("listenLoopback: unknown network %q", network)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// connPair returns the two ends of a connection over network (see
// listenLoopback). Cleanup closes both.
func connPair(t testing.TB, network string) (dialed, accepted net.Conn) {
	t.Helper()
	ln := listenLoopback(t, network)
	defer ln.Close()
	d, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return d, a
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	d, a := connPair(t, "tcp4")
	return d.(*net.TCPConn), a.(*net.TCPConn)
}

// serveListener accepts on ln until it closes, handing each conn to
// handle on the accepting goroutine. Cleanup closes ln, waits for the
// accepting goroutine to end and closes every conn it accepted.
func serveListener(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	var all []net.Conn // the accepting goroutine's until done is closed
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			all = append(all, c)
			handle(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range all {
			c.Close()
		}
	})
}

func sockPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "s.sock")
}

// offlineDNS makes every DNS query of the test fail at once, so that no
// packet leaves the machine: tests of name lookups that fail (ENOTFOUND)
// must never ask a real resolver. /etc/hosts still answers localhost.
func offlineDNS(t testing.TB) {
	t.Helper()
	old := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no DNS in tests")
		},
	}
	t.Cleanup(func() { net.DefaultResolver = old })
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// checkSysError checks that err is an *Error with code and syscall whose
// cause is errno.
func checkSysError(t testing.TB, call string, err error, code, syscallName string, errno syscall.Errno) {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) {
		t.Errorf("%s = %v (%T); want an *Error with Code %s", call, err, err, code)
		return
	}
	if ne.Code != code || ne.Syscall != syscallName {
		t.Errorf("%s = *Error{Code: %q, Syscall: %q}; want Code %q, Syscall %q", call, ne.Code, ne.Syscall, code, syscallName)
	}
	if errno != 0 && !errors.Is(err, errno) {
		t.Errorf("errors.Is(%s, %v) = false; want true", call, errno)
	}
}

// checkFailedListen checks a Listen of srv, named call, that failed with
// err: err is an *Error with code and syscall whose text is "syscall
// code", the server's ErrorEvent (r records it) carries that same error,
// and Address is the zero Addr.
func checkFailedListen(t testing.TB, srv *Server, r *serverRecorder, call string, err error, code, syscallName string, errno syscall.Errno) {
	t.Helper()
	checkSysError(t, call, err, code, syscallName, errno)
	if err != nil {
		if got, want := err.Error(), syscallName+" "+code; got != want {
			t.Errorf("%s.Error() = %q; want %q", call, got, want)
		}
	}
	ev := r.waitFor("error", isKind[ErrorEvent])
	if evErr := ev.(ErrorEvent).Err; evErr != err {
		t.Errorf("ErrorEvent.Err = %v; want the error %s returned (%v)", evErr, call, err)
	}
	if got := srv.Address(); got != (Addr{}) {
		t.Errorf("Address() after a failed Listen = %+v; want the zero Addr", got)
	}
}

// openTCPConn returns the open TCP connection under s, to size its kernel
// buffers.
func openTCPConn(t *testing.T, s *Socket) *net.TCPConn {
	t.Helper()
	waitUntil(t, "the socket open", func() bool { return s.ReadyState() == "open" })
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.c.nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("the socket's connection is a %T; want *net.TCPConn", s.c.nc)
	}
	return c
}

// blackHolePort returns the port of a loopback listener that never
// accepts and whose queue is full, so that the kernel drops every SYN
// sent to it and a connect stays in progress until it is abandoned.
// (Listen with backlog 0 leaves room for one connection, taken here.)
func blackHolePort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "black hole")
	t.Cleanup(func() { f.Close() })
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
	port := sa.(*syscall.SockaddrInet4).Port
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return port
}
