package nodenet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// serverRecorder reads a server's events until the channel closes.
type serverRecorder struct {
	*eventLog
	// destroying is set by Cleanup: from then on the reader destroys the
	// socket of every ConnectionEvent it receives.
	destroying atomic.Bool
}

// recordServer starts reading srv.Events(). Cleanup closes srv, destroys
// every socket it accepted and waits until the event channel has closed.
func recordServer(t testing.TB, srv *Server) *serverRecorder {
	t.Helper()
	r := &serverRecorder{}
	r.eventLog = newEventLog(t, "server events", srv.Events(), func(ev Event) {
		if ce, ok := ev.(ConnectionEvent); ok && r.destroying.Load() {
			ce.Socket.Destroy()
		}
	})
	t.Cleanup(func() {
		srv.Close()
		// Set under the log's lock: an event logged after the copy
		// below sees it, one logged before is in the copy.
		r.mu.Lock()
		r.destroying.Store(true)
		evs := append([]Event(nil), r.evs...)
		r.mu.Unlock()
		for _, ev := range evs {
			if ce, ok := ev.(ConnectionEvent); ok {
				ce.Socket.Destroy()
			}
		}
		select {
		case <-r.done:
		case <-time.After(testTimeout):
			t.Errorf("server events did not end after Close; got %s", names(r.events()))
		}
	})
	return r
}

// waitConnection blocks until the n-th (1-based) ConnectionEvent has come
// and returns its socket.
func (r *serverRecorder) waitConnection(n int) *Socket {
	r.t.Helper()
	var s *Socket
	r.waitFor(fmt.Sprintf("connection #%d", n), func(Event) bool {
		s = nil
		k := 0
		for _, ev := range r.events() {
			if ce, ok := ev.(ConnectionEvent); ok {
				if k++; k == n {
					s = ce.Socket
					return true
				}
			}
		}
		return false
	})
	return s
}

// count gives the number of events in evs of the kind T.
func count[T Event](evs []Event) int {
	n := 0
	for _, ev := range evs {
		if isKind[T](ev) {
			n++
		}
	}
	return n
}

// connectClient connects a recorded client to 127.0.0.1:port and waits
// for its ConnectEvent.
func connectClient(t testing.TB, port int) (*Socket, *recorder) {
	t.Helper()
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatalf("ConnectTCP(%d, 127.0.0.1) = %v; want nil", port, err)
	}
	r := record(t, c)
	r.waitFor("connect", isKind[ConnectEvent])
	return c, r
}

// refusedConnect checks that a connection attempt to 127.0.0.1:port is
// refused: ECONNREFUSED on the client's events.
func refusedConnect(t testing.TB, port int) {
	t.Helper()
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatalf("ConnectTCP(%d, 127.0.0.1) = %v; want nil", port, err)
	}
	evs := record(t, c).wait()
	if got, want := names(evs), "error(connect ECONNREFUSED) close(true)"; got != want {
		t.Errorf("events of a client of a closed server = %q; want %q", got, want)
	}
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

// hiServer is a server whose handler writes "hi" to every connection,
// listening on 127.0.0.1; its events are recorded.
func hiServer(t testing.TB) (*Server, int, *serverRecorder) {
	t.Helper()
	srv := createServer(t, ServerOptions{}, func(s *Socket) { s.SendString("hi", "", nil) })
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	return srv, port, r
}

// Node: test-net-bind-twice, test-net-eaddrinuse, test-net-server-try-ports,
// and the manual's EADDRINUSE retry pattern.
func TestListenEADDRINUSE(t *testing.T) {
	busy := createServer(t, ServerOptions{}, nil)
	port := listenTCP(t, busy)

	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	err := srv.Listen(port, "127.0.0.1", 0)
	call := fmt.Sprintf("Listen(%d, 127.0.0.1, 0)", port)
	checkSysError(t, call, err, "EADDRINUSE", "listen", syscall.EADDRINUSE)
	if err != nil {
		if got, want := err.Error(), "listen EADDRINUSE"; got != want {
			t.Errorf("%s = %q; want %q", call, got, want)
		}
	}
	ev := r.waitFor("error", isKind[ErrorEvent])
	if evErr := ev.(ErrorEvent).Err; evErr != err {
		t.Errorf("ErrorEvent.Err = %v; want the error Listen returned (%v)", evErr, err)
	}
	if got := srv.Address(); got != (Addr{}) {
		t.Errorf("Address() after a failed Listen = %+v; want the zero Addr", got)
	}
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

// A consumer of a server that is not running (its Listen failed) has no
// event left to wait for: the server must not keep a goroutine for it.
func TestServerEventsNoLeakWhenNotRunning(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	before := goleak.IgnoreCurrent()

	srv := createServer(t, ServerOptions{}, nil)
	ch := srv.Events()
	if err := srv.Listen(port, "127.0.0.1", 0); err == nil {
		srv.Close()
		t.Fatalf("Listen(%d, 127.0.0.1, 0) on a busy port = nil; want EADDRINUSE", port)
	}
	select {
	case ev := <-ch:
		if !isKind[ErrorEvent](ev) {
			t.Errorf("first event = %s; want an ErrorEvent", names([]Event{ev}))
		}
	case <-time.After(testTimeout):
		t.Fatal("no ErrorEvent after a failed Listen")
	}
	if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Close() = %v; want %v", err, ErrNotRunning)
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left for the events of a server that is not running (Listen failed, Close = ErrNotRunning): %v", err)
		// Release it so that the package's leak check is not spoiled:
		// listen, close and read the channel until it closes.
		if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
			t.Fatalf("Listen: %v", err)
		}
		srv.Close()
		untilClosed(t, "the server's events", ch)
	}
}

// Node: test-net-server-address.
func TestServerAddress(t *testing.T) {
	tests := []struct {
		give       string
		wantAddr   string
		wantFamily string
	}{
		{give: "127.0.0.1", wantAddr: "127.0.0.1", wantFamily: "IPv4"},
		{give: "::1", wantAddr: "::1", wantFamily: "IPv6"},
		{give: "", wantAddr: "0.0.0.0", wantFamily: "IPv4"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.give), func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			if got := srv.Address(); got != (Addr{}) {
				t.Errorf("Address() before Listen = %+v; want the zero Addr", got)
			}
			if err := srv.Listen(0, tt.give, 0); err != nil {
				if tt.wantFamily == "IPv6" {
					t.Skipf("no IPv6 loopback here: Listen(0, %q, 0) = %v", tt.give, err)
				}
				t.Fatalf("Listen(0, %q, 0) = %v; want nil", tt.give, err)
			}
			t.Cleanup(func() { srv.Close() })
			a := srv.Address()
			if a.Address != tt.wantAddr || a.Family != tt.wantFamily || a.Port <= 0 || a.Port > 65535 {
				t.Errorf("Address() = %+v; want {Address: %s, Family: %s, Port: >0}", a, tt.wantAddr, tt.wantFamily)
			}
			if err := srv.Close(); err != nil {
				t.Errorf("Close() = %v; want nil", err)
			}
			if got := srv.Address(); got != (Addr{}) {
				t.Errorf("Address() after Close = %+v; want the zero Addr", got)
			}
		})
	}
}

// Node: the close rules of §2.5 S4; test-net-during-close.
func TestServerCloseWithOpenConnection(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	connectClient(t, port)
	s := r.waitConnection(1)
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() with one connection = %d; want 1", got)
	}

	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close() did not return while a connection is open")
	}

	refusedConnect(t, port)
	if got, want := names(r.events()), "listening connection"; got != want {
		t.Errorf("server events while a connection is open after Close = %q; want %q", got, want)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() after Close, connection open = %d; want 1", got)
	}
	if got := s.ReadyState(); got != StateOpen {
		t.Errorf("ReadyState() of the open connection after Close = %v; want open", got)
	}

	s.Destroy()
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() after Destroy = %d; want 0", got)
	}
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

func TestServerCloseIdle(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	r.waitFor("listening", isKind[ListeningEvent])
	if err := srv.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second Close() = %v; want %v", err, ErrNotRunning)
	}
	refusedConnect(t, port)
}

func TestServerCloseNeverListened(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	err := srv.Close()
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("Close() on a server that never listened = %v; want %v", err, ErrNotRunning)
	}
	if err != nil && err.Error() != "Not running" {
		t.Errorf("Close().Error() = %q; want %q", err.Error(), "Not running")
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() = %d; want 0", got)
	}
}

// Node 0.12 and later (DESIGN.md, "Differences from Node v0.10"): no ListeningEvent after an
// immediate Close; v0.10 emitted 'listening' then 'close'.
func TestServerListenThenCloseAtOnce(t *testing.T) {
	tests := []struct {
		give           string
		subscribeFirst bool
		yield          bool
	}{
		{give: "subscribed after Close", subscribeFirst: false},
		{give: "subscribed before Listen", subscribeFirst: true},
		// The caller lets other goroutines run between Listen and Close
		// but receives nothing before Close: still no ListeningEvent.
		{give: "subscribed before Listen, yield before Close", subscribeFirst: true, yield: true},
	}
	const rounds = 200
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			seen := map[string]int{}
			for range rounds {
				srv := createServer(t, ServerOptions{}, nil)
				var ch <-chan Event
				if tt.subscribeFirst {
					ch = srv.Events()
				}
				if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
					t.Fatalf("Listen(0, 127.0.0.1, 0) = %v; want nil", err)
				}
				for i := 0; tt.yield && i < 100 && len(ch) == 0; i++ {
					runtime.Gosched()
				}
				if err := srv.Close(); err != nil {
					t.Fatalf("Close() = %v; want nil", err)
				}
				if !tt.subscribeFirst {
					ch = srv.Events()
				}
				evs := untilClosed(t, "the server's events", ch)
				seen[names(evs)]++
			}
			if diff := cmp.Diff(map[string]int{"close(false)": rounds}, seen); diff != "" {
				t.Errorf("server events of Listen then Close at once, over %d rounds (-want +got):\n%s", rounds, diff)
			}
		})
	}
}

// TestServerShutdown: a connection whose events are read gets a
// ShutdownEvent and is left to the program; at the deadline it is
// destroyed and Shutdown reports it.
func TestServerShutdown(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	connectClient(t, port)
	s := r.waitConnection(1)
	rs := record(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(ctx)
	var forced *ForcedError
	if !errors.As(err, &forced) || forced.Forced != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown(ctx with a 20ms deadline) with a consumed connection open = %v; want a *ForcedError{Forced: 1} wrapping %v", err, context.DeadlineExceeded)
	}
	refusedConnect(t, port)
	if got, want := names(rs.wait()), "shutdown close(false)"; got != want {
		t.Errorf("events of the server's socket = %q; want %q", got, want)
	}
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if st := srv.Stats(); st.Forced != 1 || srv.Connections() != 0 {
		t.Errorf("Stats() = %+v; want 1 forced, 0 active", st)
	}
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown(ctx) on a closed server = %v; want nil", err)
	}
}

// TestServerShutdownEndsIdle: a connection nobody consumes, with nothing
// to write or deliver, is ended at once: the peer sees the FIN, closes,
// and Shutdown returns nil. A connection whose consumer ends it on the
// ShutdownEvent lets Shutdown return as well.
func TestServerShutdownEndsIdle(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	_, ri := connectClient(t, port)
	r.waitConnection(1)
	_, rb := connectClient(t, port)
	s := r.waitConnection(2)
	evs := s.Events()
	go func() {
		for ev := range evs {
			if _, ok := ev.(ShutdownEvent); ok {
				s.EndString("bye", "")
			}
		}
	}()
	// Each client (AllowHalfOpen false) ends its side, and so closes,
	// once its server side has ended.
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown(ctx) = %v; want nil (every connection ended and closed)", err)
	}
	if got := string(dataOf(rb.wait())); got != "bye" {
		t.Errorf("the consumed connection's client got %q; want %q", got, "bye")
	}
	if got := names(ri.wait()); got != "connect end close(false)" {
		t.Errorf("the idle connection's client events = %q; want %q", got, "connect end close(false)")
	}
	if got, want := names(r.wait()), "listening connection connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

func TestServerShutdownIdle(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	listenTCP(t, srv)
	r.waitFor("listening", isKind[ListeningEvent])
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown(ctx) with no connection = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

// Node: test-net-server-max-connections, scaled down to a limit of 1.
func TestServerMaxConnections(t *testing.T) {
	srv, port, r := hiServer(t)
	if err := srv.SetMaxConnections(1); err != nil {
		t.Fatalf("SetMaxConnections(1) = %v; want nil", err)
	}

	c1, r1 := connectClient(t, port)
	if got := string(r1.waitData(2)); got != "hi" {
		t.Errorf("first client got %q; want %q", got, "hi")
	}
	r.waitConnection(1)

	c2, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	evs2 := record(t, c2).wait()
	if got := names(evs2); got != "connect end close(false)" && got != "connect error(read ECONNRESET) close(true)" {
		t.Errorf("events of the client over the limit = %q; want %q or %q", got,
			"connect end close(false)", "connect error(read ECONNRESET) close(true)")
	}
	if got := dataOf(evs2); len(got) != 0 {
		t.Errorf("the client over the limit got data %q; want none", got)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() after a rejected connection = %d; want 1", got)
	}

	c1.Destroy()
	r1.wait()
	waitUntil(t, "Connections() == 0 after the first client left", func() bool { return srv.Connections() == 0 })

	c3, r3 := connectClient(t, port)
	if got := string(r3.waitData(2)); got != "hi" {
		t.Errorf("third client got %q; want %q", got, "hi")
	}
	s3 := r.waitConnection(2)
	if got, want := s3.RemotePort(), c3.LocalPort(); got != want {
		t.Errorf("second ConnectionEvent: Socket.RemotePort() = %d; want the third client's port %d (a ConnectionEvent came for the rejected client?)", got, want)
	}
	if got, want := names(r.events()), "listening connection drop connection"; got != want {
		t.Errorf("server events = %q; want %q (the drop is Node v18.6's 'drop')", got, want)
	}
	if st := srv.Stats(); st.Accepted != 2 || st.Dropped != 1 || srv.Connections() != 1 {
		t.Errorf("Stats() = %+v; want 2 accepted, 1 dropped, 1 active", st)
	}
}

func TestServerSetMaxConnectionsNegative(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	if err := srv.SetMaxConnections(-1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SetMaxConnections(-1) = %v; want an error wrapping %v", err, ErrInvalidArgument)
	}
	if err := srv.SetMaxConnections(0); err != nil {
		t.Errorf("SetMaxConnections(0) = %v; want nil", err)
	}
}

// Node: test-net-server-close.
func TestServerCloseTwoConnections(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	connectClient(t, port)
	connectClient(t, port)
	s1 := r.waitConnection(1)
	s2 := r.waitConnection(2)
	if got := srv.Connections(); got != 2 {
		t.Errorf("Connections() = %d; want 2", got)
	}
	r1, r2 := record(t, s1), record(t, s2)

	if err := srv.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	s1.Destroy()
	s2.Destroy()
	for i, sr := range []*recorder{r1, r2} {
		if got, want := names(sr.wait()), "close(false)"; got != want {
			t.Errorf("events of server socket %d = %q; want %q", i+1, got, want)
		}
	}
	evs := r.wait()
	if got, want := names(evs), "listening connection connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if got := count[CloseEvent](evs); got != 1 {
		t.Errorf("%d server CloseEvents; want 1", got)
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() after both were destroyed = %d; want 0", got)
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
		{give: 0, want: min(DefaultBacklog, somaxconn)},
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

// Node: server.listen({fd: n}) and listen(handle) with a file.
func TestListenHandleFile(t *testing.T) {
	tests := []struct {
		give string
		h    func(f *os.File) any
	}{
		{give: "*os.File", h: func(f *os.File) any { return f }},
		{give: "int fd", h: func(f *os.File) any { return int(f.Fd()) }},
	}
	for _, tt := range tests {
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
	tests := []struct {
		give string
		h    func(f *os.File) any
	}{
		{give: "*os.File", h: func(f *os.File) any { return f }},
		{give: "int fd", h: func(f *os.File) any { return int(f.Fd()) }},
	}
	for _, tt := range tests {
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
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := net.Dial("tcp", peer.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
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
	path := sockPath(t)
	srv := createServer(t, ServerOptions{}, func(s *Socket) { s.EndString("unix", "") })
	r := recordServer(t, srv)
	if err := srv.ListenUnix(path); err != nil {
		t.Fatalf("ListenUnix(%q) = %v; want nil", path, err)
	}
	t.Cleanup(func() { srv.Close() })
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
	c, err := ConnectUnix(path)
	if err != nil {
		t.Fatal(err)
	}
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

// waitAsync calls Wait in a goroutine; the channel closes when it returns.
func waitAsync() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		Wait()
		close(done)
	}()
	return done
}

func checkReturns(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("Wait() did not return %s", what)
	}
}

func checkBlocked(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		t.Errorf("Wait() returned %s; want it blocked", what)
	default:
	}
}

// roundTrip connects a client that receives "hi", then closes it and
// waits until the server has let go of the connection.
func roundTrip(t *testing.T, srv *Server, port int) {
	t.Helper()
	c, cr := connectClient(t, port)
	if got := string(cr.waitData(2)); got != "hi" {
		t.Errorf("client got %q; want %q", got, "hi")
	}
	c.Destroy()
	cr.wait()
	waitUntil(t, "the server's connections to close", func() bool { return srv.Connections() == 0 })
}

// Node: test-net-server-unref, in Go's form: Wait.
func TestServerRefUnrefWait(t *testing.T) {
	t.Run("nothing open", func(t *testing.T) {
		checkReturns(t, waitAsync(), "with nothing open")
	})
	t.Run("referenced server", func(t *testing.T) {
		srv, port, r := hiServer(t)
		done := waitAsync()
		roundTrip(t, srv, port)
		roundTrip(t, srv, port)
		checkBlocked(t, done, "while a referenced server listens")
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
		r.wait()
		checkReturns(t, done, "after the server closed")
	})
	t.Run("unref", func(t *testing.T) {
		srv, port, r := hiServer(t)
		srv.Unref()
		checkReturns(t, waitAsync(), "while only an unreferenced server listens")
		if srv.Address().Port != port {
			t.Fatalf("Address().Port = %d; want %d", srv.Address().Port, port)
		}
		roundTrip(t, srv, port) // the server still serves

		srv.Ref()
		done := waitAsync()
		roundTrip(t, srv, port)
		checkBlocked(t, done, "after Ref on a listening server")
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
		r.wait()
		checkReturns(t, done, "after the server closed")
	})
	t.Run("unref before listen", func(t *testing.T) {
		srv := createServer(t, ServerOptions{}, nil)
		srv.Unref()
		listenTCP(t, srv)
		checkReturns(t, waitAsync(), "while a server unreferenced before Listen listens")
	})
}

// Node §2.5 S3: 'connection' events in accept order; the handler of each
// connection runs in a goroutine of its own.
func TestServerConnectionEvents(t *testing.T) {
	const n = 3
	release := make(chan struct{})
	started := make(chan *Socket, n)
	var handlers sync.WaitGroup
	srv := createServer(t, ServerOptions{}, func(s *Socket) {
		handlers.Add(1)
		defer handlers.Done()
		started <- s
		<-release // a handler that blocks does not hold up the next connection
	})
	t.Cleanup(func() {
		close(release)
		handlers.Wait()
	})
	r := recordServer(t, srv)
	port := listenTCP(t, srv)

	var clients []*Socket
	handled := map[*Socket]bool{}
	for i := range n {
		c, _ := connectClient(t, port)
		clients = append(clients, c)
		select {
		case s := <-started:
			handled[s] = true
		case <-time.After(testTimeout):
			t.Fatalf("handler of connection %d did not run while the earlier handlers block", i+1)
		}
	}
	for i := range n {
		r.waitConnection(i + 1)
	}
	evs := r.events()
	if got, want := names(evs), "listening connection connection connection"; got != want {
		t.Fatalf("server events = %q; want %q", got, want)
	}
	for i, ev := range evs[1:] {
		s := ev.(ConnectionEvent).Socket
		if s == nil {
			t.Fatalf("ConnectionEvent %d has a nil Socket", i+1)
		}
		if got, want := s.RemotePort(), clients[i].LocalPort(); got != want {
			t.Errorf("ConnectionEvent %d: Socket.RemotePort() = %d; want client %d's port %d", i+1, got, i+1, want)
		}
		if s.Server() != srv {
			t.Errorf("ConnectionEvent %d: Socket.Server() = %p; want the server %p", i+1, s.Server(), srv)
		}
		if got := s.ReadyState(); got != StateOpen {
			t.Errorf("ConnectionEvent %d: Socket.ReadyState() = %v; want open", i+1, got)
		}
		if !handled[s] {
			t.Errorf("ConnectionEvent %d: its Socket was not given to the handler", i+1)
		}
	}
	if got := srv.Connections(); got != n {
		t.Errorf("Connections() = %d; want %d", got, n)
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
	checkSysError(t, fmt.Sprintf("Listen(0, %q, 0)", host), err, "ENOTFOUND", "getaddrinfo", 0)
	if err != nil {
		if got, want := err.Error(), "getaddrinfo ENOTFOUND"; got != want {
			t.Errorf("Listen(0, %q, 0).Error() = %q; want %q", host, got, want)
		}
	}
	ev := r.waitFor("error", isKind[ErrorEvent])
	if evErr := ev.(ErrorEvent).Err; evErr != err {
		t.Errorf("ErrorEvent.Err = %v; want the error Listen returned (%v)", evErr, err)
	}
	if got := srv.Address(); got != (Addr{}) {
		t.Errorf("Address() after a failed Listen = %+v; want the zero Addr", got)
	}
	// The server can listen after it; its events end with the close.
	listenTCP(t, srv)
	r.waitFor("listening", isKind[ListeningEvent])
	srv.Close()
	if got, want := names(r.wait()), "error(getaddrinfo ENOTFOUND) listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}
