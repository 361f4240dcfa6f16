// Listening: Listen and its errors, listen handles (listeners, servers, files),
// backlog, ListenContext, ReusePort, IPv6Only and Exclusive.

package nodenet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// customCtx is a context whose Done channel is its own: the standard
// library cannot hook into it, so context.AfterFunc on it runs a goroutine
// that waits until the context is done or the AfterFunc is stopped.
type customCtx struct {
	context.Context
	done chan struct{}
}

func (c customCtx) Done() <-chan struct{} { return c.done }

func (c customCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

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
			connect: func(a Addr) (*Socket, error) { return Connect(ConnectOptions{Port: a.Port, Host: "127.0.0.1"}) },
			refused: []string{"ECONNREFUSED"},
		},
		{
			name:    "unix",
			opts:    func(t *testing.T) ListenOptions { return ListenOptions{Path: sockPath(t)} },
			connect: func(a Addr) (*Socket, error) { return Connect(ConnectOptions{Path: a.Address}) },
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
			rc := recordConnected(t, c)
			s := r.waitConnection(1)

			cancel()
			waitUntil(t, "the server to stop listening", func() bool { return srv.Address() == (Addr{}) })
			c3, err := tt.connect(addr)
			if err != nil {
				t.Fatal(err)
			}
			evs3 := record(t, c3).wait()
			if e := onlyError(t, evs3); e != nil {
				var ne *Error
				if !errors.As(e, &ne) || !containsString(tt.refused, ne.Code) {
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

func containsString(list []string, s string) bool {
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
	t.Parallel()
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
	t.Parallel()
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
	ctx := customCtx{Context: context.Background(), done: make(chan struct{})}
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
	dialAndClose(t, srv.Address().Port)
	if got := srv.Address(); got.Port == 0 {
		t.Errorf("the server stopped listening when the context of an earlier ListenContext ended")
	}
}

// dialAndClose dials 127.0.0.1:port and closes the connection: it fails
// the test if the connect is refused.
func dialAndClose(t testing.TB, port int) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("Dial 127.0.0.1:%d: %v", port, err)
	}
	c.Close()
}

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

// TestBeyondIPv6Only proves that Host "::" with IPv6Only does not take
// IPv4: it listens beside a socket bound to 127.0.0.1 on the same port (a
// dual-stack socket could not), a connect to 127.0.0.1 there is refused,
// and ::1 reaches it; and that without IPv6Only it is dual stack:
// 127.0.0.1 reaches it.
func TestBeyondIPv6Only(t *testing.T) {
	needIPv6(t)
	t.Run("IPv6Only=true", func(t *testing.T) {
		var srv *Server
		var port int
		for try := 0; srv == nil; try++ {
			p, err := rawSocket(t, lo4, 0, false)
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
		c6 := connectSocket(t, ConnectOptions{Port: port, Host: "::1"})
		record(t, c6).waitFor("connect over ::1", isKind[ConnectEvent])
		if got := r.waitConnection(1).RemoteAddress(); got != "::1" {
			t.Errorf("remote address of the ::1 client = %q; want ::1", got)
		}
		c4 := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
		if err := onlyError(t, record(t, c4).wait()); err != nil {
			errorWithCode(t, "connect to 127.0.0.1 beside an IPv6Only server", err, "ECONNREFUSED")
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
		if _, err := rawSocket(t, lo4, port, false); err == nil {
			t.Errorf("binding 127.0.0.1:%d beside a dual-stack [::]:%d = nil; want EADDRINUSE", port, port)
		}
		for i, host := range []string{"::1", "127.0.0.1"} {
			c := connectSocket(t, ConnectOptions{Port: port, Host: host})
			record(t, c).waitFor("connect over "+host, isKind[ConnectEvent])
			if got := r.waitConnection(i + 1).RemoteAddress(); got != host {
				t.Errorf("remote address of the %s client = %q; want %s", host, got, host)
			}
		}
	})
}

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

// Node: test-net-bind-twice, test-net-eaddrinuse, test-net-server-try-ports,
// and the manual's EADDRINUSE retry pattern.
func TestListenEADDRINUSE(t *testing.T) {
	busy := createServer(t, ServerOptions{}, nil)
	port := listenTCP(t, busy)

	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	err := srv.Listen(port, "127.0.0.1", 0)
	checkFailedListen(t, srv, r, fmt.Sprintf("Listen(%d, 127.0.0.1, 0)", port), err, "EADDRINUSE", "listen", syscall.EADDRINUSE)
	if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Close() after a failed Listen = %v; want %v", err, ErrNotRunning)
	}

	// Retry on another port, as the manual does.
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen(0, 127.0.0.1, 0) after EADDRINUSE = %v; want nil", err)
	}
	if a := srv.Address(); a.Port == 0 || a.Port == port {
		t.Errorf("Address() after the retry = %+v; want a new port", a)
	}
	r.waitFor("listening", isKind[ListeningEvent])
	if err := srv.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	if got, want := names(r.wait()), "error(listen EADDRINUSE) listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	// The busy server was not disturbed.
	if got := busy.Address().Port; got != port {
		t.Errorf("busy.Address().Port = %d; want %d", got, port)
	}
}

// Node: test-net-server-bind (backlog 127), and Listen's promise that the
// backlog reaches listen(2).
func TestListenBacklog(t *testing.T) {
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("ss (iproute2) is not installed: cannot read a listening socket's backlog")
	}
	somaxconn := 1 << 30
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			somaxconn = n
		}
	}
	tests := []struct {
		give int
		want int
	}{
		{give: 7, want: 7},
		{give: 0, want: min(defaultBacklog, somaxconn)},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.give), func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			if err := srv.Listen(0, "127.0.0.1", tt.give); err != nil {
				t.Fatalf("Listen(0, 127.0.0.1, %d) = %v; want nil", tt.give, err)
			}
			t.Cleanup(func() { srv.Close() })
			port := srv.Address().Port
			f := ssLine(t, ss, "-ltnH", fmt.Sprintf("sport = :%d", port))
			if got := f[2]; got != strconv.Itoa(tt.want) {
				t.Errorf("Listen(0, 127.0.0.1, %d): backlog (ss Send-Q) = %s; want %d", tt.give, got, tt.want)
			}
		})
	}
}

// Node: server.listen(handle); the handle is a net.Listener.
func TestListenHandleListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := createServer(t, ServerOptions{}, func(s *Socket) { s.SendString("hi", "", nil) })
	r := recordServer(t, srv)
	if err := srv.ListenHandle(ln); err != nil {
		t.Fatalf("ListenHandle(net.Listener) = %v; want nil", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if got, want := srv.Address(), (Addr{Address: "127.0.0.1", Family: "IPv4", Port: port}); got != want {
		t.Errorf("Address() = %+v; want %+v", got, want)
	}
	_, cr := connectClient(t, port)
	if got := string(cr.waitData(2)); got != "hi" {
		t.Errorf("client got %q; want %q", got, "hi")
	}
	r.waitConnection(1).Destroy()
	if err := srv.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ln.Accept() after srv.Close() = %v; want %v (the server closes the listener)", err, net.ErrClosed)
	}
}

// Node: server.listen(otherServer): both serve one listening socket;
// closing one leaves the other serving.
func TestListenHandleServer(t *testing.T) {
	named := func(name string) func(*Socket) {
		return func(s *Socket) { s.EndString(name, "") }
	}
	a := createServer(t, ServerOptions{}, named("A"))
	ra := recordServer(t, a)
	port := listenTCP(t, a)
	b := createServer(t, ServerOptions{}, named("B"))
	rb := recordServer(t, b)
	if err := b.ListenHandle(a); err != nil {
		t.Fatalf("ListenHandle(*Server) = %v; want nil", err)
	}
	t.Cleanup(func() { b.Close() })
	if got, want := b.Address(), a.Address(); got != want {
		t.Errorf("b.Address() = %+v; want a's %+v", got, want)
	}

	// Both serve: each client is served by one of them.
	for i := range 4 {
		_, cr := connectClient(t, port)
		evs := cr.wait()
		if got := string(dataOf(evs)); got != "A" && got != "B" {
			t.Errorf("client %d got %q; want A or B", i, got)
		}
	}

	if err := a.Close(); err != nil {
		t.Errorf("a.Close() = %v; want nil", err)
	}
	for i := range 2 {
		_, cr := connectClient(t, port)
		if got := string(dataOf(cr.wait())); got != "B" {
			t.Errorf("client %d after a.Close() got %q; want B", i, got)
		}
	}
	if got := count[CloseEvent](ra.wait()); got != 1 {
		t.Errorf("a: %d CloseEvents; want 1", got)
	}
	if err := b.Close(); err != nil {
		t.Errorf("b.Close() = %v; want nil", err)
	}
	evs := rb.wait()
	if got := count[CloseEvent](evs); got != 1 {
		t.Errorf("b: %d CloseEvents (events %q); want 1", got, names(evs))
	}
	refusedConnect(t, port)
}

// tcpListenerFile gives the *os.File of a listening TCP socket on
// 127.0.0.1 and its port; Cleanup closes it.
func tcpListenerFile(t testing.TB) (*os.File, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().(*net.TCPAddr).Port
}

// fileHandles are the two forms of a file's descriptor that ListenHandle
// takes: the *os.File and its int.
var fileHandles = []struct {
	give string
	h    func(f *os.File) any
}{
	{give: "*os.File", h: func(f *os.File) any { return f }},
	{give: "int fd", h: func(f *os.File) any { return int(f.Fd()) }},
}

// Node: server.listen({fd: n}) and listen(handle) with a file.
func TestListenHandleFile(t *testing.T) {
	t.Parallel()
	for _, tt := range fileHandles {
		t.Run(tt.give, func(t *testing.T) {
			f, port := tcpListenerFile(t)
			srv := createServer(t, ServerOptions{}, func(s *Socket) { s.SendString("hi", "", nil) })
			r := recordServer(t, srv)
			if err := srv.ListenHandle(tt.h(f)); err != nil {
				t.Fatalf("ListenHandle(%s) = %v; want nil", tt.give, err)
			}
			if got := srv.Address().Port; got != port {
				t.Errorf("Address().Port = %d; want %d", got, port)
			}
			// The caller keeps its descriptor: closing it leaves the server serving.
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			_, cr := connectClient(t, port)
			if got := string(cr.waitData(2)); got != "hi" {
				t.Errorf("client got %q; want %q", got, "hi")
			}
			r.waitConnection(1)
		})
	}
}

// Node: test-net-listen-fd0 (a descriptor that is not a socket gives an
// error, not a crash).
func TestListenHandleNotASocket(t *testing.T) {
	t.Parallel()
	for _, tt := range fileHandles {
		t.Run(tt.give, func(t *testing.T) {
			f, err := os.Create(t.TempDir() + "/regular")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			srv := createServer(t, ServerOptions{}, nil)
			err = srv.ListenHandle(tt.h(f))
			if err == nil {
				srv.Close()
				t.Fatalf("ListenHandle(%s of a regular file) = nil; want an error", tt.give)
			}
			var ne *Error
			if !errors.As(err, &ne) || (ne.Code != "ENOTSOCK" && ne.Code != "EINVAL") || ne.Syscall != "listen" {
				t.Errorf("ListenHandle(%s of a regular file) = %v; want an *Error with Code ENOTSOCK or EINVAL, Syscall listen", tt.give, err)
			}
			if got := srv.Address(); got != (Addr{}) {
				t.Errorf("Address() after a failed ListenHandle = %+v; want the zero Addr", got)
			}
			if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Close() after a failed ListenHandle = %v; want %v", err, ErrNotRunning)
			}
		})
	}
}

// Node's listen(handle) calls listen(2) on the handle: a connected socket
// gives EINVAL at listen time, not a server whose accepts all fail.
func TestListenHandleConnectedSocket(t *testing.T) {
	t.Parallel()
	c, _ := tcpPair(t)
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	srv := createServer(t, ServerOptions{}, nil)
	err = srv.ListenHandle(f)
	if err == nil {
		srv.Close()
		t.Fatalf("ListenHandle(*os.File of a connected TCP socket) = nil; want an error (Node: listen EINVAL)")
	}
	checkSysError(t, "ListenHandle(*os.File of a connected TCP socket)", err, "EINVAL", "listen", syscall.EINVAL)
}

func TestListenHandleInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		h    any
	}{
		{give: "nil", h: nil},
		{give: "nil net.Listener", h: net.Listener(nil)},
		{give: "nil *Server", h: (*Server)(nil)},
		{give: "nil *os.File", h: (*os.File)(nil)},
		{give: "negative fd", h: -1},
		{give: "string", h: "8080"},
		{give: "float", h: 3.5},
		{give: "struct", h: struct{}{}},
		{give: "*Server not listening", h: createServer(t, ServerOptions{}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			err := srv.ListenHandle(tt.h)
			if err == nil {
				srv.Close()
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("ListenHandle(%s) = %v; want an error wrapping %v", tt.give, err, ErrInvalidArgument)
			}
			if got := srv.Address(); got != (Addr{}) {
				t.Errorf("Address() after ListenHandle(%s) = %+v; want the zero Addr", tt.give, got)
			}
		})
	}
}

// childEnv names the test a child process of the test binary is to run
// (for cases that crash the process).
const childEnv = "NODENET_SERVER_TEST_CHILD"

// A typed nil listener is a nil value too. It is run in a child process:
// a panic in the accept goroutine would take the whole test binary down.
func TestListenHandleTypedNilListener(t *testing.T) {
	t.Parallel()
	if os.Getenv(childEnv) == t.Name() {
		srv := createServer(t, ServerOptions{}, nil)
		err := srv.ListenHandle((*net.TCPListener)(nil))
		fmt.Printf("RESULT invalid=%v err=%v\n", errors.Is(err, ErrInvalidArgument), err)
		if err == nil {
			srv.Address()
			srv.Close()
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(string(out), "\n")
		t.Fatalf("ListenHandle((*net.TCPListener)(nil)) crashed the process (%v):\n%s", err, strings.Join(lines[:min(len(lines), 12)], "\n"))
	}
	if !strings.Contains(string(out), "RESULT invalid=true") {
		t.Errorf("ListenHandle((*net.TCPListener)(nil)): %s; want an error wrapping %v", out, ErrInvalidArgument)
	}
}

// Node: test-pipe-address; Node's EADDRINUSE on a path in use.
func TestListenUnix(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(s *Socket) { s.EndString("unix", "") })
	r := recordServer(t, srv)
	path := listenUnix(t, srv)
	if got, want := srv.Address(), (Addr{Address: path}); got != want {
		t.Errorf("Address() = %+v; want %+v", got, want)
	}

	second := createServer(t, ServerOptions{}, nil)
	err := second.ListenUnix(path)
	if err == nil {
		second.Close()
	}
	checkSysError(t, fmt.Sprintf("second ListenUnix(%q)", path), err, "EADDRINUSE", "listen", syscall.EADDRINUSE)

	// The failed listen left the first server's socket file alone.
	c := connectSocket(t, ConnectOptions{Path: path})
	if got := string(dataOf(record(t, c).wait())); got != "unix" {
		t.Errorf("client got %q; want %q", got, "unix")
	}
	r.waitConnection(1)

	if err := srv.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	r.wait()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("os.Stat(%q) after Close = %v; want %v", path, err, os.ErrNotExist)
	}
	if err := srv.ListenUnix(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ListenUnix(\"\") = %v; want an error wrapping %v", err, ErrInvalidArgument)
	}
}

func TestListenAlreadyListening(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give   string
		listen func(t *testing.T, srv *Server) error
	}{
		{give: "Listen", listen: func(t *testing.T, srv *Server) error { return srv.Listen(0, "127.0.0.1", 0) }},
		{give: "ListenUnix", listen: func(t *testing.T, srv *Server) error { return srv.ListenUnix(sockPath(t)) }},
		{give: "ListenHandle", listen: func(t *testing.T, srv *Server) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			return srv.ListenHandle(ln)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			port := listenTCP(t, srv)
			if err := tt.listen(t, srv); !errors.Is(err, ErrAlreadyListening) {
				t.Errorf("%s on a listening server = %v; want %v", tt.give, err, ErrAlreadyListening)
			}
			if got := srv.Address().Port; got != port {
				t.Errorf("Address().Port after a second %s = %d; want %d", tt.give, got, port)
			}
		})
	}
}

func TestListenInvalidArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give     string
		port     int
		backlog  int
		wantText string
	}{
		{give: "port -1", port: -1, wantText: "port should be >= 0 and < 65536"},
		{give: "port 65536", port: 65536, wantText: "port should be >= 0 and < 65536"},
		{give: "backlog -1", port: 0, backlog: -1, wantText: "backlog"},
	}
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	for _, tt := range tests {
		err := srv.Listen(tt.port, "127.0.0.1", tt.backlog)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Listen(%d, 127.0.0.1, %d) = %v; want an error wrapping %v", tt.port, tt.backlog, err, ErrInvalidArgument)
		}
		if err != nil && !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("Listen(%d, 127.0.0.1, %d) = %q; want a message containing %q", tt.port, tt.backlog, err, tt.wantText)
		}
		if got := srv.Address(); got != (Addr{}) {
			t.Errorf("Address() after Listen(%d, 127.0.0.1, %d) = %+v; want the zero Addr", tt.port, tt.backlog, got)
		}
	}
	// Thrown in Node, so no 'error' event: the server then listens normally.
	listenTCP(t, srv)
	r.waitFor("listening", isKind[ListeningEvent]) // a Close at once would cancel it
	if err := srv.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

// Node: listen(port, host) with a host that does not resolve gives
// 'error' getaddrinfo ENOTFOUND.
func TestListenUnresolvableHost(t *testing.T) {
	offlineDNS(t)
	const host = "no.such.host.invalid"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err == nil {
		t.Skipf("%s resolves here: cannot test a lookup failure", host)
	} else if ctx.Err() != nil {
		t.Skipf("looking up %s takes more than 3s here (no DNS?): %v", host, err)
	}

	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	err := srv.Listen(0, host, 0)
	checkFailedListen(t, srv, r, fmt.Sprintf("Listen(0, %q, 0)", host), err, "ENOTFOUND", "getaddrinfo", 0)
	// The server can listen after it; its events end with the close.
	listenTCP(t, srv)
	r.waitFor("listening", isKind[ListeningEvent])
	srv.Close()
	if got, want := names(r.wait()), "error(getaddrinfo ENOTFOUND) listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}
