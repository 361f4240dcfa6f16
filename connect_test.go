// Connecting: Connect and ConnectContext, timeouts, refused, Unix paths, Resolver,
// LocalAddress and addresses, reconnect, the socket options at creation, NewSocket
// on a file descriptor, ReadyState, the unconnected socket and bad arguments.

package nodenet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBeyondConnectContextCancel proves that cancelling ConnectContext's
// context while the connect hangs destroys the socket with an ABORT_ERR
// that unwraps to the cause, and CloseEvent{HadError: true}; a context
// done already does the same. (Its deadline: TestBeyondConnectContextDeadline.)
func TestBeyondConnectContextCancel(t *testing.T) {
	port, err := hangingListener(t, lo4, 0)
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
				if !(s.ReadyState() == "opening") {
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
			if err := onlyError(t, evs); err != nil {
				errorWithCode(t, "the error of an aborted connect", err, "ABORT_ERR")
				if !errors.Is(err, tt.want) {
					t.Errorf("errors.Is(%v, %v) = false; want true", err, tt.want)
				}
			}
			if (s.ReadyState() == "opening") || !isPending(s) || s.ReadyState() != "closed" {
				t.Errorf("after the abort: Connecting() = %v, Pending() = %v, ReadyState() = %v; want false, true, closed",
					(s.ReadyState() == "opening"), isPending(s), s.ReadyState())
			}
		})
	}
}

// newIdleSocket is NewSocket(SocketOptions{}), destroyed by Cleanup.
func newIdleSocket(t testing.TB) *Socket {
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
	port, err := hangingListener(t, lo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		s := newIdleSocket(t)
		if err := s.ConnectContext(ctx, ConnectOptions{Host: "127.0.0.1", Port: port}); err != nil {
			t.Fatal(err)
		}
		evs := record(t, s).wait()
		cancel()
		if got, want := names(evs), "error(The operation was aborted) close(true)"; got != want {
			t.Fatalf("try %d: events = %q; want %q", i, got, want)
		}
		if err := onlyError(t, evs); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("try %d: errors.Is(%v, %v) = false; want true", i, err, context.DeadlineExceeded)
		}
	}
}

// TestBeyondConnectTimeout proves that ConnectOptions.Timeout ends a
// hanging connect with an *Error ETIMEDOUT from connect, with the target
// address, that unwraps to syscall.ETIMEDOUT; and that a Timeout longer
// than the connect changes nothing.
func TestBeyondConnectTimeout(t *testing.T) {
	port, err := hangingListener(t, lo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: port, Timeout: 30 * time.Millisecond})
	evs := record(t, s).wait()
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("the connect timed out after %v; want at least the 30ms Timeout", elapsed)
	}
	if got, want := names(evs), "error(connect ETIMEDOUT) close(true)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if err := onlyError(t, evs); err != nil {
		checkSysError(t, "the error of a timed-out connect", err, "ETIMEDOUT", "connect", syscall.ETIMEDOUT)
		if ne := errorWithCode(t, "timeout", err, "ETIMEDOUT"); ne != nil && ne.Address != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("Address = %q; want 127.0.0.1:%d", ne.Address, port)
		}
	}

	_, r, sport := recordedServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: sport, Timeout: time.Minute})
	rc := recordConnected(t, c)
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
	t.Parallel()
	_, r, port := recordedServer(t, ServerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := ConnectContext(ctx, ConnectOptions{Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	rc := recordConnected(t, c)
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
	t.Parallel()
	//lint:ignore SA1012 the nil context is the point
	if s, err := ConnectContext(nil, ConnectOptions{Host: "127.0.0.1", Port: 1}); !errors.Is(err, ErrInvalidArgument) || s != nil {
		t.Errorf("ConnectContext(nil, ...) = %v, %v; want nil, an error wrapping %v", s, err, ErrInvalidArgument)
	}
	s := newIdleSocket(t)
	//lint:ignore SA1012 the nil context is the point
	if err := s.ConnectContext(nil, ConnectOptions{Host: "127.0.0.1", Port: 1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Socket.ConnectContext(nil, ...) = %v; want an error wrapping %v", err, ErrInvalidArgument)
	}
	if s.ReadyState() == "opening" {
		t.Errorf("Connecting() after a refused ConnectContext = true; want false")
	}
}

// TestBeyondResolver proves that ConnectOptions.Resolver is used to look
// Host up (the default resolver is offline): a name of the fake DNS
// reaches the server at its address, and a name it does not know fails
// with ENOTFOUND from getaddrinfo, for that name.
func TestBeyondResolver(t *testing.T) {
	offlineDNS(t)
	res := fakeDNS(t, map[string][]netip.Addr{"multi.nodenet.test.": {lo4}})
	_, r, port := recordedServer(t, ServerOptions{})

	c := connectSocket(t, ConnectOptions{Host: "multi.nodenet.test", Port: port, Resolver: res})
	recordConnected(t, c)
	s := r.waitConnection(1)
	if got, want := s.RemotePort(), c.LocalPort(); got != want {
		t.Errorf("server socket's RemotePort() = %d; want the client's port %d", got, want)
	}
	if got := c.RemoteAddress(); got != "127.0.0.1" {
		t.Errorf("RemoteAddress() = %q; want 127.0.0.1", got)
	}

	for _, host := range []string{"unknown.nodenet.test", "unknown.nodenet.test."} {
		c2 := connectSocket(t, ConnectOptions{Host: host, Port: port, Resolver: res})
		evs := record(t, c2).wait()
		if got, want := names(evs), "error(getaddrinfo ENOTFOUND) close(true)"; got != want {
			t.Errorf("events of a connect to %s = %q; want %q", host, got, want)
		}
		if err := onlyError(t, evs); err != nil {
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
			c := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: port})
			apply(c)
			record(t, c).waitFor("connect", isKind[ConnectEvent])
			s := r.waitConnection(1)
			for _, side := range []struct {
				name string
				s    *Socket
			}{{"accepted", s}, {"connected", c}} {
				tc := tcpConnOf(t, side.s)
				wantNoDelay := 1
				if tt.nagle {
					wantNoDelay = 0
				}
				if got := getsockopt(t, tc, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); got != wantNoDelay {
					t.Errorf("%s socket: TCP_NODELAY = %d; want %d", side.name, got, wantNoDelay)
				}
				if got := getsockopt(t, tc, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got != 1 {
					t.Errorf("%s socket: SO_KEEPALIVE = %d; want 1", side.name, got)
				}
				if tt.wantIdle != 0 {
					if got := getsockopt(t, tc, syscall.IPPROTO_TCP, tcpKeepIdle); got != tt.wantIdle {
						t.Errorf("%s socket: TCP_KEEPIDLE = %d; want %d", side.name, got, tt.wantIdle)
					}
				}
			}
		})
	}
}

// TestBeyondConnectingPending proves ReadyState's Node v20 readings,
// socket.connecting and socket.pending, through a socket's life: new, connecting (a hanging
// connect), destroyed while connecting, connected, closed.
func TestBeyondConnectingPending(t *testing.T) {
	type state struct {
		connecting, pending bool
		ready               string
	}
	get := func(s *Socket) state { return state{(s.ReadyState() == "opening"), isPending(s), s.ReadyState()} }
	hang, err := hangingListener(t, lo4, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := newIdleSocket(t)
	if got, want := get(s), (state{false, true, "closed"}); got != want {
		t.Errorf("new socket: %+v; want %+v", got, want)
	}
	if err := s.Connect(ConnectOptions{Host: "127.0.0.1", Port: hang}); err != nil {
		t.Fatal(err)
	}
	r := record(t, s)
	if got, want := get(s), (state{true, true, "opening"}); got != want {
		t.Errorf("connecting: %+v; want %+v", got, want)
	}
	if err := s.ResetAndDestroy(); err != nil {
		t.Errorf("ResetAndDestroy() while connecting = %v; want nil (just destroyed)", err)
	}
	if got, want := names(r.wait()), "close(false)"; got != want {
		t.Errorf("events of a socket reset while connecting = %q; want %q", got, want)
	}
	if got, want := get(s), (state{false, true, "closed"}); got != want {
		t.Errorf("destroyed while connecting: %+v; want %+v", got, want)
	}

	_, rsrv, port := recordedServer(t, ServerOptions{})
	c, rc := connectClient(t, port)
	if got, want := get(c), (state{false, false, "open"}); got != want {
		t.Errorf("connected: %+v; want %+v", got, want)
	}
	rsrv.waitConnection(1).End()
	rc.wait()
	if got, want := get(c), (state{false, true, "closed"}); got != want {
		t.Errorf("closed: %+v; want %+v", got, want)
	}
	if err := c.ResetAndDestroy(); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("ResetAndDestroy() after close = %v; want %v", err, ErrSocketClosed)
	}
	if err := newIdleSocket(t).ResetAndDestroy(); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("ResetAndDestroy() on a new socket = %v; want %v", err, ErrSocketClosed)
	}
}

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
			for _, opts := range []ConnectOptions{tt.opts, withPath(tt.opts)} {
				if opts.Path == "" {
					opts.Host, opts.Port = "127.0.0.1", 1
				}
				if s, err := Connect(opts); !errors.Is(err, ErrInvalidArgument) || s != nil {
					t.Errorf("Connect(%+v) = %v, %v; want nil, an error wrapping %v", opts, s, err, ErrInvalidArgument)
				}
				if s, err := ConnectContext(context.Background(), opts); !errors.Is(err, ErrInvalidArgument) || s != nil {
					t.Errorf("ConnectContext(%+v) = %v, %v; want nil, an error wrapping %v", opts, s, err, ErrInvalidArgument)
				}
				s := newIdleSocket(t)
				if err := s.Connect(opts); !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("Socket.Connect(%+v) = %v; want an error wrapping %v", opts, err, ErrInvalidArgument)
				}
				if (s.ReadyState() == "opening") || s.ReadyState() != "closed" {
					t.Errorf("after a refused Connect: Connecting() = %v, ReadyState() = %v; want false, closed", (s.ReadyState() == "opening"), s.ReadyState())
				}
			}
		})
	}
}

func withPath(o ConnectOptions) ConnectOptions {
	o.Path = "/nonexistent/nodenet.sock"
	return o
}

// TestBeyondConnectLocalAddressFamily proves that with LocalAddress set,
// only the addresses of its family are tried: a name resolving to ::1 and
// 127.0.0.1, with LocalAddress 127.0.0.1, connects to 127.0.0.1 at once
// with no race (no attempt events, though ::1 hangs); a name with only
// an IPv4 address and an IPv6 LocalAddress fails with ENOTFOUND.
func TestBeyondConnectLocalAddressFamily(t *testing.T) {
	needIPv6(t)
	res := fakeDNS(t, map[string][]netip.Addr{
		"dual.nodenet.test.": {lo6, lo4},
		"v4.nodenet.test.":   {lo4},
	})
	srv, port := dualPortServer(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, lo4,
		func(port int) error { _, err := hangingListener(t, lo6, port); return err })
	r := recordServer(t, srv)
	c := connectSocket(t, ConnectOptions{Host: "dual.nodenet.test", Port: port, Resolver: res, LocalAddress: "127.0.0.1", ReportAttempts: true})
	rc := recordConnected(t, c)
	r.waitConnection(1)
	if got := names(rc.events()); got != "connect" {
		t.Errorf("events = %q; want %q (one address of the local family: no race)", got, "connect")
	}
	if got := c.LocalAddress(); got != "127.0.0.1" {
		t.Errorf("LocalAddress() = %q; want 127.0.0.1", got)
	}

	c2 := connectSocket(t, ConnectOptions{Host: "v4.nodenet.test", Port: port, Resolver: res, LocalAddress: "::1"})
	evs := record(t, c2).wait()
	if got, want := names(evs), "error(getaddrinfo ENOTFOUND) close(true)"; got != want {
		t.Errorf("events of a connect with no address of the local family = %q; want %q", got, want)
	}
}

// TestReadyStateTransitions ports net-socket-readystate: closed, opening,
// open, readOnly after End, closed at close. The checks that Node makes
// synchronously are made where nothing can move the state meanwhile: the
// connect goes to a black hole, and the peer holds its FIN (half-open).
func TestReadyStateTransitions(t *testing.T) {
	check := func(when string, s *Socket, want string) {
		t.Helper()
		if got := s.ReadyState(); got != want {
			t.Errorf("ReadyState %s = %q; want %q", when, got, want)
		}
	}

	pending, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("of a new socket", pending, "closed")
	if err := pending.Connect(ConnectOptions{Port: blackHolePort(t), Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	check("while connecting", pending, "opening")
	pr := record(t, pending)
	pending.Destroy()
	if got, want := names(pr.wait()), "close(false)"; got != want {
		t.Errorf("events of a socket destroyed while connecting = %q; want %q", got, want)
	}
	check("after Destroy while connecting", pending, "closed")

	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	c, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ConnectOptions{Port: port, Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	r := recordConnected(t, c)
	check("after ConnectEvent", c, "open")
	s := accept(t, conns)
	check("of the accepted socket", s, "open")
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	check("after End", c, "readOnly")
	if err := s.End(); err != nil { // the server's FIN: c closes
		t.Fatal(err)
	}
	if got, want := names(r.wait()), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	check("after close", c, "closed")
}

// TestUnconnectedSocket is scenario 30 (a, b) and test-net-end-without-
// connect: a socket that never connected has no address, its setters do
// nothing, writes fail, and End or Destroy close its event stream.
func TestUnconnectedSocket(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		close func(s *Socket) error
		want  []Event
		// wantWrite is the error of a write after close.
		wantWrite error
	}{
		{name: "End", close: func(s *Socket) error { return s.End() }, want: []Event{CloseEvent{}}, wantWrite: ErrWriteAfterEnd},
		{name: "Destroy", close: func(s *Socket) error { s.Destroy(); s.Destroy(); return nil }, want: []Event{CloseEvent{}}, wantWrite: ErrSocketClosed},
		{name: "DestroyWithError", close: func(s *Socket) error { s.DestroyWithError(boom); return nil }, want: []Event{ErrorEvent{Err: boom}, CloseEvent{HadError: true}}, wantWrite: ErrSocketClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Destroy)
			if got := s.Address(); got != (Addr{}) {
				t.Errorf("Address() = %+v; want the zero Addr", got)
			}
			if s.RemoteAddress() != "" || s.RemotePort() != 0 || s.LocalAddress() != "" || s.LocalPort() != 0 {
				t.Errorf("remote %q %d, local %q %d; want empty and 0", s.RemoteAddress(), s.RemotePort(), s.LocalAddress(), s.LocalPort())
			}
			if s.BufferSize() != 0 || s.BytesRead() != 0 || s.BytesWritten() != 0 {
				t.Errorf("BufferSize %d, BytesRead %d, BytesWritten %d; want 0, 0, 0", s.BufferSize(), s.BytesRead(), s.BytesWritten())
			}
			if got := s.ReadyState(); got != "closed" {
				t.Errorf("ReadyState() = %v; want closed", got)
			}
			if got := s.Server(); got != nil {
				t.Errorf("Server() = %v; want nil", got)
			}
			if err := s.SetNoDelay(true); err != nil {
				t.Errorf("SetNoDelay(true) = %v; want nil", err)
			}
			if err := s.SetKeepAlive(true, 2*time.Second); err != nil {
				t.Errorf("SetKeepAlive(true, 2s) = %v; want nil", err)
			}
			s.Ref()
			s.Unref()
			s.Ref()
			s.Pause()
			s.Resume()
			if _, err := s.Send([]byte("x"), nil); !errors.Is(err, ErrSocketClosed) {
				t.Errorf("Send before Connect = %v; want %v", err, ErrSocketClosed)
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, ErrSocketClosed) {
				t.Errorf("Write before Connect = %v; want %v", err, ErrSocketClosed)
			}

			if err := tt.close(s); err != nil {
				t.Errorf("%s() = %v; want nil", tt.name, err)
			}
			evs := untilClosed(t, "Events() after "+tt.name, s.Events())
			if diff := cmp.Diff(tt.want, evs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if _, err := s.SendString("x", "", nil); !errors.Is(err, tt.wantWrite) {
				t.Errorf("SendString after %s = %v; want %v", tt.name, err, tt.wantWrite)
			}
			if got := s.BufferSize(); got != 0 {
				t.Errorf("BufferSize after %s = %d; want 0", tt.name, got)
			}
		})
	}
}

// TestBadArguments: every Socket-side function given an invalid argument
// returns an error (wrapping ErrInvalidArgument; Node's ERR_UNKNOWN_ENCODING
// for an encoding name), and none panics or hangs.
func TestBadArguments(t *testing.T) {
	t.Parallel()
	fileName := filepath.Join(t.TempDir(), "regular")
	if err := os.WriteFile(fileName, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	regular, err := os.Open(fileName)
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpFile, err := udp.File()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()

	connected, _ := rawPair(t, ConnectOptions{})
	waitUntil(t, "the socket open", func() bool { return connected.ReadyState() == "open" })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnPort := ln.Addr().(*net.TCPAddr).Port

	connect := func(o ConnectOptions) func() error {
		return func() error {
			s, err := Connect(o)
			if s != nil {
				s.Destroy()
			}
			return err
		}
	}
	socketConnect := func(o ConnectOptions) func() error {
		return func() error {
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				return err
			}
			defer s.Destroy()
			err = s.Connect(o)
			if got := s.ReadyState(); err != nil && got != "closed" {
				return fmt.Errorf("ReadyState after a refused Connect = %v; want closed", got)
			}
			return err
		}
	}
	newSocket := func(o SocketOptions) func() error {
		return func() error {
			s, err := NewSocket(o)
			if s != nil {
				s.Destroy()
			}
			if s != nil && err != nil {
				return fmt.Errorf("NewSocket returned a socket and the error %w", err)
			}
			return err
		}
	}
	// encErr stands for "an *Error ERR_UNKNOWN_ENCODING" in want.
	encErr := errors.New("an *Error ERR_UNKNOWN_ENCODING")
	tests := []struct {
		name string
		call func() error
		want []error // the error must match one of these with errors.Is
	}{
		{name: "Connect Port -1", call: connect(ConnectOptions{Port: -1, Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Connect Port 65536", call: connect(ConnectOptions{Port: 65536, Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Connect Port 0 without Path", call: connect(ConnectOptions{Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Connect LocalAddress not an IP", call: connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1", LocalAddress: "localhost"}), want: []error{ErrInvalidArgument}},
		{name: "Connect LocalAddress 1.2.3", call: connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1", LocalAddress: "1.2.3"}), want: []error{ErrInvalidArgument}},
		{name: "Connect negative HighWaterMark", call: connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1", Flow: Flow{HighWaterMark: -1}}), want: []error{ErrInvalidArgument}},
		{name: "Socket.Connect Port -1", call: socketConnect(ConnectOptions{Port: -1, Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Socket.Connect Port 70000", call: socketConnect(ConnectOptions{Port: 70000}), want: []error{ErrInvalidArgument}},
		{name: "Socket.Connect negative HighWaterMark", call: socketConnect(ConnectOptions{Port: lnPort, Flow: Flow{HighWaterMark: -5}}), want: []error{ErrInvalidArgument}},
		{name: "NewSocket Type udp", call: newSocket(SocketOptions{Type: "udp"}), want: []error{ErrInvalidArgument}},
		{name: "NewSocket negative HighWaterMark", call: newSocket(SocketOptions{Flow: Flow{HighWaterMark: -1}}), want: []error{ErrInvalidArgument}},
		// Node throws "Unsupported fd type: FILE"; a descriptor that is not
		// a socket may also be reported by its errno.
		{name: "NewSocket FD of a regular file", call: newSocket(SocketOptions{FD: regular}), want: []error{ErrInvalidArgument, syscall.ENOTSOCK}},
		{name: "NewSocket FD of a UDP socket", call: newSocket(SocketOptions{FD: udpFile}), want: []error{ErrInvalidArgument}},
		{name: "SetTimeout negative", call: func() error { return connected.SetTimeout(-time.Second) }, want: []error{ErrInvalidArgument}},
		{name: "SetKeepAlive negative delay", call: func() error { return connected.SetKeepAlive(true, -time.Second) }, want: []error{ErrInvalidArgument}},
		{name: "SetEncoding utf_8", call: func() error { return connected.SetEncoding("utf_8") }, want: []error{encErr}},
		{name: "SetEncoding utf16", call: func() error { return connected.SetEncoding("utf16") }, want: []error{encErr}},
		{name: "SendString unknown encoding", call: func() error { _, err := connected.SendString("x", "utf_8", nil); return err }, want: []error{encErr}},
		{name: "SendString hex of odd length", call: func() error { _, err := connected.SendString("abc", "hex", nil); return err }, want: []error{ErrInvalidArgument}},
		{name: "SendString hex not hex", call: func() error { _, err := connected.SendString("zz", "hex", nil); return err }, want: []error{ErrInvalidArgument}},
		{name: "EndString unknown encoding", call: func() error { return connected.EndString("x", "bogus") }, want: []error{encErr}},
		{name: "EndString hex of odd length", call: func() error { return connected.EndString("abc", "hex") }, want: []error{ErrInvalidArgument}},
		{name: "Pipe(nil)", call: func() error { return connected.Pipe(nil) }, want: []error{ErrInvalidArgument}},
		{name: "Connect on a connected socket", call: func() error { return connected.Connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1"}) }, want: []error{ErrAlreadyConnected}},
		{name: "Connect on a connecting socket", call: func() error {
			s, err := Connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1"})
			if err != nil {
				return err
			}
			defer func() {
				// The event stream ends after the dialer goroutine has
				// returned: waiting for it orders the dialer's read of
				// net.DefaultResolver before a later test's offlineDNS.
				s.Destroy()
				for range s.Events() {
				}
			}()
			return s.Connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1"})
		}, want: []error{ErrAlreadyConnected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := callGuarded(t, tt.name, tt.call)
			ok := false
			for _, w := range tt.want {
				var ne *Error
				if w == encErr && errors.As(err, &ne) && ne.Code == "ERR_UNKNOWN_ENCODING" && errors.Is(err, ErrInvalidArgument) ||
					w != encErr && errors.Is(err, w) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("error = %v; want one matching %v", err, tt.want)
			}
		})
	}
	// Nothing of the refused calls was queued on the connected socket.
	if got := connected.BytesWritten(); got != 0 {
		t.Errorf("BytesWritten after refused writes = %d; want 0", got)
	}
	if got := connected.ReadyState(); got != "open" {
		t.Errorf("ReadyState after refused calls = %v; want open", got)
	}
}

// TestNewSocketFD wraps one end of a TCP connection by its descriptor:
// the socket reads and writes over it, ends, and closes, after the
// original descriptor and connection are closed.
func TestNewSocketFD(t *testing.T) {
	t.Parallel()
	dialed, peer := tcpPair(t)
	f, err := dialed.File()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSocket(SocketOptions{FD: f, Type: "tcp"})
	f.Close()
	dialed.Close()
	if err != nil {
		t.Fatalf("NewSocket(FD of a TCP socket, tcp) = %v; want nil", err)
	}
	r := record(t, s)
	if got := s.ReadyState(); got != "open" {
		t.Errorf("ReadyState = %v; want open", got)
	}
	if got, want := s.RemotePort(), peer.LocalAddr().(*net.TCPAddr).Port; got != want {
		t.Errorf("RemotePort() = %d; want %d", got, want)
	}

	if _, err := peer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := string(r.waitData(4)); got != "ping" {
		t.Errorf("socket got %q; want ping", got)
	}
	if _, err := s.SendString("pong", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, peer)); got != "pong" {
		t.Errorf("peer got %q; want pong, then EOF", got)
	}
	peer.CloseWrite()
	if got, want := names(r.wait()), "data end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if s.BytesRead() != 4 || s.BytesWritten() != 4 {
		t.Errorf("BytesRead %d, BytesWritten %d; want 4 and 4", s.BytesRead(), s.BytesWritten())
	}
}

// TestNewSocketFDType checks Type against the descriptor's kind.
func TestNewSocketFDType(t *testing.T) {
	t.Parallel()
	dialed, _ := tcpPair(t)
	uc, ua := connPair(t, "unix")

	tests := []struct {
		name    string
		conn    interface{ File() (*os.File, error) }
		give    string
		wantErr bool
	}{
		{name: "tcp fd, no type", conn: dialed, give: ""},
		{name: "tcp fd, tcp", conn: dialed, give: "tcp"},
		{name: "tcp fd, tcp4", conn: dialed, give: "tcp4"},
		{name: "tcp fd, tcp6", conn: dialed, give: "tcp6", wantErr: true},
		{name: "tcp fd, unix", conn: dialed, give: "unix", wantErr: true},
		{name: "unix fd, unix", conn: uc.(*net.UnixConn), give: "unix"},
		{name: "unix fd, tcp", conn: uc.(*net.UnixConn), give: "tcp", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.conn.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := NewSocket(SocketOptions{FD: f, Type: tt.give})
			if s != nil {
				defer s.Destroy()
			}
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidArgument) || s != nil {
					t.Errorf("NewSocket(Type %q) = (socket %v), %v; want no socket and an error wrapping ErrInvalidArgument", tt.give, s != nil, err)
				}
				return
			}
			if err != nil || s.ReadyState() != "open" {
				t.Errorf("NewSocket(Type %q) = %v; want an open socket", tt.give, err)
			}
		})
	}

	// The Unix one carries data too.
	f, err := uc.(*net.UnixConn).File()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSocket(SocketOptions{FD: f, Type: "unix"})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, s)
	ua.Write([]byte("over unix"))
	if got := string(r.waitData(len("over unix"))); got != "over unix" {
		t.Errorf("socket got %q", got)
	}
	s.SendString("back", "", nil)
	buf := make([]byte, 4)
	ua.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(ua, buf); err != nil || string(buf) != "back" {
		t.Errorf("peer got %q, %v; want back", buf, err)
	}
}

func TestConnectRefused(t *testing.T) {
	port := refusedPort(t)

	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	// The callback of a write queued while connecting runs once, with the
	// error that closed the socket, before the CloseEvent; but the refusal
	// may come first, and then the write is refused, without a callback.
	var cbErrs []error
	_, sendErr := c.SendString("q", "", func(err error) { cbErrs = append(cbErrs, err) })
	evs := record(t, c).wait()
	if got, want := names(evs), "error(connect ECONNREFUSED) close(true)"; got != want {
		t.Fatalf("events %q; want %q", got, want)
	}
	err := evs[0].(ErrorEvent).Err
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != "ECONNREFUSED" || ne.Syscall != "connect" {
		t.Errorf("error %#v; want Code ECONNREFUSED, Syscall connect", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false")
	}
	switch {
	case sendErr == nil && (len(cbErrs) != 1 || !errors.Is(cbErrs[0], syscall.ECONNREFUSED)):
		t.Errorf("callback of a write queued before a failed connect got %v; want one call with ECONNREFUSED", cbErrs)
	case sendErr != nil && (!errors.Is(sendErr, ErrSocketClosed) || len(cbErrs) != 0):
		t.Errorf("write after the refusal = %v, callback got %v; want ErrSocketClosed and no callback", sendErr, cbErrs)
	}
}

func TestConnectUnixMissing(t *testing.T) {
	t.Parallel()
	c := connectSocket(t, ConnectOptions{Path: sockPath(t)})
	evs := record(t, c).wait()
	if got, want := names(evs), "error(connect ENOENT) close(true)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if err := evs[0].(ErrorEvent).Err; !errors.Is(err, syscall.ENOENT) {
		t.Errorf("errors.Is(%v, ENOENT) = false", err)
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.EndString("hello\r\n", "") })
	port := listenTCP(t, srv)
	c, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		if err := c.Connect(ConnectOptions{Port: port, Host: "127.0.0.1"}); err != nil {
			t.Fatalf("round %d: Connect: %v", round, err)
		}
		var evs []Event
		for ev := range c.Events() {
			evs = append(evs, ev)
		}
		if got, want := names(evs), "connect data end close(false)"; got != want {
			t.Errorf("round %d: events %q; want %q", round, got, want)
		}
		if got := c.BytesRead(); got != 7 {
			t.Errorf("round %d: BytesRead = %d; want 7", round, got)
		}
	}
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	path := listenUnix(t, srv)
	if got := srv.Address(); got != (Addr{Address: path}) {
		t.Errorf("Address() = %+v; want the path", got)
	}
	c := connectSocket(t, ConnectOptions{Path: path})
	r := record(t, c)
	c.EndString("over unix", "")
	evs := r.wait()
	if got := string(dataOf(evs)); got != "over unix" {
		t.Errorf("echo %q", got)
	}
	if got := c.RemoteAddress(); got != "" {
		t.Errorf("RemoteAddress() on a Unix socket = %q; want empty", got)
	}
}

func TestAddressesIPv4AndIPv6(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			if err := srv.Listen(0, host, 0); err != nil {
				t.Skipf("no %s here: %v", host, err)
			}
			defer srv.Close()
			fam := "IPv4"
			if host == "::1" {
				fam = "IPv6"
			}
			a := srv.Address()
			if a.Address != host || a.Family != fam || a.Port == 0 {
				t.Errorf("server Address() = %+v", a)
			}
			evs := srv.Events()
			c := connectSocket(t, ConnectOptions{Port: a.Port, Host: host})
			r := recordConnected(t, c)
			var s *Socket
			for ev := range evs {
				if ce, ok := ev.(ConnectionEvent); ok {
					s = ce.Socket
					break
				}
			}
			defer s.Destroy()
			if c.RemoteAddress() != host || c.RemotePort() != a.Port {
				t.Errorf("client remote %s %d", c.RemoteAddress(), c.RemotePort())
			}
			if s.LocalAddress() != host || s.LocalPort() != a.Port {
				t.Errorf("server socket local %s %d", s.LocalAddress(), s.LocalPort())
			}
			if s.RemotePort() != c.LocalPort() || s.RemotePort() == a.Port {
				t.Errorf("server socket remote port %d; client local port %d", s.RemotePort(), c.LocalPort())
			}
			if got := c.Address(); got.Family != fam || got.Address != host {
				t.Errorf("client Address() = %+v", got)
			}
			c.Destroy()
			r.wait()
			if c.RemoteAddress() != "" || c.Address() != (Addr{}) {
				t.Errorf("addresses after close: %q %+v", c.RemoteAddress(), c.Address())
			}
			s.Destroy()
			srv.Close()
			for range evs {
			}
		})
	}
}
