// The server: address, close, events, Ref/Unref and Wait, maxConnections and
// WaitOverLimit, PauseOnConnect, Stats and ConnState.

package nodenet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// waitOverLimitServer is a server with WaitOverLimit and a limit of 1 whose
// handler writes "hi"; its first client is connected and served.
func waitOverLimitServer(t *testing.T) (*Server, int, *serverRecorder, *Socket, *recorder, *Socket) {
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

// waitingClient connects a client that the kernel accepts (its connect
// completes) while the server, at its limit, does not; a round trip on
// the first connection gives the server time to do wrong.
func waitingClient(t *testing.T, srv *Server, port int, r *serverRecorder, c1, s1 *Socket) (*Socket, *recorder) {
	t.Helper()
	c2 := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	r2 := recordConnected(t, c2)
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
	t.Parallel()
	srv, port, r, c1, r1, s1 := waitOverLimitServer(t)
	c2, r2 := waitingClient(t, srv, port, r, c1, s1)
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
	t.Parallel()
	srv, port, r, c1, _, s1 := waitOverLimitServer(t)
	_, r2 := waitingClient(t, srv, port, r, c1, s1)
	if err := srv.SetMaxConnections(2); err != nil {
		t.Fatal(err)
	}
	if got := string(r2.waitData(2)); got != "hi" {
		t.Errorf("the waiting client got %q after SetMaxConnections(2); want hi", got)
	}
	r.waitConnection(2)

	c3 := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	r3 := recordConnected(t, c3)
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
	t.Parallel()
	srv, port, r, c1, _, s1 := waitOverLimitServer(t)
	_, r2 := waitingClient(t, srv, port, r, c1, s1)
	if err := callGuarded(t, "Close() while the accept loop waited for room", srv.Close); err != nil {
		t.Errorf("Close() = %v; want nil", err)
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

// TestBeyondPauseOnConnect proves PauseOnConnect: an accepted socket is
// paused and reads nothing at all from the kernel (BytesRead and Unread
// stay 0 while its peer's data waits there, even once subscribed) until
// Resume; then the data arrives.
func TestBeyondPauseOnConnect(t *testing.T) {
	t.Parallel()
	_, r, port := recordedServer(t, ServerOptions{PauseOnConnect: true})
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

// TestBeyondSocketStats proves Socket.Stats: counters and times are zero
// before any I/O and move with it (LastWrite on the writer, LastRead on
// the reader), Unread holds the data a paused socket has read and not
// delivered, BufferSize and Paused are reported, and ReadyState follows
// the connection to its close.
func TestBeyondSocketStats(t *testing.T) {
	_, r, port := recordedServer(t, ServerOptions{})
	start := time.Now()
	c, rc := connectClient(t, port)
	s := r.waitConnection(1)
	for _, side := range []*Socket{c, s} {
		st := side.Stats()
		if side.BytesRead() != 0 || side.BytesWritten() != 0 || !st.LastRead.IsZero() || !st.LastWrite.IsZero() ||
			st.Unread != 0 || side.BufferSize() != 0 || side.IsPaused() || side.ReadyState() != "open" {
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
	if got := c.ReadyState(); got != "readOnly" && got != "closed" {
		t.Errorf("ReadyState after End = %v; want readOnly (or closed, if the peer's end came already)", got)
	}
	rc.wait()
	rs.wait()
	for _, side := range []*Socket{c, s} {
		if side.ReadyState() != "closed" || side.BytesRead() != 5 || side.BytesWritten() != 5 {
			t.Errorf("after the close: ReadyState %v, BytesRead %d, BytesWritten %d; want closed, the counters kept",
				side.ReadyState(), side.BytesRead(), side.BytesWritten())
		}
	}
}

// TestBeyondServerStats proves Server.Stats: Accepted and Connections count
// the connections, Dropped the one over SetMaxConnections, Forced those
// Shutdown destroys at its deadline.
func TestBeyondServerStats(t *testing.T) {
	srv, r, port := recordedServer(t, ServerOptions{})
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
	c4 := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
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
// closed by either side: open comes before the ConnectionEvent's
// consumer sees the socket, closed once the socket is closed, each
// exactly once per connection, and never for a dropped connection.
func TestBeyondConnState(t *testing.T) {
	t.Parallel()
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
		if rs := s.ReadyState(); rs != "closed" {
			problems = append(problems, fmt.Sprintf("closed told while ReadyState() = %q", rs))
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
					problems = append(problems, fmt.Sprintf("ConnectionEvent seen after %d opens", opened[ce.Socket]))
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
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	record(t, c).wait() // dropped
	keep.Destroy()
	waitUntil(t, "the hook told of every close", func() bool {
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

// TestBeyondConnStateOpenSocket proves that the socket ConnState gets
// with open true is usable as the hook's documentation promises ("may
// call the socket's methods"): it is open, with its addresses, as
// http.Server's StateNew connection is.
func TestBeyondConnStateOpenSocket(t *testing.T) {
	t.Parallel()
	type seen struct {
		ready   string
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
	if g, want := <-got, (seen{"open", false, "127.0.0.1"}); g != want {
		t.Errorf("the socket in ConnState(s, true): %+v; want %+v", g, want)
	}
}

// TestBeyondConnStateDestroyOnOpen proves that a ConnState hook may
// refuse a connection by destroying the socket when it is told open: the
// connection is closed (the client sees its end, or a reset), the server
// counts no open connection, and nothing is left running.
func TestBeyondConnStateDestroyOnOpen(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{ConnState: func(s *Socket, open bool) {
		if open {
			s.Destroy()
		}
	}}, nil)
	recordServer(t, srv)
	port := listenTCP(t, srv)
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	if evs := record(t, c).wait(); !endedOrReset(evs) {
		t.Errorf("events of a client whose socket the hook destroyed = %q; want connect, then end or ECONNRESET", names(evs))
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() = %d; want 0", got)
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
	t.Parallel()
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
	srv, r, port := recordedServer(t, ServerOptions{})
	connectClient(t, port)
	s := r.waitConnection(1)
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() with one connection = %d; want 1", got)
	}

	if err := callGuarded(t, "Close() while a connection is open", srv.Close); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}

	refusedConnect(t, port)
	if got, want := names(r.events()), "listening connection"; got != want {
		t.Errorf("server events while a connection is open after Close = %q; want %q", got, want)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() after Close, connection open = %d; want 1", got)
	}
	if got := s.ReadyState(); got != "open" {
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
	srv, r, port := recordedServer(t, ServerOptions{})
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
	t.Parallel()
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
	t.Parallel()
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

// Node: test-net-server-max-connections, scaled down to a limit of 1.
func TestServerMaxConnections(t *testing.T) {
	t.Parallel()
	srv, port, r := hiServer(t)
	if err := srv.SetMaxConnections(1); err != nil {
		t.Fatalf("SetMaxConnections(1) = %v; want nil", err)
	}

	c1, r1 := connectClient(t, port)
	if got := string(r1.waitData(2)); got != "hi" {
		t.Errorf("first client got %q; want %q", got, "hi")
	}
	r.waitConnection(1)

	c2 := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
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
	t.Parallel()
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
	t.Parallel()
	srv, r, port := recordedServer(t, ServerOptions{})
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
	t.Parallel()
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
		if got := s.ReadyState(); got != "open" {
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

// logBuffer collects what the standard logger writes, for a test to read
// while the logger may still write.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLog sends the standard logger's output to a buffer for the rest
// of the test.
func captureLog(t *testing.T) *logBuffer {
	buf := new(logBuffer)
	old := log.Writer()
	log.SetOutput(buf)
	t.Cleanup(func() { log.SetOutput(old) })
	return buf
}

// TestHandlerPanicIsRecovered proves that a connection handler's panic
// does not end the process, as in net/http: it is logged with its stack,
// that connection is destroyed (its client sees the end), the server's
// events carry it as an ErrorEvent, the other connections, open or new,
// go on, and Shutdown, which counts the handler as returned, returns nil.
func TestHandlerPanicIsRecovered(t *testing.T) {
	logged := captureLog(t)
	errBoom := errors.New("boom")
	srv := createServer(t, ServerOptions{Flow: Flow{Framing: Lines(64)}}, func(c *Socket) {
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				if string(ev.Data) == "panic" {
					panic(errBoom)
				}
				c.Send(append(ev.Data, '\n'), nil)
			case ShutdownEvent:
				c.End()
			}
		}
	})
	sevs := newEventLog(t, "server events", srv.Events(), nil)
	port := listenTCP(t, srv)
	type client struct {
		conn net.Conn
		r    *bufio.Reader
	}
	dial := func() client {
		c := dialRaw(t, port)
		c.SetDeadline(time.Now().Add(testTimeout))
		return client{c, bufio.NewReader(c)}
	}
	echo := func(c client, line string) {
		t.Helper()
		if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
			t.Fatalf("writing %q: %v", line, err)
		}
		if got, err := c.r.ReadString('\n'); err != nil || got != line+"\n" {
			t.Fatalf("echo of %q = %q, %v", line, got, err)
		}
	}
	open := dial()
	echo(open, "before")

	bad := dial()
	if _, err := io.WriteString(bad.conn, "panic\n"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(bad.r)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(rest) > 0 {
		t.Errorf("the client of the panicking handler read %q, %v; want the end (EOF or a reset)", rest, err)
	}
	ev := sevs.waitFor("the handler's panic", isKind[ErrorEvent]).(ErrorEvent)
	if !errors.Is(ev.Err, errBoom) || !strings.Contains(ev.Err.Error(), "panicked") {
		t.Errorf("the server's ErrorEvent = %v; want the handler's panic, wrapping its error", ev.Err)
	}
	// The log comes before the destroy that the client saw.
	if out := logged.String(); !strings.Contains(out, "nodenet: panic in the connection handler for 127.0.0.1:") ||
		!strings.Contains(out, "boom") || !strings.Contains(out, "TestHandlerPanicIsRecovered") {
		t.Errorf("log = %q; want the panic and its stack", out)
	}

	echo(open, "after")
	fresh := dial()
	echo(fresh, "new")

	errc := make(chan error, 1)
	go func() { errc <- srv.Shutdown(ctxTimeout(t)) }()
	for _, c := range []client{open, fresh} {
		// The handler Ends at the ShutdownEvent.
		if rest, err := io.ReadAll(c.r); err != nil || len(rest) > 0 {
			t.Errorf("read %q, %v before the end; want nothing", rest, err)
		}
		c.conn.Close()
	}
	if err := <-errc; err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
	if st := srv.Stats(); st.Accepted != 3 || srv.Connections() != 0 || st.Forced != 0 {
		t.Errorf("Stats = %+v; want 3 accepted, none active or forced", st)
	}
	sevs.wait()
}
