package nodenet

// Tests of the features beyond Node v0.10 (commit 638f80a): ListenContext
// and ListenOptions, staged Shutdown, ConnectContext, Happy Eyeballs, the
// Resolver option, BlockList, WaitOverLimit, PauseOnConnect, the
// socket options at creation, Stats, ConnState, ReadyState and
// ResetAndDestroy.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// ---- helpers ----

var (
	byLo4 = netip.MustParseAddr("127.0.0.1")
	byLo6 = netip.MustParseAddr("::1")
)

// byNeedIPv6 skips the test when the machine cannot listen on ::1.
func byNeedIPv6(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback (::1): %v", err)
	}
	ln.Close()
}

// byHang makes ip:port (0: any port) a listener that never accepts and
// whose accept queue is full, so that a connect to it hangs: Linux drops
// the SYNs. It skips the test if a connect does not hang there (checked
// with a 100 ms dial).
func byHang(t testing.TB, ip netip.Addr, port int) (int, error) {
	t.Helper()
	port, err := byRawSocket(t, ip, port, true)
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

// byDualPort listens a new server (made by mk, no events read yet) on
// second and a free port P, then calls bind(P) for the other address; it
// tries again with a new port while bind fails with EADDRINUSE. Cleanup
// closes the server.
func byDualPort(t testing.TB, mk func() *Server, second netip.Addr, bind func(port int) error) (*Server, int) {
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

// byFakeDNS serves hosts (fully qualified, lower-case names: "a.test.")
// on UDP 127.0.0.1 and returns a resolver that asks only it: A and AAAA
// answers from hosts, NXDOMAIN for any other name. Cleanup stops it.
func byFakeDNS(t testing.TB, hosts map[string][]netip.Addr) *net.Resolver {
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
			if resp := byDNSAnswer(buf[:n], hosts); resp != nil {
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

// byDNSAnswer builds the response to the DNS query q: the header with q's
// ID, QR, RD and RA set, q's question echoed, and one answer per address
// of the asked type (A: 1, AAAA: 28).
func byDNSAnswer(q []byte, hosts map[string][]netip.Addr) []byte {
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

// byErrorOf returns the error of the only ErrorEvent in evs, or nil.
func byErrorOf(t testing.TB, evs []Event) error {
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

// byCode checks that err is an *Error with Code code and returns it.
func byCode(t testing.TB, what string, err error, code string) *Error {
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

// byTCPConn is the *net.TCPConn under an open socket.
func byTCPConn(t testing.TB, s *Socket) *net.TCPConn {
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

// bySockopt reads an integer socket option of tc's descriptor.
func bySockopt(t testing.TB, tc *net.TCPConn, level, opt int) int {
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

// byCustomCtx is a context whose Done channel is its own: the standard
// library cannot hook into it, so context.AfterFunc on it runs a goroutine
// that waits until the context is done or the AfterFunc is stopped.
type byCustomCtx struct {
	context.Context
	done chan struct{}
}

func (c byCustomCtx) Done() <-chan struct{} { return c.done }

func (c byCustomCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// byEndedOrReset reports whether the events are those of a client whose
// server closed the connection at once: its end, or a reset.
func byEndedOrReset(evs []Event) bool {
	got := names(evs)
	return got == "connect end close(false)" || got == "connect error(read ECONNRESET) close(true)"
}

// ---- 1. ListenContext ----

// TestBeyondListenContextCancel proves that cancelling ListenContext's
// context closes the server, on TCP and on a Unix socket: the accept loop
// stops (a new connect is refused), the open connection is left alone,
// and the events are listening, connection, then close once it closes.
func TestBeyondListenContextCancel(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(t *testing.T) ListenOptions
		connect func(a Addr) (*Socket, error)
		refused []string // codes of a connect after the close
	}{
		{
			name:    "tcp",
			opts:    func(*testing.T) ListenOptions { return ListenOptions{Host: "127.0.0.1"} },
			connect: func(a Addr) (*Socket, error) { return ConnectTCP(a.Port, "127.0.0.1") },
			refused: []string{"ECONNREFUSED"},
		},
		{
			name:    "unix",
			opts:    func(t *testing.T) ListenOptions { return ListenOptions{Path: sockPath(t)} },
			connect: func(a Addr) (*Socket, error) { return ConnectUnix(a.Address) },
			refused: []string{"ENOENT", "ECONNREFUSED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			r := recordServer(t, srv)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := srv.ListenContext(ctx, tt.opts(t)); err != nil {
				t.Fatalf("ListenContext = %v; want nil", err)
			}
			addr := srv.Address()
			c, err := tt.connect(addr)
			if err != nil {
				t.Fatal(err)
			}
			rc := record(t, c)
			rc.waitFor("connect", isKind[ConnectEvent])
			s := r.waitConnection(1)

			cancel()
			waitUntil(t, "the server to stop listening", func() bool { return srv.Address() == (Addr{}) })
			c3, err := tt.connect(addr)
			if err != nil {
				t.Fatal(err)
			}
			evs3 := record(t, c3).wait()
			if e := byErrorOf(t, evs3); e != nil {
				var ne *Error
				if !errors.As(e, &ne) || !byContains(tt.refused, ne.Code) {
					t.Errorf("a connect after the context was cancelled: %v; want an *Error with Code in %v", e, tt.refused)
				}
			}
			if got := names(r.events()); got != "listening connection" {
				t.Errorf("server events with the connection still open = %q; want %q", got, "listening connection")
			}
			if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Close() after the context closed the server = %v; want %v", err, ErrNotRunning)
			}
			s.Destroy()
			rc.wait()
			if got, want := names(r.wait()), "listening connection close(false)"; got != want {
				t.Errorf("server events = %q; want %q", got, want)
			}
		})
	}
}

func byContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBeyondListenContextDone proves that ListenContext with a context
// already done returns its error and does not listen (no event; the
// server then listens normally).
func TestBeyondListenContextDone(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.ListenContext(ctx, ListenOptions{Host: "127.0.0.1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("ListenContext(a cancelled context) = %v; want %v", err, context.Canceled)
	}
	if got := srv.Address(); got != (Addr{}) {
		t.Errorf("Address() after ListenContext(a cancelled context) = %+v; want the zero Addr", got)
	}
	if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Close() = %v; want %v", err, ErrNotRunning)
	}
	listenTCP(t, srv)
	r.waitFor("listening", isKind[ListeningEvent])
	srv.Close()
	if got, want := names(r.wait()), "listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q (nothing from the refused ListenContext)", got, want)
	}
}

// TestBeyondListenContextInvalid proves that a negative Backlog or a port
// out of range is an error wrapping ErrInvalidArgument, and that the
// server does not listen.
func TestBeyondListenContextInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts ListenOptions
	}{
		{"backlog -1", ListenOptions{Host: "127.0.0.1", Backlog: -1}},
		{"unix backlog -1", ListenOptions{Path: "unused.sock", Backlog: -1}},
		{"port -1", ListenOptions{Host: "127.0.0.1", Port: -1}},
		{"port 65536", ListenOptions{Host: "127.0.0.1", Port: 65536}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			if err := srv.ListenContext(context.Background(), tt.opts); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("ListenContext(%+v) = %v; want an error wrapping %v", tt.opts, err, ErrInvalidArgument)
			}
			if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
				srv.Close()
				t.Errorf("Close() after an invalid ListenContext = %v; want %v (not listening)", err, ErrNotRunning)
			}
		})
	}
}

// TestBeyondListenContextCloseFirst proves that closing the server before
// its context is done stops ListenContext's AfterFunc: with a context
// whose Done the standard library cannot hook (so AfterFunc has a
// goroutine waiting on it), no goroutine is left after Close, and a later
// end of the context leaves the server, listening again, alone.
func TestBeyondListenContextCloseFirst(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx := byCustomCtx{Context: context.Background(), done: make(chan struct{})}
	srv := createServer(t, ServerOptions{}, nil)
	if err := srv.ListenContext(ctx, ListenOptions{Host: "127.0.0.1"}); err != nil {
		t.Fatalf("ListenContext = %v; want nil", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if err := goleak.Find(before); err != nil {
		close(ctx.done)
		t.Fatalf("goroutines left after Close of a server listening with a context: %v", err)
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen after Close = %v; want nil", err)
	}
	t.Cleanup(func() { srv.Close() })
	close(ctx.done)
	byDial(t, srv.Address().Port)
	if got := srv.Address(); got.Port == 0 {
		t.Errorf("the server stopped listening when the context of an earlier ListenContext ended")
	}
}

// byDial dials 127.0.0.1:port and closes the connection: it fails
// the test if the connect is refused.
func byDial(t testing.TB, port int) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("Dial 127.0.0.1:%d: %v", port, err)
	}
	c.Close()
}

// ---- 2. ReusePort ----

// TestBeyondReusePort proves that two servers may listen on one
// 127.0.0.1 port when both set ReusePort, that otherwise the second gets
// EADDRINUSE, and that the connections of the shared port all reach one
// of the two servers.
func TestBeyondReusePort(t *testing.T) {
	needReusePort(t)
	tests := []struct {
		first, second bool // ReusePort of each
		ok            bool
	}{
		{first: true, second: true, ok: true},
		{first: true, second: false},
		{first: false, second: true},
		{first: false, second: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v,%v", tt.first, tt.second), func(t *testing.T) {
			srv1 := createServer(t, ServerOptions{}, nil)
			r1 := recordServer(t, srv1)
			if err := srv1.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1", ReusePort: tt.first}); err != nil {
				t.Fatalf("first ListenContext = %v; want nil", err)
			}
			port := srv1.Address().Port
			srv2 := createServer(t, ServerOptions{}, nil)
			err := srv2.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1", Port: port, ReusePort: tt.second})
			if !tt.ok {
				checkSysError(t, "second ListenContext on the same port", err, "EADDRINUSE", "listen", syscall.EADDRINUSE)
				if err == nil {
					srv2.Close()
				}
				return
			}
			if err != nil {
				t.Fatalf("second ListenContext with ReusePort on port %d = %v; want nil", port, err)
			}
			r2 := recordServer(t, srv2)
			if got := srv2.Address().Port; got != port {
				t.Fatalf("second server's port = %d; want %d", got, port)
			}
			const n = 50
			for range n {
				dialRaw(t, port)
			}
			conns := func() (int, int) {
				return count[ConnectionEvent](r1.events()), count[ConnectionEvent](r2.events())
			}
			waitUntil(t, fmt.Sprintf("%d ConnectionEvents over both servers", n), func() bool {
				a, b := conns()
				return a+b >= n
			})
			if a, b := conns(); a+b != n {
				t.Errorf("ConnectionEvents: %d + %d; want %d in all", a, b, n)
			} else {
				t.Logf("the kernel gave %d connections to the first server, %d to the second", a, b)
			}
		})
	}
}

// ---- 3. IPv6Only ----

// TestBeyondIPv6Only proves that Host "::" with IPv6Only does not take
// IPv4: it listens beside a socket bound to 127.0.0.1 on the same port (a
// dual-stack socket could not), a connect to 127.0.0.1 there is refused,
// and ::1 reaches it; and that without IPv6Only it is dual stack:
// 127.0.0.1 reaches it.
func TestBeyondIPv6Only(t *testing.T) {
	byNeedIPv6(t)
	t.Run("IPv6Only=true", func(t *testing.T) {
		var srv *Server
		var port int
		for try := 0; srv == nil; try++ {
			p, err := byRawSocket(t, byLo4, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			s := createServer(t, ServerOptions{}, nil)
			err = s.ListenContext(context.Background(), ListenOptions{Host: "::", Port: p, IPv6Only: true})
			switch {
			case err == nil:
				srv, port = s, p
			case try == 10 || !errors.Is(err, syscall.EADDRINUSE):
				t.Fatalf("ListenContext(Host ::, IPv6Only) on port %d, bound on 127.0.0.1 only = %v; want nil", p, err)
			}
		}
		r := recordServer(t, srv)
		t.Cleanup(func() { srv.Close() })
		if got := srv.Address(); got.Address != "::" || got.Family != "IPv6" || got.Port != port {
			t.Errorf("Address() = %+v; want :: IPv6 port %d", got, port)
		}
		c6, err := ConnectTCP(port, "::1")
		if err != nil {
			t.Fatal(err)
		}
		record(t, c6).waitFor("connect over ::1", isKind[ConnectEvent])
		if got := r.waitConnection(1).RemoteAddress(); got != "::1" {
			t.Errorf("remote address of the ::1 client = %q; want ::1", got)
		}
		c4, err := ConnectTCP(port, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := byErrorOf(t, record(t, c4).wait()); err != nil {
			byCode(t, "connect to 127.0.0.1 beside an IPv6Only server", err, "ECONNREFUSED")
		}
		if got := count[ConnectionEvent](r.events()); got != 1 {
			t.Errorf("%d ConnectionEvents; want 1 (the ::1 client only)", got)
		}
	})
	t.Run("IPv6Only=false", func(t *testing.T) {
		srv := createServer(t, ServerOptions{}, nil)
		r := recordServer(t, srv)
		if err := srv.ListenContext(context.Background(), ListenOptions{Host: "::"}); err != nil {
			t.Fatalf("ListenContext(Host ::) = %v; want nil", err)
		}
		t.Cleanup(func() { srv.Close() })
		port := srv.Address().Port
		if _, err := byRawSocket(t, byLo4, port, false); err == nil {
			t.Errorf("binding 127.0.0.1:%d beside a dual-stack [::]:%d = nil; want EADDRINUSE", port, port)
		}
		for i, host := range []string{"::1", "127.0.0.1"} {
			c, err := ConnectTCP(port, host)
			if err != nil {
				t.Fatal(err)
			}
			record(t, c).waitFor("connect over "+host, isKind[ConnectEvent])
			if got := r.waitConnection(i + 1).RemoteAddress(); got != host {
				t.Errorf("remote address of the %s client = %q; want %s", host, got, host)
			}
		}
	})
}

// ---- 4. Exclusive ----

// TestBeyondExclusive proves that ListenHandle(srv) refuses, with
// ErrInvalidArgument, to share the socket of a server that listens with
// Exclusive, and shares it otherwise.
func TestBeyondExclusive(t *testing.T) {
	for _, exclusive := range []bool{true, false} {
		t.Run(fmt.Sprintf("Exclusive=%v", exclusive), func(t *testing.T) {
			srv1 := createServer(t, ServerOptions{}, nil)
			if err := srv1.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1", Exclusive: exclusive}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv1.Close() })
			srv2 := createServer(t, ServerOptions{}, nil)
			err := srv2.ListenHandle(srv1)
			if exclusive {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("ListenHandle(a server listening with Exclusive) = %v; want an error wrapping %v", err, ErrInvalidArgument)
				}
				if err == nil {
					srv2.Close()
				}
				return
			}
			if err != nil {
				t.Fatalf("ListenHandle(a server listening without Exclusive) = %v; want nil", err)
			}
			defer srv2.Close()
			if got, want := srv2.Address(), srv1.Address(); got != want {
				t.Errorf("the sharing server's Address() = %+v; want %+v", got, want)
			}
		})
	}
}

// TestBeyondExclusiveNotSticky proves that Exclusive belongs to one
// listen: once the server has closed and listens again without it
// (Listen, or ListenContext without Exclusive), its socket may be shared.
func TestBeyondExclusiveNotSticky(t *testing.T) {
	tests := []struct {
		name   string
		listen func(srv *Server) error
	}{
		{"Listen", func(srv *Server) error { return srv.Listen(0, "127.0.0.1", 0) }},
		{"ListenContext", func(srv *Server) error {
			return srv.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv1 := createServer(t, ServerOptions{}, nil)
			if err := srv1.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1", Exclusive: true}); err != nil {
				t.Fatal(err)
			}
			srv1.Close()
			if err := tt.listen(srv1); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv1.Close() })
			srv2 := createServer(t, ServerOptions{}, nil)
			if err := srv2.ListenHandle(srv1); err != nil {
				t.Errorf("ListenHandle(a server listening again, without Exclusive, after an Exclusive listen) = %v; want nil", err)
			} else {
				srv2.Close()
			}
		})
	}
}

// ---- 5. Staged Shutdown ----

// TestBeyondShutdownBusyNotEnded proves that Shutdown does not end a
// connection nobody consumes while it is not idle: one with unread data,
// one with a queued write. An idle connection beside it is ended (so the
// idle check has run); the busy one stays open, is told with a
// ShutdownEvent, and is destroyed at the deadline, which Shutdown reports
// as a *ForcedError.
func TestBeyondShutdownBusyNotEnded(t *testing.T) {
	tests := []struct {
		name string
		busy func(t *testing.T, s *Socket, c *net.TCPConn)
		want string // events of the busy socket
	}{
		{
			name: "unread data",
			busy: func(t *testing.T, s *Socket, c *net.TCPConn) {
				if _, err := c.Write([]byte("hello")); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "5 unread bytes", func() bool { return s.Stats().Unread == 5 })
			},
			want: "data shutdown close(false)",
		},
		{
			name: "queued write",
			busy: func(t *testing.T, s *Socket, c *net.TCPConn) {
				// The peer never reads: the kernel's buffers fill and the
				// rest waits in the socket's queue.
				if _, err := s.Send(make([]byte, 32<<20), nil); err != nil {
					t.Fatal(err)
				}
				if s.BufferSize() == 0 {
					t.Fatal("BufferSize() = 0 after sending 32 MiB to a peer that does not read")
				}
			},
			want: "shutdown close(false)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			r := recordServer(t, srv)
			port := listenTCP(t, srv)
			busyPeer := dialRaw(t, port)
			busy := r.waitConnection(1)
			idlePeer := dialRaw(t, port)
			r.waitConnection(2)
			tt.busy(t, busy, busyPeer)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			result := make(chan error, 1)
			go func() { result <- srv.Shutdown(ctx) }()
			// The idle connection is ended: its peer reads the FIN, and
			// closes, and the server lets go of it.
			if got := readAll(t, idlePeer); len(got) != 0 {
				t.Errorf("the idle peer read %q; want nothing", got)
			}
			idlePeer.Close()
			waitUntil(t, "the idle connection to close", func() bool { return srv.Connections() == 1 })
			if got := busy.ReadyState(); got != StateOpen {
				t.Errorf("ReadyState() of the busy connection during Shutdown = %v; want open (not ended)", got)
			}
			rs := record(t, busy)
			rs.waitFor("shutdown", isKind[ShutdownEvent])
			cancel()
			var forced *ForcedError
			if err := <-result; !errors.As(err, &forced) || forced.Forced != 1 || !errors.Is(err, context.Canceled) {
				t.Errorf("Shutdown = %v; want a *ForcedError{Forced: 1} wrapping %v", err, context.Canceled)
			}
			if got := names(rs.wait()); got != tt.want {
				t.Errorf("events of the busy connection = %q; want %q", got, tt.want)
			}
			if got, want := names(r.wait()), "listening connection connection close(false)"; got != want {
				t.Errorf("server events = %q; want %q", got, want)
			}
			if st := srv.Stats(); st.Forced != 1 || srv.Connections() != 0 || st.Accepted != 2 {
				t.Errorf("Stats() = %+v; want 2 accepted, 1 forced, 0 active", st)
			}
		})
	}
}

// TestBeyondShutdownNeverListened proves that Shutdown on a server that
// never listened returns nil at once, even with a context already done.
func TestBeyondShutdownNeverListened(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []context.Context{context.Background(), ctx} {
		srv := createServer(t, ServerOptions{}, nil)
		if err := srv.Shutdown(c); err != nil {
			t.Errorf("Shutdown on a server that never listened = %v; want nil", err)
		}
		if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Close() after that Shutdown = %v; want %v", err, ErrNotRunning)
		}
	}
}

// TestBeyondShutdownTwice proves that a connection gets one ShutdownEvent
// when Shutdown is called twice: the second call (with a context already
// done) destroys it, reporting one forced connection, and the first then
// returns nil.
func TestBeyondShutdownTwice(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	_, rc := connectClient(t, port)
	s := r.waitConnection(1)
	rs := record(t, s)

	first := make(chan error, 1)
	go func() { first <- srv.Shutdown(ctxTimeout(t)) }()
	rs.waitFor("shutdown", isKind[ShutdownEvent])
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var forced *ForcedError
	if err := srv.Shutdown(done); !errors.As(err, &forced) || forced.Forced != 1 {
		t.Errorf("second Shutdown(a done context) = %v; want a *ForcedError{Forced: 1}", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first Shutdown = %v; want nil (the connection closed)", err)
	}
	if got, want := names(rs.wait()), "shutdown close(false)"; got != want {
		t.Errorf("events of the server's socket = %q; want %q (one shutdown)", got, want)
	}
	rc.wait()
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("third Shutdown = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

// ---- 6. ConnectContext and Timeout ----

// TestBeyondConnectContextCancel proves that cancelling ConnectContext's
// context while the connect hangs destroys the socket with an ABORT_ERR
// that unwraps to the cause, and CloseEvent{HadError: true}; a context
// done already does the same. (Its deadline: TestBeyondConnectContextDeadline.)
func TestBeyondConnectContextCancel(t *testing.T) {
	port, err := byHang(t, byLo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	errCause := errors.New("the caller gave up")
	tests := []struct {
		name string
		run  func(t *testing.T, opts ConnectOptions) (*Socket, *recorder)
		want error
	}{
		{
			name: "cancel while connecting",
			run: func(t *testing.T, opts ConnectOptions) (*Socket, *recorder) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				s, err := ConnectContext(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				r := record(t, s)
				if !(s.ReadyState() == StateOpening) {
					t.Errorf("Connecting() while the connect hangs = false; want true")
				}
				cancel()
				return s, r
			},
			want: context.Canceled,
		},
		{
			name: "cancel with a cause",
			run: func(t *testing.T, opts ConnectOptions) (*Socket, *recorder) {
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				s, err := ConnectContext(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				r := record(t, s)
				cancel(errCause)
				return s, r
			},
			want: errCause,
		},
		{
			name: "context done already",
			run: func(t *testing.T, opts ConnectOptions) (*Socket, *recorder) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				s, err := ConnectContext(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				return s, record(t, s)
			},
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := tt.run(t, ConnectOptions{Host: "127.0.0.1", Port: port})
			evs := r.wait()
			if got, want := names(evs), "error(The operation was aborted) close(true)"; got != want {
				t.Errorf("events = %q; want %q", got, want)
			}
			if err := byErrorOf(t, evs); err != nil {
				byCode(t, "the error of an aborted connect", err, "ABORT_ERR")
				if !errors.Is(err, tt.want) {
					t.Errorf("errors.Is(%v, %v) = false; want true", err, tt.want)
				}
			}
			if (s.ReadyState() == StateOpening) || !isPending(s) || s.ReadyState() != StateClosed {
				t.Errorf("after the abort: Connecting() = %v, Pending() = %v, ReadyState() = %v; want false, true, closed",
					(s.ReadyState() == StateOpening), isPending(s), s.ReadyState())
			}
		})
	}
}

// byNewSocket is NewSocket(SocketOptions{}), destroyed by Cleanup.
func byNewSocket(t testing.TB) *Socket {
	t.Helper()
	s, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Destroy)
	return s
}

// TestBeyondConnectContextDeadline proves that the deadline of
// ConnectContext's context, passed while the connect hangs, gives the
// ABORT_ERR that unwraps to context.DeadlineExceeded, as any end of the
// context does (ConnectOptions.Timeout is the way to get ETIMEDOUT). It
// tries 20 times, since the race it guards against (the dialer reporting the deadline before the context) came about one time in three.
func TestBeyondConnectContextDeadline(t *testing.T) {
	port, err := byHang(t, byLo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		s := byNewSocket(t)
		if err := s.ConnectContext(ctx, ConnectOptions{Host: "127.0.0.1", Port: port}); err != nil {
			t.Fatal(err)
		}
		evs := record(t, s).wait()
		cancel()
		if got, want := names(evs), "error(The operation was aborted) close(true)"; got != want {
			t.Fatalf("try %d: events = %q; want %q", i, got, want)
		}
		if err := byErrorOf(t, evs); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("try %d: errors.Is(%v, %v) = false; want true", i, err, context.DeadlineExceeded)
		}
	}
}

// TestBeyondConnectTimeout proves that ConnectOptions.Timeout ends a
// hanging connect with an *Error ETIMEDOUT from connect, with the target
// address, that unwraps to syscall.ETIMEDOUT; and that a Timeout longer
// than the connect changes nothing.
func TestBeyondConnectTimeout(t *testing.T) {
	port, err := byHang(t, byLo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port, Timeout: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	evs := record(t, s).wait()
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("the connect timed out after %v; want at least the 30ms Timeout", elapsed)
	}
	if got, want := names(evs), "error(connect ETIMEDOUT) close(true)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if err := byErrorOf(t, evs); err != nil {
		checkSysError(t, "the error of a timed-out connect", err, "ETIMEDOUT", "connect", syscall.ETIMEDOUT)
		if ne := byCode(t, "timeout", err, "ETIMEDOUT"); ne != nil && ne.Address != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("Address = %q; want 127.0.0.1:%d", ne.Address, port)
		}
	}

	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	sport := listenTCP(t, srv)
	c, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: sport, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rc := record(t, c)
	rc.waitFor("connect", isKind[ConnectEvent])
	r.waitConnection(1)
	c.End()
	if got, want := names(rc.wait()), "connect end close(false)"; got != want {
		t.Errorf("events of a connect well within its Timeout = %q; want %q", got, want)
	}
}

// TestBeyondConnectContextAfterConnect proves that once connected, the
// end of ConnectContext's context changes nothing: data still flows both
// ways and the socket closes without an error.
func TestBeyondConnectContextAfterConnect(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := ConnectContext(ctx, ConnectOptions{Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	rc := record(t, c)
	rc.waitFor("connect", isKind[ConnectEvent])
	s := r.waitConnection(1)
	rs := record(t, s)
	cancel()
	c.SendString("ping", "", nil)
	if got := string(rs.waitData(4)); got != "ping" {
		t.Errorf("server got %q; want ping", got)
	}
	s.EndString("pong", "")
	if got, want := names(rc.wait()), "connect data end close(false)"; got != want {
		t.Errorf("client events after its context was cancelled = %q; want %q", got, want)
	}
	if got := string(dataOf(rc.events())); got != "pong" {
		t.Errorf("client got %q; want pong", got)
	}
	if got, want := names(rs.wait()), "data end close(false)"; got != want {
		t.Errorf("server socket events = %q; want %q", got, want)
	}
}

// TestBeyondConnectContextNil proves that a nil context is an invalid
// argument, for the package's and the socket's ConnectContext.
func TestBeyondConnectContextNil(t *testing.T) {
	//lint:ignore SA1012 the nil context is the point
	if s, err := ConnectContext(nil, ConnectOptions{Host: "127.0.0.1", Port: 1}); !errors.Is(err, ErrInvalidArgument) || s != nil {
		t.Errorf("ConnectContext(nil, ...) = %v, %v; want nil, an error wrapping %v", s, err, ErrInvalidArgument)
	}
	s := byNewSocket(t)
	//lint:ignore SA1012 the nil context is the point
	if err := s.ConnectContext(nil, ConnectOptions{Host: "127.0.0.1", Port: 1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Socket.ConnectContext(nil, ...) = %v; want an error wrapping %v", err, ErrInvalidArgument)
	}
	if s.ReadyState() == StateOpening {
		t.Errorf("Connecting() after a refused ConnectContext = true; want false")
	}
}

// ---- 7. Happy Eyeballs ----

// byDualTarget gives the name of a host that resolves to both ::1 and
// 127.0.0.1, the resolver to use (nil: the default one) and its two
// addresses in the order the resolver gives them.
type byDualTarget struct {
	name          string
	host          string
	resolver      *net.Resolver
	first, second netip.Addr
}

// byDualTargets are "localhost" through /etc/hosts (offline DNS), when it
// maps to both loopback addresses, and a made-up name of the fake DNS.
func byDualTargets(t *testing.T) []byDualTarget {
	t.Helper()
	byNeedIPv6(t)
	var out []byDualTarget
	for _, tg := range []byDualTarget{
		{name: "localhost", host: "localhost"},
		{name: "fake DNS", host: "dual.nodenet.test", resolver: byFakeDNS(t, map[string][]netip.Addr{
			"dual.nodenet.test.": {byLo6, byLo4},
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

// byAttempts is the connection attempt events of evs, in order, as
// "attempt ::1" and "failed 127.0.0.1 ECONNREFUSED".
func byAttempts(evs []Event) []string {
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

// byNonAttempts is evs without the connection attempt events.
func byNonAttempts(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		switch ev.(type) {
		case ConnectionAttemptEvent, ConnectionAttemptFailedEvent:
		default:
			out = append(out, ev)
		}
	}
	return out
}

// byIsPrefix reports whether got is want or its beginning.
func byIsPrefix(got, want []string) bool {
	return len(got) <= len(want) && strings.Join(got, "|") == strings.Join(want[:len(got)], "|")
}

// TestBeyondHappyEyeballsFallback proves that a host with two addresses,
// the first refusing, connects to the second: with ReportAttempts the
// events are connectionAttempt, connectionAttemptFailed (ECONNREFUSED)
// for the first, connectionAttempt for the second, then connect, each
// with its address and port; without it, only connect.
func TestBeyondHappyEyeballsFallback(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		for _, report := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s,ReportAttempts=%v", tg.name, report), func(t *testing.T) {
				srv, port := byDualPort(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, tg.second,
					func(port int) error { _, err := byRawSocket(t, tg.first, port, false); return err })
				r := recordServer(t, srv)
				c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: report})
				if err != nil {
					t.Fatal(err)
				}
				rc := record(t, c)
				rc.waitFor("connect", isKind[ConnectEvent])
				if got := c.RemoteAddress(); got != tg.second.String() {
					t.Errorf("RemoteAddress() = %q; want %q", got, tg.second)
				}
				r.waitConnection(1)
				evs := rc.events()
				want := "connect"
				if report {
					want = "connectionAttempt connectionAttemptFailed connectionAttempt connect"
				}
				if got := names(evs); got != want {
					t.Errorf("events = %q; want %q", got, want)
				}
				if !report {
					return
				}
				wantAttempts := []string{"attempt " + tg.first.String(), "failed " + tg.first.String() + " ECONNREFUSED", "attempt " + tg.second.String()}
				if got := byAttempts(evs); strings.Join(got, ", ") != strings.Join(wantAttempts, ", ") {
					t.Errorf("attempts = %q; want %q", got, wantAttempts)
				}
				for _, ev := range evs {
					if e, ok := ev.(ConnectionAttemptEvent); ok && e.Address.Port != port {
						t.Errorf("%+v: port %d; want %d", e, e.Address.Port, port)
					}
				}
			})
		}
	}
}

// TestBeyondHappyEyeballsAllRefused proves that when every address
// refuses, one ErrorEvent comes, after the attempt events: an *Error
// ECONNREFUSED from connect for
// host:port, for which errors.Is(err, syscall.ECONNREFUSED) holds, and
// whose cause joins both attempts' errors, each with its address.
func TestBeyondHappyEyeballsAllRefused(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var port int
			for try := 0; ; try++ {
				p, err := byRawSocket(t, tg.second, 0, false)
				if err != nil {
					t.Fatal(err)
				}
				if _, err = byRawSocket(t, tg.first, p, false); err == nil {
					port = p
					break
				}
				if try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatal(err)
				}
			}
			c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true})
			if err != nil {
				t.Fatal(err)
			}
			evs := record(t, c).wait()
			// Attempt events not yet delivered when the connect fails are
			// lost (TestBeyondHappyEyeballsEventsKept): those that come
			// must be the first ones, in order.
			if got, want := names(byNonAttempts(evs)), "error(connect ECONNREFUSED) close(true)"; got != want {
				t.Errorf("events = %q; want the attempts, then %q", names(evs), want)
			}
			wantAttempts := []string{
				"attempt " + tg.first.String(), "failed " + tg.first.String() + " ECONNREFUSED",
				"attempt " + tg.second.String(), "failed " + tg.second.String() + " ECONNREFUSED",
			}
			if got := byAttempts(evs); !byIsPrefix(got, wantAttempts) {
				t.Errorf("attempts = %q; want %q, or its beginning", got, wantAttempts)
			}
			err = byErrorOf(t, evs)
			if err == nil {
				return
			}
			checkSysError(t, "the error of a connect refused everywhere", err, "ECONNREFUSED", "connect", syscall.ECONNREFUSED)
			var ne *Error
			if !errors.As(err, &ne) {
				return
			}
			if want := net.JoinHostPort(tg.host, fmt.Sprint(port)); ne.Address != want {
				t.Errorf("Address = %q; want %q", ne.Address, want)
			}
			joined, ok := ne.Err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("the cause %v (%T) does not join the attempts' errors", ne.Err, ne.Err)
			}
			var got []string
			for _, e := range joined.Unwrap() {
				var ae *Error
				if errors.As(e, &ae) {
					got = append(got, ae.Address+" "+ae.Code)
				} else {
					got = append(got, fmt.Sprintf("%T %v", e, e))
				}
			}
			want := []string{
				netip.AddrPortFrom(tg.first, uint16(port)).String() + " ECONNREFUSED",
				netip.AddrPortFrom(tg.second, uint16(port)).String() + " ECONNREFUSED",
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("joined errors = %q; want %q", got, want)
			}
		})
	}
}

// TestBeyondHappyEyeballsEventsKept proves that a failed connect keeps
// its attempt events: a consumer that reads the events only once the
// socket has closed gets every connectionAttempt and
// connectionAttemptFailed, then the error and the close.
func TestBeyondHappyEyeballsEventsKept(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var port int
			for try := 0; ; try++ {
				p, err := byRawSocket(t, tg.second, 0, false)
				if err != nil {
					t.Fatal(err)
				}
				if _, err = byRawSocket(t, tg.first, p, false); err == nil {
					port = p
					break
				}
				if try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatal(err)
				}
			}
			c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Destroy)
			ch := c.Events()
			waitUntil(t, "the connect to fail", func() bool { return !(c.ReadyState() == StateOpening) })
			evs := untilClosed(t, "the events", ch)
			if got, want := names(evs), "connectionAttempt connectionAttemptFailed connectionAttempt connectionAttemptFailed error(connect ECONNREFUSED) close(true)"; got != want {
				t.Errorf("events read after the close = %q; want %q", got, want)
			}
		})
	}
}

// TestBeyondHappyEyeballsAttemptDelay proves the attempt delay: the first
// address hangs (a full backlog), the second, on the same port, is a
// server; the second attempt starts after AttemptDelay (250 ms when 0),
// not before, the connect succeeds there without waiting for the hang,
// and the hanging attempt is abandoned without an event (nor, as the
// package's leak check tells, a goroutine).
func TestBeyondHappyEyeballsAttemptDelay(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		for _, delay := range []time.Duration{30 * time.Millisecond, 0} {
			t.Run(fmt.Sprintf("%s,%v", tg.name, delay), func(t *testing.T) {
				srv, port := byDualPort(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, tg.second,
					func(port int) error { _, err := byHang(t, tg.first, port); return err })
				r := recordServer(t, srv)
				start := time.Now()
				c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true, AttemptDelay: delay})
				if err != nil {
					t.Fatal(err)
				}
				rc := record(t, c)
				rc.waitFor("connect", isKind[ConnectEvent])
				elapsed := time.Since(start)
				r.waitConnection(1)
				if least := byOr(delay, DefaultAttemptDelay); elapsed < least {
					t.Errorf("connected after %v; want the second attempt no sooner than the %v attempt delay", elapsed, least)
				}
				if got, want := names(rc.events()), "connectionAttempt connectionAttempt connect"; got != want {
					t.Errorf("events = %q; want %q", got, want)
				}
				want := []string{"attempt " + tg.first.String(), "attempt " + tg.second.String()}
				if got := byAttempts(rc.events()); strings.Join(got, ", ") != strings.Join(want, ", ") {
					t.Errorf("attempts = %q; want %q", got, want)
				}
				if got := c.RemoteAddress(); got != tg.second.String() {
					t.Errorf("RemoteAddress() = %q; want %q", got, tg.second)
				}
			})
		}
	}
}

// byOr is d, or def when d is 0.
func byOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestBeyondHappyEyeballsTimeout proves that Timeout bounds the whole race:
// both addresses hang, and the connect fails with ETIMEDOUT after the
// Timeout, having tried both.
func TestBeyondHappyEyeballsTimeout(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var port int
			for try := 0; ; try++ {
				p, err := byHang(t, tg.second, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err = byHang(t, tg.first, p); err == nil {
					port = p
					break
				}
				if try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatal(err)
				}
			}
			c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true,
				AttemptDelay: 10 * time.Millisecond, Timeout: 60 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			evs := record(t, c).wait()
			// Attempt events not yet delivered when the connect fails are
			// lost (TestBeyondHappyEyeballsEventsKept), and failures may be
			// told (TestBeyondHappyEyeballsTimeoutNotFailed): the attempts
			// that are told must be the first ones, in order.
			if got, want := names(byNonAttempts(evs)), "error(connect ETIMEDOUT) close(true)"; got != want {
				t.Errorf("events = %q; want the attempts, then %q", names(evs), want)
			}
			var started []string
			for _, a := range byAttempts(evs) {
				if strings.HasPrefix(a, "attempt ") {
					started = append(started, a)
				}
			}
			if want := []string{"attempt " + tg.first.String(), "attempt " + tg.second.String()}; !byIsPrefix(started, want) {
				t.Errorf("attempts started = %q; want %q, or its beginning", started, want)
			}
			if err := byErrorOf(t, evs); err != nil {
				checkSysError(t, "the error of a timed-out race", err, "ETIMEDOUT", "connect", syscall.ETIMEDOUT)
			}
		})
	}
}

// TestBeyondHappyEyeballsTimeoutNotFailed proves that the attempts that
// the Timeout stops are not reported as connectionAttemptFailed, as those
// stopped by a cancelled context are not: the events are the
// connectionAttempts (two, unless the machine is so loaded that the first
// outlives the Timeout before the second starts), the ETIMEDOUT error and
// the close. It tries 10 times, since the race it guards against came
// most of the time, not always.
func TestBeyondHappyEyeballsTimeoutNotFailed(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var port int
			for try := 0; ; try++ {
				p, err := byHang(t, tg.second, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err = byHang(t, tg.first, p); err == nil {
					port = p
					break
				}
				if try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatal(err)
				}
			}
			for i := range 10 {
				c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true,
					AttemptDelay: 10 * time.Millisecond, Timeout: 40 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				got := names(record(t, c).wait())
				two := "connectionAttempt connectionAttempt error(connect ETIMEDOUT) close(true)"
				one := "connectionAttempt error(connect ETIMEDOUT) close(true)"
				if got != two && got != one {
					t.Fatalf("try %d: events = %q; want %q (or, on a loaded machine, %q)", i, got, two, one)
				}
			}
		})
	}
}

// ---- 8. Resolver ----

// TestBeyondResolver proves that ConnectOptions.Resolver is used to look
// Host up (the default resolver is offline): a name of the fake DNS
// reaches the server at its address, and a name it does not know fails
// with ENOTFOUND from getaddrinfo, for that name.
func TestBeyondResolver(t *testing.T) {
	offlineDNS(t)
	res := byFakeDNS(t, map[string][]netip.Addr{"multi.nodenet.test.": {byLo4}})
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)

	c, err := Connect(ConnectOptions{Host: "multi.nodenet.test", Port: port, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	rc := record(t, c)
	rc.waitFor("connect", isKind[ConnectEvent])
	s := r.waitConnection(1)
	if got, want := s.RemotePort(), c.LocalPort(); got != want {
		t.Errorf("server socket's RemotePort() = %d; want the client's port %d", got, want)
	}
	if got := c.RemoteAddress(); got != "127.0.0.1" {
		t.Errorf("RemoteAddress() = %q; want 127.0.0.1", got)
	}

	for _, host := range []string{"unknown.nodenet.test", "unknown.nodenet.test."} {
		c2, err := Connect(ConnectOptions{Host: host, Port: port, Resolver: res})
		if err != nil {
			t.Fatal(err)
		}
		evs := record(t, c2).wait()
		if got, want := names(evs), "error(getaddrinfo ENOTFOUND) close(true)"; got != want {
			t.Errorf("events of a connect to %s = %q; want %q", host, got, want)
		}
		if err := byErrorOf(t, evs); err != nil {
			checkSysError(t, "the error of a connect to "+host, err, "ENOTFOUND", "getaddrinfo", 0)
			var ne *Error
			if errors.As(err, &ne) && ne.Address != host {
				t.Errorf("Address = %q; want %q", ne.Address, host)
			}
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
				t.Errorf("the cause of %v is not a *net.DNSError with IsNotFound", err)
			}
		}
	}
	if got := count[ConnectionEvent](r.events()); got != 1 {
		t.Errorf("%d ConnectionEvents; want 1", got)
	}
}

// ---- 9. BlockList ----

// TestBeyondBlockListCheck proves what a BlockList blocks: single
// addresses, inclusive ranges, subnets (masked; an IPv4-mapped subnet is
// its IPv4 subnet), IPv4-mapped addresses as their IPv4 address, zones
// ignored, families apart; and that Rules lists the rules in order.
func TestBeyondBlockListCheck(t *testing.T) {
	var b BlockList
	if b.Check("10.0.0.1") || len(b.Rules()) != 0 {
		t.Fatalf("the zero BlockList blocks 10.0.0.1 or has rules %q", b.Rules())
	}
	for _, err := range []error{
		b.AddAddress("10.0.0.1"),
		b.AddRange("10.0.1.10", "10.0.1.20"),
		b.AddSubnet("192.168.7.7/16"),
		b.AddAddress("fe80::1%eth0"),
		b.AddSubnet("::ffff:172.16.0.0/108"),
		b.AddRange("2001:db8::10", "2001:db8::20"),
		b.AddAddress("::ffff:10.9.9.9"),
		b.AddRange("::ffff:10.2.0.1", "10.2.0.3"),
		b.AddSubnet("fd00::/8"),
		b.AddRange("10.3.0.0", "10.3.0.0"),
	} {
		if err != nil {
			t.Fatalf("adding a rule: %v", err)
		}
	}
	wantRules := []string{ // Node's words and order: newest first
		"Range: IPv4 10.3.0.0-10.3.0.0",
		"Subnet: IPv6 fd00::/8",
		"Range: IPv4 10.2.0.1-10.2.0.3",
		"Address: IPv4 10.9.9.9",
		"Range: IPv6 2001:db8::10-2001:db8::20",
		"Subnet: IPv4 172.16.0.0/12",
		"Address: IPv6 fe80::1",
		"Subnet: IPv4 192.168.0.0/16",
		"Range: IPv4 10.0.1.10-10.0.1.20",
		"Address: IPv4 10.0.0.1",
	}
	if got := b.Rules(); strings.Join(got, "|") != strings.Join(wantRules, "|") {
		t.Errorf("Rules() =\n%q\nwant\n%q", got, wantRules)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true},
		{"10.0.0.2", false},
		{"10.0.0.0", false},
		{"::ffff:10.0.0.1", true},
		{"10.0.1.9", false},
		{"10.0.1.10", true},
		{"10.0.1.15", true},
		{"10.0.1.20", true},
		{"10.0.1.21", false},
		{"192.168.0.0", true},
		{"192.168.255.255", true},
		{"192.169.0.0", false},
		{"192.167.255.255", false},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fe80::1%lo", true},
		{"fe80::2", false},
		{"172.16.0.0", true},
		{"172.31.255.255", true},
		{"172.32.0.0", false},
		{"::ffff:172.20.1.1", true},
		{"2001:db8::f", false},
		{"2001:db8::10", true},
		{"2001:db8::20", true},
		{"2001:db8::21", false},
		{"10.9.9.9", true},
		{"::ffff:10.9.9.9", true},
		{"10.2.0.0", false},
		{"10.2.0.1", true},
		{"10.2.0.3", true},
		{"10.2.0.4", false},
		{"fd12:3456::1", true},
		{"fe00::1", false},
		{"10.3.0.0", true},
		{"10.3.0.1", false},
		{"::a00:1", false}, // IPv4-compatible, not mapped: an IPv6 address
		{"::1", false},
		{"not an address", false},
		{"", false},
		{"10.0.0.1/32", false},
	}
	for _, tt := range tests {
		if got := b.Check(tt.addr); got != tt.want {
			t.Errorf("Check(%q) = %v; want %v", tt.addr, got, tt.want)
		}
	}
}

// TestBeyondBlockListSubnetEdges proves the subnets of every size: /0
// blocks a whole family and only it, /32 and /128 one address.
func TestBeyondBlockListSubnetEdges(t *testing.T) {
	tests := []struct {
		cidr    string
		rule    string
		in, out []string
	}{
		{"0.0.0.0/0", "Subnet: IPv4 0.0.0.0/0", []string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"}, []string{"::", "::1"}},
		{"::/0", "Subnet: IPv6 ::/0", []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1"}, nil},
		{"1.2.3.4/32", "Subnet: IPv4 1.2.3.4/32", []string{"1.2.3.4"}, []string{"1.2.3.3", "1.2.3.5"}},
		{"::ffff:0.0.0.0/96", "Subnet: IPv4 0.0.0.0/0", []string{"1.2.3.4", "::ffff:9.9.9.9"}, []string{"::1"}},
		{"2001:db8::1/128", "Subnet: IPv6 2001:db8::1/128", []string{"2001:db8::1"}, []string{"2001:db8::", "2001:db8::2"}},
		{"10.255.255.255/9", "Subnet: IPv4 10.128.0.0/9", []string{"10.128.0.0", "10.255.255.255"}, []string{"10.127.255.255", "11.0.0.0"}},
	}
	for _, tt := range tests {
		var b BlockList
		if err := b.AddSubnet(tt.cidr); err != nil {
			t.Errorf("AddSubnet(%q) = %v; want nil", tt.cidr, err)
			continue
		}
		if got := b.Rules(); len(got) != 1 || got[0] != tt.rule {
			t.Errorf("AddSubnet(%q): Rules() = %q; want [%q]", tt.cidr, got, tt.rule)
		}
		for _, a := range tt.in {
			if !b.Check(a) {
				t.Errorf("AddSubnet(%q): Check(%q) = false; want true", tt.cidr, a)
			}
		}
		for _, a := range tt.out {
			if b.Check(a) {
				t.Errorf("AddSubnet(%q): Check(%q) = true; want false", tt.cidr, a)
			}
		}
	}
}

// TestBeyondBlockListInvalid proves that bad input (not an address, a
// range across families or reversed, a bad CIDR) is an error wrapping
// ErrInvalidArgument and adds no rule.
func TestBeyondBlockListInvalid(t *testing.T) {
	tests := []struct {
		name string
		add  func(b *BlockList) error
	}{
		{"address empty", func(b *BlockList) error { return b.AddAddress("") }},
		{"address a name", func(b *BlockList) error { return b.AddAddress("localhost") }},
		{"address out of range", func(b *BlockList) error { return b.AddAddress("10.0.0.256") }},
		{"address with a prefix", func(b *BlockList) error { return b.AddAddress("10.0.0.0/8") }},
		{"range bad start", func(b *BlockList) error { return b.AddRange("x", "10.0.0.1") }},
		{"range bad end", func(b *BlockList) error { return b.AddRange("10.0.0.1", "") }},
		{"range v4-v6", func(b *BlockList) error { return b.AddRange("10.0.0.1", "::1") }},
		{"range v6-v4", func(b *BlockList) error { return b.AddRange("::1", "10.0.0.1") }},
		{"range v4 reversed", func(b *BlockList) error { return b.AddRange("10.0.0.9", "10.0.0.1") }},
		{"range v6 reversed", func(b *BlockList) error { return b.AddRange("::2", "::1") }},
		{"range mapped reversed", func(b *BlockList) error { return b.AddRange("::ffff:10.0.0.9", "10.0.0.1") }},
		{"subnet no prefix", func(b *BlockList) error { return b.AddSubnet("10.0.0.0") }},
		{"subnet v4 /33", func(b *BlockList) error { return b.AddSubnet("10.0.0.0/33") }},
		{"subnet v6 /129", func(b *BlockList) error { return b.AddSubnet("::/129") }},
		{"subnet negative", func(b *BlockList) error { return b.AddSubnet("10.0.0.0/-1") }},
		{"subnet empty", func(b *BlockList) error { return b.AddSubnet("") }},
		{"subnet a name", func(b *BlockList) error { return b.AddSubnet("localhost/8") }},
	}
	for _, tt := range tests {
		var b BlockList
		if err := tt.add(&b); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error %v; want one wrapping %v", tt.name, err, ErrInvalidArgument)
		}
		if got := b.Rules(); len(got) != 0 {
			t.Errorf("%s: Rules() = %q; want none", tt.name, got)
		}
	}
}

// TestBeyondBlockListConcurrent proves that rules may be added while
// other goroutines check (run it with -race): every rule added is then
// seen, and Rules lists all.
func TestBeyondBlockListConcurrent(t *testing.T) {
	var b BlockList
	const writers, each = 4, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := b.AddAddress(fmt.Sprintf("10.%d.0.%d", w, i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b.Check("10.1.0.7")
				b.Check("::ffff:10.2.0.9")
				_ = b.Rules()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for w := range writers {
		for i := range each {
			if a := fmt.Sprintf("10.%d.0.%d", w, i); !b.Check(a) {
				t.Errorf("Check(%q) = false after it was added", a)
			}
		}
	}
	if got := len(b.Rules()); got != writers*each {
		t.Errorf("%d rules; want %d", got, writers*each)
	}
}

// TestBeyondServerBlockList proves ServerOptions.BlockList: a client from
// a blocked address sees its connect, then the end (or a reset); the
// server gets a DropEvent{Reason: "blockList"} with the client's address,
// no ConnectionEvent, and counts it as dropped.
func TestBeyondServerBlockList(t *testing.T) {
	tests := []struct {
		name  string
		host  string
		block func(b *BlockList) error
	}{
		{"IPv4 address", "127.0.0.1", func(b *BlockList) error { return b.AddAddress("127.0.0.1") }},
		{"IPv4 subnet", "127.0.0.1", func(b *BlockList) error { return b.AddSubnet("127.0.0.0/8") }},
		{"IPv4-mapped range", "127.0.0.1", func(b *BlockList) error { return b.AddRange("::ffff:127.0.0.0", "::ffff:127.0.0.9") }},
		{"IPv6 address", "::1", func(b *BlockList) error { return b.AddAddress("::1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.host == "::1" {
				byNeedIPv6(t)
			}
			bl := &BlockList{}
			if err := tt.block(bl); err != nil {
				t.Fatal(err)
			}
			srv := createServer(t, ServerOptions{BlockList: bl}, func(s *Socket) { s.SendString("hi", "", nil) })
			r := recordServer(t, srv)
			if err := srv.Listen(0, tt.host, 0); err != nil {
				t.Fatal(err)
			}
			port := srv.Address().Port
			c, err := ConnectTCP(port, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			evs := record(t, c).wait()
			if !byEndedOrReset(evs) || len(dataOf(evs)) != 0 {
				t.Errorf("events of a blocked client = %q, data %q; want connect, then end or ECONNRESET, no data", names(evs), dataOf(evs))
			}
			drop := r.waitFor("drop", isKind[DropEvent]).(DropEvent)
			if drop.Reason != "blockList" || drop.Remote.Address != tt.host || drop.Local.Port != port || drop.Local.Address != tt.host {
				t.Errorf("DropEvent = %+v; want Reason blockList, Remote %s, Local %s port %d", drop, tt.host, tt.host, port)
			}
			if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 0 || srv.Connections() != 0 {
				t.Errorf("Stats() = %+v; want 1 dropped, 0 accepted, 0 active", st)
			}
			srv.Close()
			if got, want := names(r.wait()), "listening drop close(false)"; got != want {
				t.Errorf("server events = %q; want %q", got, want)
			}
		})
	}
}

// TestBeyondServerBlockListLive proves that a server's BlockList may grow
// while it runs: a client accepted before its address is added is served,
// the next one from it is dropped.
func TestBeyondServerBlockListLive(t *testing.T) {
	bl := &BlockList{}
	srv := createServer(t, ServerOptions{BlockList: bl}, func(s *Socket) { s.SendString("hi", "", nil) })
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	_, rc := connectClient(t, port)
	if got := string(rc.waitData(2)); got != "hi" {
		t.Errorf("client before the block got %q; want hi", got)
	}
	if err := bl.AddAddress("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	c2, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if evs := record(t, c2).wait(); !byEndedOrReset(evs) {
		t.Errorf("events of the client after the block = %q; want connect, then end or ECONNRESET", names(evs))
	}
	r.waitFor("drop", isKind[DropEvent])
	if got, want := names(r.events()), "listening connection drop"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 1 || srv.Connections() != 1 {
		t.Errorf("Stats() = %+v; want 1 dropped, 1 accepted, 1 active", st)
	}
}

// TestBeyondConnectBlockList proves ConnectOptions.BlockList: a connect
// to a blocked address fails with ERR_IP_BLOCKED before any connect(2)
// (the server never sees it: the next, allowed, client is its first
// connection); an unblocked address connects.
func TestBeyondConnectBlockList(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	bl := &BlockList{}
	if err := bl.AddSubnet("127.0.0.0/24"); err != nil {
		t.Fatal(err)
	}
	c, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port, BlockList: bl})
	if err != nil {
		t.Fatal(err)
	}
	evs := record(t, c).wait()
	if got, want := names(evs), "error(IP(127.0.0.1) is blocked by net.BlockList) close(true)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if err := byErrorOf(t, evs); err != nil {
		if ne := byCode(t, "the error of a blocked connect", err, "ERR_IP_BLOCKED"); ne != nil && ne.Address != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("Address = %q; want 127.0.0.1:%d", ne.Address, port)
		}
	}
	closedPort, err := byRawSocket(t, byLo4, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	other := &BlockList{}
	if err := other.AddSubnet("10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	c2, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: closedPort, BlockList: other})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(record(t, c2).wait()); got != "error(connect ECONNREFUSED) close(true)" {
		// 127.0.0.1 is not in the list: the connect is made, and refused.
		t.Errorf("events of an unblocked connect to a closed port = %q; want a refused connect", got)
	}
	c3, _ := connectClient(t, port)
	s := r.waitConnection(1)
	if got, want := s.RemotePort(), c3.LocalPort(); got != want {
		t.Errorf("the server's first connection comes from port %d; want the allowed client's %d (the blocked one connected?)", got, want)
	}
	if st := srv.Stats(); st.Accepted != 1 {
		t.Errorf("Stats().Accepted = %d; want 1", st.Accepted)
	}
}

// TestBeyondConnectBlockListRace proves that a blocked address among
// several is one failed attempt (ERR_IP_BLOCKED) and the connect goes on
// to the other address.
func TestBeyondConnectBlockListRace(t *testing.T) {
	for _, tg := range byDualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			srv, port := byDualPort(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, tg.second,
				func(port int) error { _, err := byRawSocket(t, tg.first, port, false); return err })
			r := recordServer(t, srv)
			bl := &BlockList{}
			if err := bl.AddAddress(tg.first.String()); err != nil {
				t.Fatal(err)
			}
			c, err := Connect(ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true, BlockList: bl})
			if err != nil {
				t.Fatal(err)
			}
			rc := record(t, c)
			rc.waitFor("connect", isKind[ConnectEvent])
			r.waitConnection(1)
			want := []string{"attempt " + tg.first.String(), "failed " + tg.first.String() + " ERR_IP_BLOCKED", "attempt " + tg.second.String()}
			if got := byAttempts(rc.events()); strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("attempts = %q; want %q", got, want)
			}
		})
	}
}

// ---- 10. WaitOverLimit ----

// byWaitServer is a server with WaitOverLimit and a limit of 1 whose
// handler writes "hi"; its first client is connected and served.
func byWaitServer(t *testing.T) (*Server, int, *serverRecorder, *Socket, *recorder, *Socket) {
	t.Helper()
	srv := createServer(t, ServerOptions{WaitOverLimit: true}, func(s *Socket) { s.SendString("hi", "", nil) })
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	if err := srv.SetMaxConnections(1); err != nil {
		t.Fatal(err)
	}
	c1, r1 := connectClient(t, port)
	if got := string(r1.waitData(2)); got != "hi" {
		t.Fatalf("first client got %q; want hi", got)
	}
	return srv, port, r, c1, r1, r.waitConnection(1)
}

// byWaitingClient connects a client that the kernel accepts (its connect
// completes) while the server, at its limit, does not; a round trip on
// the first connection gives the server time to do wrong.
func byWaitingClient(t *testing.T, srv *Server, port int, r *serverRecorder, c1, s1 *Socket) (*Socket, *recorder) {
	t.Helper()
	c2, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r2 := record(t, c2)
	r2.waitFor("connect", isKind[ConnectEvent])
	rs1 := record(t, s1)
	c1.SendString("ping", "", nil)
	rs1.waitData(4)
	if got, want := names(r.events()), "listening connection"; got != want {
		t.Errorf("server events with a client waiting over the limit = %q; want %q (no connection, no drop)", got, want)
	}
	if st := srv.Stats(); st.Accepted != 1 || st.Dropped != 0 || srv.Connections() != 1 {
		t.Errorf("Stats() with a client waiting = %+v; want 1 accepted, 0 dropped, 1 active", st)
	}
	if got := dataOf(r2.events()); len(got) != 0 {
		t.Errorf("the waiting client got %q; want nothing yet", got)
	}
	return c2, r2
}

// TestBeyondWaitOverLimit proves WaitOverLimit: a client over the limit
// connects (kernel backlog) but is neither accepted nor dropped until the
// first connection closes; then it is accepted and served.
func TestBeyondWaitOverLimit(t *testing.T) {
	srv, port, r, c1, r1, s1 := byWaitServer(t)
	c2, r2 := byWaitingClient(t, srv, port, r, c1, s1)
	c1.Destroy()
	r1.wait()
	if got := string(r2.waitData(2)); got != "hi" {
		t.Errorf("the waiting client got %q once the first left; want hi", got)
	}
	s2 := r.waitConnection(2)
	if got, want := s2.RemotePort(), c2.LocalPort(); got != want {
		t.Errorf("second connection from port %d; want the waiting client's %d", got, want)
	}
	if got, want := names(r.events()), "listening connection connection"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if st := srv.Stats(); st.Accepted != 2 || st.Dropped != 0 {
		t.Errorf("Stats() = %+v; want 2 accepted, 0 dropped", st)
	}
}

// TestBeyondWaitOverLimitRaise proves that raising the limit lets a
// waiting client in at once, and that 0 (no limit) does too.
func TestBeyondWaitOverLimitRaise(t *testing.T) {
	srv, port, r, c1, _, s1 := byWaitServer(t)
	_, r2 := byWaitingClient(t, srv, port, r, c1, s1)
	if err := srv.SetMaxConnections(2); err != nil {
		t.Fatal(err)
	}
	if got := string(r2.waitData(2)); got != "hi" {
		t.Errorf("the waiting client got %q after SetMaxConnections(2); want hi", got)
	}
	r.waitConnection(2)

	c3, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r3 := record(t, c3)
	r3.waitFor("connect", isKind[ConnectEvent])
	if err := srv.SetMaxConnections(0); err != nil {
		t.Fatal(err)
	}
	if got := string(r3.waitData(2)); got != "hi" {
		t.Errorf("the third client got %q after SetMaxConnections(0); want hi", got)
	}
	r.waitConnection(3)
	if got := count[DropEvent](r.events()); got != 0 {
		t.Errorf("%d DropEvents; want none", got)
	}
	if st := srv.Stats(); st.Accepted != 3 || srv.Connections() != 3 {
		t.Errorf("Stats() = %+v; want 3 accepted, 3 active", st)
	}
}

// TestBeyondWaitOverLimitClose proves that Close returns promptly while
// the accept loop waits for room (and leaves no goroutine: the package's
// leak check); the waiting client's connection then goes away.
func TestBeyondWaitOverLimitClose(t *testing.T) {
	srv, port, r, c1, _, s1 := byWaitServer(t)
	_, r2 := byWaitingClient(t, srv, port, r, c1, s1)
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close() did not return while the accept loop waited for room")
	}
	r2.wait() // the listening socket closed with the client in its queue
	if got := count[ConnectionEvent](r.events()); got != 1 {
		t.Errorf("%d ConnectionEvents; want 1", got)
	}
	s1.Destroy()
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

// ---- 11. PauseOnConnect ----

// TestBeyondPauseOnConnect proves PauseOnConnect: an accepted socket is
// paused and reads nothing at all from the kernel (BytesRead and Unread
// stay 0 while its peer's data waits there, even once subscribed) until
// Resume; then the data arrives.
func TestBeyondPauseOnConnect(t *testing.T) {
	srv := createServer(t, ServerOptions{PauseOnConnect: true}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	c1 := dialRaw(t, port)
	if _, err := c1.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	s1 := r.waitConnection(1)
	if !s1.IsPaused() {
		t.Errorf("IsPaused() of a socket accepted with PauseOnConnect = false; want true")
	}
	// A round trip on a second connection, resumed, gives the first one
	// time to read "hello" if it were reading.
	c2 := dialRaw(t, port)
	s2 := r.waitConnection(2)
	rs2 := record(t, s2)
	s2.Resume()
	if _, err := c2.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	rs2.waitData(4)
	rs1 := record(t, s1)
	if _, err := c2.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	rs2.waitData(8)
	st := s1.Stats()
	if s1.BytesRead() != 0 || st.Unread != 0 || !s1.IsPaused() || !st.LastRead.IsZero() {
		t.Errorf("Stats() of the paused socket = %+v; want nothing read, paused", st)
	}
	if got := rs1.events(); len(got) != 0 {
		t.Errorf("events of the paused socket = %q; want none", names(got))
	}
	s1.Resume()
	if got := string(rs1.waitData(5)); got != "hello" {
		t.Errorf("data after Resume = %q; want hello", got)
	}
	if got := s1.BytesRead(); got != 5 {
		t.Errorf("BytesRead() after Resume = %d; want 5", got)
	}

	// A socket destroyed while held closes cleanly: its reader, waiting
	// for a Resume, stops (the package's leak check), the peer reads the
	// end, and the socket's events end with the close.
	c3 := dialRaw(t, port)
	s3 := r.waitConnection(3)
	rs3 := record(t, s3)
	s3.Destroy()
	if got := readAll(t, c3); len(got) != 0 {
		t.Errorf("the peer of a socket destroyed while held read %q; want nothing", got)
	}
	if got, want := names(rs3.wait()), "close(false)"; got != want {
		t.Errorf("events of a socket destroyed while held = %q; want %q", got, want)
	}
}

// ---- 12. SetNoDelay and SetKeepAlive, before and after the connect ----

// TestBeyondSocketOptions proves that SetNoDelay and SetKeepAlive reach the
// sockets' descriptors, read back with getsockopt: TCP_NODELAY (0 with
// Nagle on; Go's 1 otherwise), SO_KEEPALIVE and TCP_KEEPIDLE (the delay,
// in whole seconds). They are set on the accepted socket in the ConnState
// hook, before the program sees it, and on the client right after Connect,
// while it may still be connecting (they apply once it is connected).
func TestBeyondSocketOptions(t *testing.T) {
	tests := []struct {
		name      string
		nagle     bool
		keepAlive bool
		delay     time.Duration
		wantIdle  int // 0: not checked
	}{
		{name: "defaults"},
		{name: "Nagle", nagle: true},
		{name: "KeepAlive 7s", keepAlive: true, delay: 7 * time.Second, wantIdle: 7},
		{name: "Nagle and KeepAlive 42s", nagle: true, keepAlive: true, delay: 42 * time.Second, wantIdle: 42},
		{name: "KeepAlive 1.9s, truncated", keepAlive: true, delay: 1900 * time.Millisecond, wantIdle: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apply := func(s *Socket) {
				if tt.nagle {
					if err := s.SetNoDelay(false); err != nil {
						t.Error(err)
					}
				}
				if tt.keepAlive {
					if err := s.SetKeepAlive(true, tt.delay); err != nil {
						t.Error(err)
					}
				}
			}
			srv := createServer(t, ServerOptions{ConnState: func(s *Socket, open bool) {
				if open {
					apply(s)
				}
			}}, nil)
			r := recordServer(t, srv)
			port := listenTCP(t, srv)
			c, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port})
			if err != nil {
				t.Fatal(err)
			}
			apply(c)
			record(t, c).waitFor("connect", isKind[ConnectEvent])
			s := r.waitConnection(1)
			for _, side := range []struct {
				name string
				s    *Socket
			}{{"accepted", s}, {"connected", c}} {
				tc := byTCPConn(t, side.s)
				wantNoDelay := 1
				if tt.nagle {
					wantNoDelay = 0
				}
				if got := bySockopt(t, tc, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); got != wantNoDelay {
					t.Errorf("%s socket: TCP_NODELAY = %d; want %d", side.name, got, wantNoDelay)
				}
				if got := bySockopt(t, tc, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got != 1 {
					t.Errorf("%s socket: SO_KEEPALIVE = %d; want 1", side.name, got)
				}
				if tt.wantIdle != 0 {
					if got := bySockopt(t, tc, syscall.IPPROTO_TCP, tcpKeepIdle); got != tt.wantIdle {
						t.Errorf("%s socket: TCP_KEEPIDLE = %d; want %d", side.name, got, tt.wantIdle)
					}
				}
			}
		})
	}
}

// ---- 13. Stats and ConnState ----

// TestBeyondSocketStats proves Socket.Stats: counters and times are zero
// before any I/O and move with it (LastWrite on the writer, LastRead on
// the reader), Unread holds the data a paused socket has read and not
// delivered, BufferSize and Paused are reported, and ReadyState follows
// the connection to its close.
func TestBeyondSocketStats(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	start := time.Now()
	c, rc := connectClient(t, port)
	s := r.waitConnection(1)
	for _, side := range []*Socket{c, s} {
		st := side.Stats()
		if side.BytesRead() != 0 || side.BytesWritten() != 0 || !st.LastRead.IsZero() || !st.LastWrite.IsZero() ||
			st.Unread != 0 || side.BufferSize() != 0 || side.IsPaused() || side.ReadyState() != StateOpen {
			t.Errorf("Stats() before any I/O = %+v; want zeros, open", st)
		}
	}
	s.Pause()
	rs := record(t, s)
	c.SendString("hello", "", nil)
	waitUntil(t, "the paused socket to read 5 bytes", func() bool { return s.Stats().Unread == 5 })
	st := s.Stats()
	if s.BytesRead() != 5 || !s.IsPaused() || st.LastRead.IsZero() || !st.LastWrite.IsZero() {
		t.Errorf("Stats() of the paused reader = %+v; want 5 read and unread, paused, LastRead set, LastWrite zero", st)
	}
	if st.LastRead.Before(start.Add(-time.Second)) || st.LastRead.After(time.Now().Add(time.Second)) {
		t.Errorf("LastRead = %v; want about now (%v)", st.LastRead, time.Now())
	}
	if ct := c.Stats(); c.BytesWritten() != 5 || ct.LastWrite.IsZero() || !ct.LastRead.IsZero() {
		t.Errorf("Stats() of the writer = %+v; want 5 written, LastWrite set, LastRead zero", ct)
	}
	s.Resume()
	rs.waitData(5)
	if st := s.Stats(); st.Unread != 0 || s.IsPaused() {
		t.Errorf("Stats() after Resume and delivery = %+v; want 0 unread, not paused", st)
	}
	s.SendString("world", "", nil)
	rc.waitData(5)
	if st := s.Stats(); s.BytesWritten() != 5 || st.LastWrite.IsZero() {
		t.Errorf("Stats() of the server socket after its write = %+v; want 5 written, LastWrite set", st)
	}
	if ct := c.Stats(); c.BytesRead() != 5 || ct.LastRead.IsZero() {
		t.Errorf("Stats() of the client after its read = %+v; want 5 read, LastRead set", ct)
	}
	c.End()
	if got := c.ReadyState(); got != StateReadOnly && got != StateClosed {
		t.Errorf("ReadyState after End = %v; want readOnly (or closed, if the peer's end came already)", got)
	}
	rc.wait()
	rs.wait()
	for _, side := range []*Socket{c, s} {
		if side.ReadyState() != StateClosed || side.BytesRead() != 5 || side.BytesWritten() != 5 {
			t.Errorf("after the close: ReadyState %v, BytesRead %d, BytesWritten %d; want closed, the counters kept",
				side.ReadyState(), side.BytesRead(), side.BytesWritten())
		}
	}
}

// TestBeyondServerStats proves Server.Stats: Accepted and Connections count
// the connections, Dropped the one over SetMaxConnections, Forced those
// Shutdown destroys at its deadline.
func TestBeyondServerStats(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	if st := srv.Stats(); st != (ServerStats{}) {
		t.Errorf("Stats() of a new server = %+v; want zeros", st)
	}
	c1, rc1 := connectClient(t, port)
	connectClient(t, port)
	connectClient(t, port)
	for i := 1; i <= 3; i++ {
		record(t, r.waitConnection(i)) // consumed: Shutdown leaves them to the program
	}
	if st := srv.Stats(); st.Accepted != 3 || srv.Connections() != 3 || st.Dropped != 0 || st.Forced != 0 {
		t.Errorf("Stats() with 3 open = %+v; want 3 accepted, 3 active", st)
	}
	c1.Destroy()
	rc1.wait()
	waitUntil(t, "2 active connections", func() bool { return srv.Connections() == 2 })
	srv.SetMaxConnections(2)
	c4, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	record(t, c4).wait()
	r.waitFor("drop", isKind[DropEvent])
	if st := srv.Stats(); st.Accepted != 3 || srv.Connections() != 2 || st.Dropped != 1 || st.Forced != 0 {
		t.Errorf("Stats() after a drop = %+v; want 3 accepted, 2 active, 1 dropped", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var forced *ForcedError
	if err := srv.Shutdown(ctx); !errors.As(err, &forced) || forced.Forced != 2 {
		t.Errorf("Shutdown = %v; want a *ForcedError{Forced: 2}", err)
	}
	r.wait()
	if st := srv.Stats(); st.Accepted != 3 || srv.Connections() != 0 || st.Dropped != 1 || st.Forced != 2 {
		t.Errorf("Stats() after Shutdown = %+v; want 3 accepted, 0 active, 1 dropped, 2 forced", st)
	}
}

// TestBeyondConnState proves the ConnState hook over 20 connections,
// closed by either side: StateOpen comes before the ConnectionEvent's
// consumer sees the socket, StateClosed once the socket is closed, each
// exactly once per connection, and never for a dropped connection.
func TestBeyondConnState(t *testing.T) {
	var mu sync.Mutex
	opened := map[*Socket]int{}
	closed := map[*Socket]int{}
	var problems []string
	hook := func(s *Socket, open bool) {
		mu.Lock()
		defer mu.Unlock()
		if open {
			opened[s]++
			if closed[s] > 0 {
				problems = append(problems, "open after closed")
			}
			return
		}
		closed[s]++
		if opened[s] == 0 {
			problems = append(problems, "closed before open")
		}
		if rs := s.ReadyState(); rs != StateClosed {
			problems = append(problems, fmt.Sprintf("closed told while ReadyState() = %v", rs))
		}
	}
	srv := createServer(t, ServerOptions{ConnState: hook}, nil)
	port := listenTCP(t, srv)
	evs := srv.Events()
	conns := make(chan *Socket, 32)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ev := range evs {
			if ce, ok := ev.(ConnectionEvent); ok {
				mu.Lock()
				if opened[ce.Socket] != 1 {
					problems = append(problems, fmt.Sprintf("ConnectionEvent seen after %d StateOpen", opened[ce.Socket]))
				}
				mu.Unlock()
				conns <- ce.Socket
			}
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		for done := false; !done; {
			select {
			case s := <-conns:
				s.Destroy()
			case <-consumed:
				done = true
			}
		}
	})

	const n = 20
	for i := range n {
		c, rc := connectClient(t, port)
		s := accept(t, conns)
		rs := record(t, s)
		if i%2 == 0 {
			s.Destroy()
		} else {
			c.End()
		}
		rc.wait()
		rs.wait()
	}
	srv.SetMaxConnections(1)
	connectClient(t, port)
	keep := accept(t, conns)
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	record(t, c).wait() // dropped
	keep.Destroy()
	waitUntil(t, "StateClosed for every connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closed) == n+1
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	if len(opened) != n+1 || len(closed) != n+1 {
		t.Errorf("hook told of %d opened, %d closed sockets; want %d each (the dropped one not at all)", len(opened), len(closed), n+1)
	}
	for s, k := range opened {
		if k != 1 || closed[s] != 1 {
			t.Errorf("a socket was told open %d times, closed %d times; want once each", k, closed[s])
		}
	}
}

// ---- 14. ReadyState, ResetAndDestroy ----

// isPending is Node's socket.pending told by ReadyState: not connected,
// because Connect has not been called, is still connecting, or has closed.
func isPending(s *Socket) bool {
	rs := s.ReadyState()
	return rs == StateOpening || rs == StateClosed
}

// TestBeyondConnectingPending proves ReadyState's Node v20 readings,
// socket.connecting and socket.pending, through a socket's life: new, connecting (a hanging
// connect), destroyed while connecting, connected, closed.
func TestBeyondConnectingPending(t *testing.T) {
	type state struct {
		connecting, pending bool
		ready               ReadyState
	}
	get := func(s *Socket) state { return state{(s.ReadyState() == StateOpening), isPending(s), s.ReadyState()} }
	hang, err := byHang(t, byLo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := byNewSocket(t)
	if got, want := get(s), (state{false, true, StateClosed}); got != want {
		t.Errorf("new socket: %+v; want %+v", got, want)
	}
	if err := s.Connect(ConnectOptions{Host: "127.0.0.1", Port: hang}); err != nil {
		t.Fatal(err)
	}
	r := record(t, s)
	if got, want := get(s), (state{true, true, StateOpening}); got != want {
		t.Errorf("connecting: %+v; want %+v", got, want)
	}
	if err := s.ResetAndDestroy(); err != nil {
		t.Errorf("ResetAndDestroy() while connecting = %v; want nil (just destroyed)", err)
	}
	if got, want := names(r.wait()), "close(false)"; got != want {
		t.Errorf("events of a socket reset while connecting = %q; want %q", got, want)
	}
	if got, want := get(s), (state{false, true, StateClosed}); got != want {
		t.Errorf("destroyed while connecting: %+v; want %+v", got, want)
	}

	srv := createServer(t, ServerOptions{}, nil)
	rsrv := recordServer(t, srv)
	port := listenTCP(t, srv)
	c, rc := connectClient(t, port)
	if got, want := get(c), (state{false, false, StateOpen}); got != want {
		t.Errorf("connected: %+v; want %+v", got, want)
	}
	rsrv.waitConnection(1).End()
	rc.wait()
	if got, want := get(c), (state{false, true, StateClosed}); got != want {
		t.Errorf("closed: %+v; want %+v", got, want)
	}
	if err := c.ResetAndDestroy(); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("ResetAndDestroy() after close = %v; want %v", err, ErrSocketClosed)
	}
	if err := byNewSocket(t).ResetAndDestroy(); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("ResetAndDestroy() on a new socket = %v; want %v", err, ErrSocketClosed)
	}
}

// TestBeyondResetAndDestroy proves that ResetAndDestroy on an open TCP
// socket, of either side, closes it with an RST: its peer, a nodenet
// socket, gets a read ECONNRESET error, while the socket itself closes
// without error and drops its queue.
func TestBeyondResetAndDestroy(t *testing.T) {
	for _, who := range []string{"client", "server"} {
		t.Run(who, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			r := recordServer(t, srv)
			port := listenTCP(t, srv)
			c, rc := connectClient(t, port)
			s := r.waitConnection(1)
			rs := record(t, s)
			c.SendString("x", "", nil)
			rs.waitData(1) // both sides up and past the handshake
			resetter, rr, rp := c, rc, rs
			if who == "server" {
				resetter, rr, rp = s, rs, rc
			}
			if err := resetter.ResetAndDestroy(); err != nil {
				t.Fatalf("ResetAndDestroy() = %v; want nil", err)
			}
			if got := names(rr.wait()); !strings.HasSuffix(got, "close(false)") || strings.Contains(got, "error") {
				t.Errorf("events of the socket reset = %q; want no error, close(false)", got)
			}
			evs := rp.wait()
			if err := byErrorOf(t, evs); err != nil {
				checkSysError(t, "the peer's error after a reset", err, "ECONNRESET", "read", syscall.ECONNRESET)
			}
			if !strings.HasSuffix(names(evs), "close(true)") {
				t.Errorf("events of the peer = %q; want an error and close(true)", names(evs))
			}
		})
	}
}

// TestBeyondResetAndDestroyUnix proves that ResetAndDestroy on a Unix
// socket is an invalid argument (Node's ERR_INVALID_HANDLE_TYPE) and
// leaves the socket open and working.
func TestBeyondResetAndDestroyUnix(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	path := sockPath(t)
	if err := srv.ListenUnix(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := ConnectUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	rc := record(t, c)
	rc.waitFor("connect", isKind[ConnectEvent])
	s := r.waitConnection(1)
	rs := record(t, s)
	for _, side := range []*Socket{c, s} {
		if err := side.ResetAndDestroy(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ResetAndDestroy() on a Unix socket = %v; want an error wrapping %v", err, ErrInvalidArgument)
		}
	}
	c.EndString("still open", "")
	if got := string(rs.waitData(10)); got != "still open" {
		t.Errorf("server got %q; want %q", got, "still open")
	}
	if got, want := names(rc.wait()), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
}

// ---- 15. Option validation ----

// TestBeyondConnectOptionsInvalid proves that a negative Timeout or
// AttemptDelay is refused by Connect,
// ConnectContext and Socket.Connect with an error wrapping
// ErrInvalidArgument, before anything starts.
func TestBeyondConnectOptionsInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts ConnectOptions
	}{
		{"Timeout", ConnectOptions{Timeout: -time.Nanosecond}},
		{"AttemptDelay", ConnectOptions{AttemptDelay: -time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, opts := range []ConnectOptions{tt.opts, byWithPath(tt.opts)} {
				if opts.Path == "" {
					opts.Host, opts.Port = "127.0.0.1", 1
				}
				if s, err := Connect(opts); !errors.Is(err, ErrInvalidArgument) || s != nil {
					t.Errorf("Connect(%+v) = %v, %v; want nil, an error wrapping %v", opts, s, err, ErrInvalidArgument)
				}
				if s, err := ConnectContext(context.Background(), opts); !errors.Is(err, ErrInvalidArgument) || s != nil {
					t.Errorf("ConnectContext(%+v) = %v, %v; want nil, an error wrapping %v", opts, s, err, ErrInvalidArgument)
				}
				s := byNewSocket(t)
				if err := s.Connect(opts); !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("Socket.Connect(%+v) = %v; want an error wrapping %v", opts, err, ErrInvalidArgument)
				}
				if (s.ReadyState() == StateOpening) || s.ReadyState() != StateClosed {
					t.Errorf("after a refused Connect: Connecting() = %v, ReadyState() = %v; want false, closed", (s.ReadyState() == StateOpening), s.ReadyState())
				}
			}
		})
	}
}

func byWithPath(o ConnectOptions) ConnectOptions {
	o.Path = "/nonexistent/nodenet.sock"
	return o
}

// ---- More: the socket in ConnState, LocalAddress and the race ----

// TestBeyondConnStateOpenSocket proves that the socket ConnState gets
// with StateOpen is usable as the hook's documentation promises ("may
// call the socket's methods"): it is open, with its addresses, as
// http.Server's StateNew connection is.
func TestBeyondConnStateOpenSocket(t *testing.T) {
	type seen struct {
		ready   ReadyState
		pending bool
		remote  string
	}
	got := make(chan seen, 1)
	srv := createServer(t, ServerOptions{ConnState: func(s *Socket, open bool) {
		if open {
			got <- seen{s.ReadyState(), isPending(s), s.RemoteAddress()}
		}
	}}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	connectClient(t, port)
	r.waitConnection(1)
	if g, want := <-got, (seen{StateOpen, false, "127.0.0.1"}); g != want {
		t.Errorf("the socket in ConnState(s, true): %+v; want %+v", g, want)
	}
}

// TestBeyondConnectLocalAddressFamily proves that with LocalAddress set,
// only the addresses of its family are tried: a name resolving to ::1 and
// 127.0.0.1, with LocalAddress 127.0.0.1, connects to 127.0.0.1 at once
// with no race (no attempt events, though ::1 hangs); a name with only
// an IPv4 address and an IPv6 LocalAddress fails with ENOTFOUND.
func TestBeyondConnectLocalAddressFamily(t *testing.T) {
	byNeedIPv6(t)
	res := byFakeDNS(t, map[string][]netip.Addr{
		"dual.nodenet.test.": {byLo6, byLo4},
		"v4.nodenet.test.":   {byLo4},
	})
	srv, port := byDualPort(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, byLo4,
		func(port int) error { _, err := byHang(t, byLo6, port); return err })
	r := recordServer(t, srv)
	c, err := Connect(ConnectOptions{Host: "dual.nodenet.test", Port: port, Resolver: res, LocalAddress: "127.0.0.1", ReportAttempts: true})
	if err != nil {
		t.Fatal(err)
	}
	rc := record(t, c)
	rc.waitFor("connect", isKind[ConnectEvent])
	r.waitConnection(1)
	if got := names(rc.events()); got != "connect" {
		t.Errorf("events = %q; want %q (one address of the local family: no race)", got, "connect")
	}
	if got := c.LocalAddress(); got != "127.0.0.1" {
		t.Errorf("LocalAddress() = %q; want 127.0.0.1", got)
	}

	c2, err := Connect(ConnectOptions{Host: "v4.nodenet.test", Port: port, Resolver: res, LocalAddress: "::1"})
	if err != nil {
		t.Fatal(err)
	}
	evs := record(t, c2).wait()
	if got, want := names(evs), "error(getaddrinfo ENOTFOUND) close(true)"; got != want {
		t.Errorf("events of a connect with no address of the local family = %q; want %q", got, want)
	}
}

// TestBeyondConnStateDestroyOnOpen proves that a ConnState hook may
// refuse a connection by destroying the socket on StateOpen: the
// connection is closed (the client sees its end, or a reset), the server
// counts no open connection, and nothing is left running.
func TestBeyondConnStateDestroyOnOpen(t *testing.T) {
	srv := createServer(t, ServerOptions{ConnState: func(s *Socket, open bool) {
		if open {
			s.Destroy()
		}
	}}, nil)
	recordServer(t, srv)
	port := listenTCP(t, srv)
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if evs := record(t, c).wait(); !byEndedOrReset(evs) {
		t.Errorf("events of a client whose socket the hook destroyed = %q; want connect, then end or ECONNRESET", names(evs))
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() = %d; want 0", got)
	}
}
