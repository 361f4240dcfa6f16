package nodenet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Ports of Node v0.10.18's own tests of the net module (CONFORMANCE.md §3.1
// and §3.2), one Go test per Node test, named after it: test/simple/test-net-X.js
// is TestNode_net_X, test/simple/test-Y.js is TestNode_Y. Each checks the
// assertions of the Node test through nodenet's API; CONFORMANCE.md maps
// every Node test to its port. The pummel tests are in
// node_pummel_test.go.

// ---------------------------------------------------------------------------
// Helpers of the ports.

// nodeErrs collects failures found on goroutines that must not call t (a
// connection handler, a write callback, a timer); report hands them to t.
type nodeErrs struct {
	mu   sync.Mutex
	msgs []string
}

func (e *nodeErrs) add(format string, args ...any) {
	e.mu.Lock()
	e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

func (e *nodeErrs) report(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.msgs {
		t.Error(m)
	}
}

// nodeLoop receives s's events until the channel closes, calling on (when
// not nil) for each, and returns them all. After testTimeout it destroys s
// and fails the test, so a bug cannot hang the suite.
func nodeLoop(t testing.TB, s *Socket, on func(Event)) []Event {
	t.Helper()
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	ch := s.Events()
	var evs []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
			if on != nil {
				on(ev)
			}
		case <-timeout.C:
			s.Destroy()
			for range ch {
			}
			t.Fatalf("events did not end; got %s", names(evs))
		}
	}
}

// nodeServer starts a server on 127.0.0.1 whose handler is handler (it may
// be nil); Cleanup closes the server and destroys every socket it accepted,
// including one whose handler starts after the test.
func nodeServer(t testing.TB, opts ServerOptions, handler func(*Socket)) (*Server, int) {
	t.Helper()
	srv := createServer(t, opts, nodeTracked(t, handler))
	return srv, listenTCP(t, srv)
}

// nodeTracked wraps a connection handler so that Cleanup destroys every
// socket it was given.
func nodeTracked(t testing.TB, handler func(*Socket)) func(*Socket) {
	var mu sync.Mutex
	var all []*Socket
	over := false
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		over = true
		for _, s := range all {
			s.Destroy()
		}
	})
	return func(s *Socket) {
		mu.Lock()
		all = append(all, s)
		late := over
		mu.Unlock()
		if late {
			s.Destroy()
			return
		}
		if handler != nil {
			handler(s)
		}
	}
}

// nodeServerEvents reads srv's events until the channel closes. Call wait
// once the server has been closed and its connections are gone. The caller
// must make the server reach its CloseEvent (listen, then Close).
type nodeServerEvents struct {
	done chan struct{}
	evs  []Event
}

func nodeWatch(t testing.TB, srv *Server) *nodeServerEvents {
	t.Helper()
	w := &nodeServerEvents{done: make(chan struct{})}
	ch := srv.Events()
	go func() {
		defer close(w.done)
		for ev := range ch {
			w.evs = append(w.evs, ev)
		}
	}()
	return w
}

func (w *nodeServerEvents) wait(t testing.TB) []Event {
	t.Helper()
	select {
	case <-w.done:
		return w.evs
	case <-time.After(testTimeout):
		t.Fatal("server events did not end")
		return nil
	}
}

// nodeNextServerEvent receives one event of a server with a timeout.
func nodeNextServerEvent(t testing.TB, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(testTimeout):
		t.Fatal("no server event")
		return nil
	}
}

// nodeDrainServer closes srv and reads its events until the channel
// closes, returning them.
func nodeDrainServer(t testing.TB, srv *Server, ch <-chan Event) []Event {
	t.Helper()
	srv.Close()
	return untilClosed(t, "the server's events", ch)
}

// nodeListenedThenDrain waits for the ListeningEvent of a Listen that
// succeeded, then closes srv and returns the events after it. (A Close
// right after Listen takes back a ListeningEvent not yet delivered.)
func nodeListenedThenDrain(t testing.TB, srv *Server, ch <-chan Event) []Event {
	t.Helper()
	if ev := nodeNextServerEvent(t, ch); !isKind[ListeningEvent](ev) {
		t.Errorf("server event after a successful Listen = %s; want listening", names([]Event{ev}))
	}
	return nodeDrainServer(t, srv, ch)
}

// nodeFreePort returns a TCP port that was free on host a moment ago, for
// the Node tests that listen on a given port (common.PORT).
func nodeFreePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// nodeSysErr returns err as an *Error, failing the test if it is not one.
func nodeSysErr(t testing.TB, what string, err error) *Error {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) {
		t.Fatalf("%s = %v (%T); want an *Error", what, err, err)
	}
	return ne
}

// nodeFirstError returns the Err of the first ErrorEvent in evs, or nil.
func nodeFirstError(evs []Event) error {
	for _, ev := range evs {
		if e, ok := ev.(ErrorEvent); ok {
			return e.Err
		}
	}
	return nil
}

// nodeRefusedPort returns a port of 127.0.0.1 where nothing listens.
func nodeRefusedPort(t testing.TB) int {
	return nodeFreePort(t, "127.0.0.1")
}

// nodePipeSocket starts a Socket over one end of net.Pipe, the way the
// server starts an accepted one, for the tests that run on the fake clock
// of a synctest bubble; it returns the socket and the other end. It is
// Unref'd first so that it never touches the package's ref count (whose
// channel would otherwise belong to the bubble). Cleanup destroys it.
func nodePipeSocket(t *testing.T, allowHalfOpen bool) (*Socket, net.Conn) {
	t.Helper()
	conn, peer := net.Pipe()
	s := newSocket(allowHalfOpen, defaultFlow)
	s.Unref()
	s.mu.Lock()
	s.startLocked(conn)
	s.mu.Unlock()
	t.Cleanup(func() {
		s.Destroy()
		peer.Close()
	})
	return s, peer
}

// ---------------------------------------------------------------------------
// test/simple/test-net-*.js

// test-net-GH-5504: the server writes 64 MiB to a client that destroys
// itself as soon as it is connected; the server socket must notice (error
// or end) and close instead of going on reading or writing. Node runs
// server and client as child processes; here both are in this process.
func TestNode_net_GH_5504(t *testing.T) {
	content := bytes.Repeat([]byte("#"), 64<<20)
	var srv *Server
	conns := make(chan *Socket, 1)
	var errs nodeErrs
	srv = createServer(t, ServerOptions{}, nodeTracked(t, func(s *Socket) {
		srv.Close() // Node: this.close() in the connection listener
		// The client may already have gone (Node's client is another
		// process, so there too the order is free): then the write is
		// refused with EPIPE, the end of the peer.
		if _, err := s.Send(content, nil); err != nil {
			var ne *Error
			if !errors.As(err, &ne) || ne.Code != "EPIPE" {
				errs.add("server Send(64 MiB) = %v; want nil or EPIPE", err)
			}
		}
		conns <- s
	}))
	port := listenTCP(t, srv)

	c, err := Connect(ConnectOptions{Host: "localhost", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	cevs := nodeLoop(t, c, func(ev Event) {
		if isKind[ConnectEvent](ev) {
			c.Destroy()
		}
	})
	// Data already in the channel when Destroy ran may still come.
	if got := names(cevs); got != "connect close(false)" && got != "connect data close(false)" {
		t.Errorf("client events = %q; want %q (data optional)", got, "connect close(false)")
	}
	s := accept(t, conns)
	sevs := record(t, s).wait()
	if len(sevs) == 0 || !isKind[CloseEvent](sevs[len(sevs)-1]) {
		t.Errorf("server socket events = %q; want them to end with a close", names(sevs))
	}
	if count[DataEvent](sevs) != 0 {
		t.Errorf("server socket events = %q; want no data", names(sevs))
	}
	if count[ErrorEvent](sevs)+count[EndEvent](sevs) == 0 {
		t.Errorf("server socket events = %q; want an error (EPIPE, ECONNRESET) or an end before the close", names(sevs))
	}
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("server Shutdown() = %v; want nil (the connection closed)", err)
	}
	if got := s.BufferSize(); got != 0 {
		t.Errorf("server socket BufferSize() after close = %d; want 0", got)
	}
	errs.report(t)
}

// test-net-after-close: once a socket has closed, its setters, getters,
// Pause and Resume do not fail.
func TestNode_net_after_close(t *testing.T) {
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) { s.End() })
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(record(t, c).wait()), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
	if got := c.ReadyState(); got != StateClosed {
		t.Errorf("ReadyState() after close = %v; want closed", got)
	}
	if err := c.SetNoDelay(true); err != nil {
		t.Errorf("SetNoDelay(true) after close = %v; want nil", err)
	}
	if err := c.SetKeepAlive(true, 0); err != nil {
		t.Errorf("SetKeepAlive(true, 0) after close = %v; want nil", err)
	}
	if got := c.BufferSize(); got != 0 {
		t.Errorf("BufferSize() after close = %d; want 0", got)
	}
	c.Pause()
	c.Resume()
	if got := c.Address(); got != (Addr{}) {
		t.Errorf("Address() after close = %+v; want the zero Addr", got)
	}
	if got := c.RemoteAddress(); got != "" {
		t.Errorf("RemoteAddress() after close = %q; want \"\"", got)
	}
	if got := c.RemotePort(); got != 0 {
		t.Errorf("RemotePort() after close = %d; want 0", got)
	}
}

// test-net-binary: every byte value goes through an echo server whose
// sockets use the binary encoding, first as one string of 256 characters
// (255 down to 0), then one character per write; the client gets 512
// characters, the second half the first reversed.
func TestNode_net_binary(t *testing.T) {
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) {
		s.SetEncoding("binary")
		for ev := range s.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				s.SendString(ev.Text, "binary", nil)
			case EndEvent:
				s.End()
			}
		}
	})
	var binaryString strings.Builder
	for i := 255; i >= 0; i-- {
		binaryString.WriteRune(rune(i))
	}
	c, err := Connect(ConnectOptions{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetEncoding("binary"); err != nil {
		t.Fatal(err)
	}
	var recv []rune
	j := 0
	nodeLoop(t, c, func(ev Event) {
		switch ev := ev.(type) {
		case ConnectEvent:
			c.SendString(binaryString.String(), "binary", nil)
		case DataEvent:
			chunk := []rune(ev.Text)
			n := j + len(chunk)
			for j < n && j < 256 {
				c.SendString(string(rune(j)), "binary", nil)
				j++
			}
			if j == 256 {
				c.End()
			}
			recv = append(recv, chunk...)
		}
	})
	if len(recv) != 2*256 {
		t.Fatalf("received %d characters; want %d", len(recv), 2*256)
	}
	first := slices.Clone(recv[:256])
	slices.Reverse(first)
	if string(first) != string(recv[256:]) {
		t.Errorf("first half reversed = %q; want the second half %q", string(first), string(recv[256:]))
	}
	for i, r := range recv[256:] {
		if r != rune(i) {
			t.Errorf("character %d of the second half = %U; want %U", i, r, rune(i))
			break
		}
	}
}

// test-net-bind-twice: a second server on the same host and port gets
// EADDRINUSE, and no 'listening' for that listen.
func TestNode_net_bind_twice(t *testing.T) {
	server1 := createServer(t, ServerOptions{}, nil)
	port := listenTCP(t, server1)

	server2 := createServer(t, ServerOptions{}, nil)
	ch := server2.Events()
	err := server2.Listen(port, "127.0.0.1", 0)
	if ne := nodeSysErr(t, "second Listen on the same port", err); ne.Code != "EADDRINUSE" {
		t.Errorf("second Listen: Code = %q; want %q", ne.Code, "EADDRINUSE")
	}
	first := nodeNextServerEvent(t, ch)
	if e, ok := first.(ErrorEvent); !ok || e.Err != err {
		t.Errorf("first event of server2 = %s; want the ErrorEvent of the failed Listen", names([]Event{first}))
	}
	// End server2's event stream: listen elsewhere, then close.
	if err := server2.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen(0, 127.0.0.1, 0) = %v; want nil", err)
	}
	if got, want := names(nodeListenedThenDrain(t, server2, ch)), "close(false)"; got != want {
		t.Errorf("server2 events after its error and the second Listen's listening = %q; want %q", got, want)
	}
}

// test-net-buffersize: one-byte writes made while connecting are counted
// by BufferSize one by one; once everything is flushed it is 0.
func TestNode_net_buffersize(t *testing.T) {
	st := nodeStalled(t, ServerOptions{})
	c, err := ConnectTCP(st.port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	for i := 1; i < 10; i++ {
		c.SendString("a", "", nil)
		if got := c.BufferSize(); got != i {
			t.Errorf("BufferSize() after %d one-byte writes while connecting = %d; want %d", i, got, i)
		}
	}
	if got := c.ReadyState(); got != StateOpening {
		t.Fatalf("ReadyState() = %v; want opening (the connect was to stay in progress)", got)
	}
	c.End()
	st.release(t)
	sr := record(t, accept(t, st.conns))
	sr.waitFor("end", isKind[EndEvent])
	// The server has the client's FIN: every byte was handed to the
	// kernel before it (Node's 'finish').
	if got := c.BufferSize(); got != 0 {
		t.Errorf("BufferSize() once flushed = %d; want 0", got)
	}
	if got := string(dataOf(sr.events())); got != "aaaaaaaaa" {
		t.Errorf("server got %q; want %q", got, "aaaaaaaaa")
	}
	if got, want := names(cr.wait()), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
}

// test-net-bytes-stats: write 'foo', then in its callback end('bar'); the
// client reconnects once. The server's BytesRead and the client's
// BytesWritten, per connection, add up to 12.
func TestNode_net_bytes_stats(t *testing.T) {
	reads := make(chan int64, 4)
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) {
		for ev := range s.Events() {
			if isKind[EndEvent](ev) {
				reads <- s.BytesRead()
			}
		}
	})
	c, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	var errs nodeErrs
	for round := 1; round <= 2; round++ {
		if err := c.Connect(ConnectOptions{Port: port}); err != nil {
			t.Fatalf("round %d: Connect = %v; want nil", round, err)
		}
		evs := nodeLoop(t, c, func(ev Event) {
			if isKind[ConnectEvent](ev) {
				c.SendString("foo", "", func(err error) {
					if err != nil {
						errs.add("write callback error %v", err)
						return
					}
					if err := c.EndString("bar", ""); err != nil {
						errs.add("EndString(bar) in the write callback = %v", err)
					}
				})
			}
		})
		if got, want := names(evs), "connect end close(false)"; got != want {
			t.Errorf("round %d: client events = %q; want %q", round, got, want)
		}
		written += c.BytesWritten()
	}
	var read int64
	for i := 0; i < 2; i++ {
		select {
		case n := <-reads:
			read += n
		case <-time.After(testTimeout):
			t.Fatal("the server did not see both ends")
		}
	}
	if read != 12 {
		t.Errorf("server BytesRead over both connections = %d; want 12", read)
	}
	if written != 12 {
		t.Errorf("client BytesWritten over both connections = %d; want 12", written)
	}
	errs.report(t)
}

// test-net-can-reset-timeout: a server socket with a 100 ms timeout writes
// in its timeout handler (which re-arms the timer); the client ends on that
// data, and the server gets exactly one timeout. On the fake clock.
func TestNode_net_can_reset_timeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := nodePipeSocket(t, false)
		if err := s.SetTimeout(100 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		clientGot := make(chan string, 1)
		go func() { // the client: end on data
			buf := make([]byte, 64)
			n, _ := peer.Read(buf)
			clientGot <- string(buf[:n])
			peer.Close()
		}()
		evs := nodeLoop(t, s, func(ev Event) {
			switch ev.(type) {
			case TimeoutEvent:
				s.SendString("WHAT.", "", nil)
			case EndEvent:
				s.End()
			}
		})
		if got := count[TimeoutEvent](evs); got != 1 {
			t.Errorf("%d TimeoutEvents; want 1 (events %q)", got, names(evs))
		}
		if got, want := names(evs), "timeout end close(false)"; got != want {
			t.Errorf("server socket events = %q; want %q", got, want)
		}
		if got := <-clientGot; got != "WHAT." {
			t.Errorf("client got %q; want %q", got, "WHAT.")
		}
	})
}

// test-net-connect-buffer: while connecting, ReadyState is opening; a
// multi-byte string is counted in BytesWritten by its bytes (15 for
// "L'État, c'est "); with a tiny high-water mark the write returns false;
// end('moi') queues too; the server gets the whole text, and the write
// callback runs after the connection is up. (Node's TypeError for
// non-string data is Go's type system; Node's highWaterMark 0 is 1 here,
// since 0 means the default.)
func TestNode_net_connect_buffer(t *testing.T) {
	st := nodeStalled(t, ServerOptions{})
	c, err := NewSocket(SocketOptions{Flow: Flow{HighWaterMark: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ConnectOptions{Port: st.port, Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	if got := c.ReadyState(); got != StateOpening {
		t.Fatalf("ReadyState() after Connect = %v; want opening", got)
	}
	a := "L'État, c'est "
	cbState := make(chan ReadyState, 1)
	ok, err := c.SendString(a, "", func(err error) {
		if err == nil {
			cbState <- c.ReadyState()
		}
	})
	if err != nil {
		t.Fatalf("SendString while connecting = %v; want nil", err)
	}
	if got := c.BytesWritten(); got != 15 {
		t.Errorf("BytesWritten() after queueing %q = %d; want 15 (bytes, not characters)", a, got)
	}
	if ok {
		t.Errorf("SendString(%q) with HighWaterMark 1 = true; want false", a)
	}
	if err := c.EndString("moi", ""); err != nil {
		t.Errorf("EndString(moi) while connecting = %v; want nil", err)
	}
	if got := c.ReadyState(); got != StateOpening {
		t.Errorf("ReadyState() after End while connecting = %v; want opening", got)
	}
	st.release(t)
	sr := record(t, accept(t, st.conns))
	sr.waitFor("end", isKind[EndEvent])
	if got, want := string(dataOf(sr.events())), "L'État, c'est moi"; got != want {
		t.Errorf("server got %q; want %q", got, want)
	}
	select {
	case rs := <-cbState:
		if rs == StateOpening {
			t.Error("the write callback ran while the socket was still connecting")
		}
	case <-time.After(testTimeout):
		t.Error("the write callback did not run")
	}
	if got := names(cr.wait()); !strings.HasPrefix(got, "connect ") {
		t.Errorf("client events = %q; want a connect first", got)
	}
	if got := c.BytesWritten(); got != int64(len("L'État, c'est moi")) {
		t.Errorf("BytesWritten() at the end = %d; want %d", got, len("L'État, c'est moi"))
	}
}

// test-net-connect-handle-econnrefused: a connect to a closed port gives an
// error with code ECONNREFUSED and no 'connect'.
func TestNode_net_connect_handle_econnrefused(t *testing.T) {
	c, err := ConnectTCP(nodeRefusedPort(t), "")
	if err != nil {
		t.Fatal(err)
	}
	evs := record(t, c).wait()
	if count[ConnectEvent](evs) != 0 {
		t.Errorf("events = %q; want no connect", names(evs))
	}
	err = nodeFirstError(evs)
	if ne := nodeSysErr(t, "the ErrorEvent of a refused connect", err); ne.Code != "ECONNREFUSED" {
		t.Errorf("error Code = %q; want ECONNREFUSED", ne.Code)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(%v, ECONNREFUSED) = false; want true", err)
	}
}

// test-net-connect-immediate-finish: End right after a connect to a host
// that does not resolve must not break anything: the error still comes.
func TestNode_net_connect_immediate_finish(t *testing.T) {
	offlineDNS(t) // the lookup fails here, with no query leaving the machine
	c, err := Connect(ConnectOptions{Host: "no.way.you.will.resolve.this.invalid", Port: nodeRefusedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.End(); err != nil {
		t.Errorf("End() right after Connect = %v; want nil", err)
	}
	evs := record(t, c).wait()
	err = nodeFirstError(evs)
	if err == nil {
		t.Fatalf("events = %q; want an error", names(evs))
	}
	if ne := nodeSysErr(t, "the ErrorEvent of an unresolvable host", err); ne.Code != "ENOTFOUND" {
		t.Errorf("error Code = %q; want ENOTFOUND", ne.Code)
	}
	if count[ConnectEvent](evs) != 0 {
		t.Errorf("events = %q; want no connect", names(evs))
	}
}

// test-net-connect-options: AllowHalfOpen through the options on both
// ends; the server ends at once; the client, told of that end, is still
// writable, then ends; both see the end.
func TestNode_net_connect_options(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	c, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port, AllowHalfOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	s := accept(t, conns)
	sr := record(t, s)
	s.End()
	var endState ReadyState
	cevs := nodeLoop(t, c, func(ev Event) {
		if isKind[EndEvent](ev) {
			endState = c.ReadyState()
			c.End()
		}
	})
	if endState != StateWriteOnly {
		t.Errorf("client ReadyState() at its end = %v; want writeOnly (still writable)", endState)
	}
	if got, want := names(cevs), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
	if got, want := names(sr.wait()), "end close(false)"; got != want {
		t.Errorf("server socket events = %q; want %q", got, want)
	}
}

// test-net-create-connection: the four call forms (port), (port, host),
// and the same through ConnectOptions, all connect. (Node's callback
// forms are the ConnectEvent.)
func TestNode_net_create_connection(t *testing.T) {
	var served atomic.Int32
	srv := createServer(t, ServerOptions{}, nodeTracked(t, func(s *Socket) {
		served.Add(1)
		s.End()
	}))
	if err := srv.Listen(0, "localhost", 0); err != nil {
		t.Fatalf("Listen(0, localhost, 0) = %v; want nil", err)
	}
	t.Cleanup(func() { srv.Close() })
	port := srv.Address().Port
	dials := []struct {
		give string
		dial func() (*Socket, error)
	}{
		{"ConnectTCP(port, \"\")", func() (*Socket, error) { return ConnectTCP(port, "") }},
		{"ConnectTCP(port, localhost)", func() (*Socket, error) { return ConnectTCP(port, "localhost") }},
		{"Connect({Port})", func() (*Socket, error) { return Connect(ConnectOptions{Port: port}) }},
		{"Connect({Port, Host: localhost})", func() (*Socket, error) {
			return Connect(ConnectOptions{Port: port, Host: "localhost"})
		}},
	}
	for _, d := range dials {
		c, err := d.dial()
		if err != nil {
			t.Fatalf("%s = %v; want nil", d.give, err)
		}
		if got, want := names(record(t, c).wait()), "connect end close(false)"; got != want {
			t.Errorf("%s: events = %q; want %q", d.give, got, want)
		}
	}
	if got := served.Load(); got != 4 {
		t.Errorf("server connections = %d; want 4", got)
	}
}

// test-net-dns-error: a host name of 256 '*' gives ENOTFOUND and no
// connect.
func TestNode_net_dns_error(t *testing.T) {
	offlineDNS(t)
	c, err := ConnectTCP(42, strings.Repeat("*", 256))
	if err != nil {
		t.Fatalf("ConnectTCP(42, 256 stars) = %v; want nil (the failure is an event)", err)
	}
	evs := record(t, c).wait()
	if count[ConnectEvent](evs) != 0 {
		t.Errorf("events = %q; want no connect", names(evs))
	}
	ne := nodeSysErr(t, "the ErrorEvent of a bogus host", nodeFirstError(evs))
	if ne.Code != "ENOTFOUND" || ne.Syscall != "getaddrinfo" {
		t.Errorf("error = {Code %q, Syscall %q}; want {ENOTFOUND, getaddrinfo}", ne.Code, ne.Syscall)
	}
	if got := count[ErrorEvent](evs); got != 1 {
		t.Errorf("%d ErrorEvents; want 1", got)
	}
}

// test-net-during-close: RemoteAddress and RemotePort of a connecting
// client, read right after the server is closed, do not fail.
func TestNode_net_during_close(t *testing.T) {
	srv, port := nodeServer(t, ServerOptions{}, func(s *Socket) { s.End() })
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	srv.Close()
	if got := c.RemoteAddress(); got != "" && got != "127.0.0.1" {
		t.Errorf("RemoteAddress() while connecting = %q; want \"\" or 127.0.0.1", got)
	}
	if got := c.RemotePort(); got != 0 && got != port {
		t.Errorf("RemotePort() while connecting = %d; want 0 or %d", got, port)
	}
	evs := r.wait()
	if !isKind[CloseEvent](evs[len(evs)-1]) {
		t.Errorf("client events = %q; want a close last", names(evs))
	}
}

// test-net-eaddrinuse: a second listen on the same port fails with a
// message that contains EADDRINUSE.
func TestNode_net_eaddrinuse(t *testing.T) {
	server1 := createServer(t, ServerOptions{}, nil)
	if err := server1.Listen(0, "", 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server1.Close() })
	server2 := createServer(t, ServerOptions{}, nil)
	err := server2.Listen(server1.Address().Port, "", 0)
	if err == nil {
		server2.Close()
		t.Fatal("second Listen on a port in use = nil; want EADDRINUSE")
	}
	if !strings.Contains(err.Error(), "EADDRINUSE") {
		t.Errorf("second Listen error message = %q; want it to contain EADDRINUSE", err.Error())
	}
}

// test-net-end-without-connect: End on a socket that never connected does
// not fail. (nodenet then closes it: a CloseEvent ends its channel, and a
// later write is 'write after end'.)
func TestNode_net_end_without_connect(t *testing.T) {
	s, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err != nil {
		t.Errorf("End() on a new socket = %v; want nil", err)
	}
	if got, want := names(nodeLoop(t, s, nil)), "close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if _, err := s.SendString("x", "", nil); !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("SendString after End = %v; want %v", err, ErrWriteAfterEnd)
	}
}

// test-net-isip: Node's table for isIP, isIPv4 and isIPv6. (isIP() with no
// argument is the empty string here.)
func TestNode_net_isip(t *testing.T) {
	isIP := map[string]int{
		"127.0.0.1":   4,
		"x127.0.0.1":  0,
		"example.com": 0,
		"0000:0000:0000:0000:0000:0000:0000:0000":       6,
		"0000:0000:0000:0000:0000:0000:0000:0000::0000": 0,
		"1050:0:0:0:5:600:300c:326b":                    6,
		"2001:252:0:1::2008:6":                          6,
		"2001:dead:beef:1::2008:6":                      6,
		"2001::":                                        6,
		"2001:dead::":                                   6,
		"2001:dead:beef::":                              6,
		"2001:dead:beef:1::":                            6,
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff":       6,
		":2001:252:0:1::2008:6:":                        0,
		":2001:252:0:1::2008:6":                         0,
		"2001:252:0:1::2008:6:":                         0,
		"2001:252::1::2008:6":                           0,
		"::2001:252:1:2008:6":                           6,
		"::2001:252:1:1.1.1.1":                          6,
		"::2001:252:1:255.255.255.255":                  6,
		"::2001:252:1:255.255.255.255.76":               0,
		"::anything":                                    0,
		"::1":                                           6,
		"::":                                            6,
		"0000:0000:0000:0000:0000:0000:12345:0000":      0,
		"0": 0,
		"":  0,
	}
	for s, want := range isIP {
		if got := IsIP(s); got != want {
			t.Errorf("IsIP(%q) = %d; want %d", s, got, want)
		}
	}
	for s, want := range map[string]bool{"127.0.0.1": true, "example.com": false, "2001:252:0:1::2008:6": false} {
		if got := IsIPv4(s); got != want {
			t.Errorf("IsIPv4(%q) = %v; want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{"127.0.0.1": false, "example.com": false, "2001:252:0:1::2008:6": true} {
		if got := IsIPv6(s); got != want {
			t.Errorf("IsIPv6(%q) = %v; want %v", s, got, want)
		}
	}
}

// nodeSockopt reads an integer socket option of s's connection.
func nodeSockopt(t *testing.T, s *Socket, level, opt int) int {
	t.Helper()
	s.mu.Lock()
	tc, ok := s.c.nc.(*net.TCPConn)
	s.mu.Unlock()
	if !ok {
		t.Fatalf("socket's connection is %T; want *net.TCPConn", tc)
	}
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
		t.Fatalf("getsockopt(%d, %d) = %v", level, opt, gerr)
	}
	return v
}

// test-net-keepalive: SetKeepAlive(true, 1000 ms) and SetTimeout(0): the
// keep-alive reaches the socket (SO_KEEPALIVE on, TCP_KEEPIDLE one second)
// and both ends stay open; and, on the fake clock, a socket idle for 1.2 s
// with the timeout disabled is still open with nothing emitted.
func TestNode_net_keepalive(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	cr.waitFor("connect", isKind[ConnectEvent])
	s := accept(t, conns)
	sr := record(t, s)
	if err := s.SetTimeout(0); err != nil {
		t.Errorf("server SetTimeout(0) = %v; want nil", err)
	}
	if err := s.SetKeepAlive(true, 1000*time.Millisecond); err != nil {
		t.Errorf("server SetKeepAlive(true, 1s) = %v; want nil", err)
	}
	if err := c.SetTimeout(0); err != nil {
		t.Errorf("client SetTimeout(0) = %v; want nil", err)
	}
	if got := nodeSockopt(t, s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got == 0 {
		t.Errorf("SO_KEEPALIVE after SetKeepAlive(true, 1s) = %d; want on", got)
	}
	if got := nodeSockopt(t, s, syscall.IPPROTO_TCP, tcpKeepIdle); got != 1 {
		t.Errorf("TCP_KEEPIDLE after SetKeepAlive(true, 1s) = %d; want 1", got)
	}
	if s.ReadyState() != StateOpen || c.ReadyState() != StateOpen {
		t.Errorf("ReadyState() server %v, client %v; want open, open", s.ReadyState(), c.ReadyState())
	}
	s.End()
	c.End()
	sr.wait()
	cr.wait()

	synctest.Test(t, func(t *testing.T) {
		s, _ := nodePipeSocket(t, false)
		r := record(t, s)
		s.SetTimeout(0)
		s.SetKeepAlive(true, time.Second)
		time.Sleep(1200 * time.Millisecond)
		synctest.Wait()
		if got := s.ReadyState(); got != StateOpen {
			t.Errorf("ReadyState() after 1.2 s idle = %v; want open", got)
		}
		if evs := r.events(); len(evs) != 0 {
			t.Errorf("events after 1.2 s idle with the timeout disabled = %q; want none", names(evs))
		}
	})
}

// test-net-large-string: 40960 'あ' written with the encoding "UTF-8" are
// received, with setEncoding("UTF-8"), as 40960 characters.
func TestNode_net_large_string(t *testing.T) {
	const n = 40 * 1024
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	if _, err := c.SendString(strings.Repeat("あ", n), "UTF-8", nil); err != nil {
		t.Fatalf("SendString(40960 'あ', UTF-8) = %v; want nil", err)
	}
	c.End()
	s := accept(t, conns)
	if err := s.SetEncoding("UTF-8"); err != nil {
		t.Fatalf("SetEncoding(UTF-8) = %v; want nil", err)
	}
	received := 0
	nodeLoop(t, s, func(ev Event) {
		switch ev := ev.(type) {
		case DataEvent:
			if !utf8.ValidString(ev.Text) || strings.ContainsRune(ev.Text, utf8.RuneError) {
				t.Errorf("a DataEvent holds a broken character: %q...", ev.Text[:min(len(ev.Text), 12)])
			}
			received += utf8.RuneCountInString(ev.Text)
		case EndEvent:
			s.End()
		}
	})
	if received != n {
		t.Errorf("received %d characters; want %d", received, n)
	}
	cr.wait()
}

// test-net-listen-error: listening on an address that is not local fails
// (EADDRNOTAVAIL, or EACCES for port 1 without privileges) with an error
// and no 'listening'.
func TestNode_net_listen_error(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	ch := srv.Events()
	err := srv.Listen(1, "1.1.1.1", 0)
	if err == nil {
		srv.Close()
		t.Fatal("Listen(1, 1.1.1.1, 0) = nil; want an error")
	}
	if ne := nodeSysErr(t, "Listen(1, 1.1.1.1, 0)", err); ne.Code != "EADDRNOTAVAIL" && ne.Code != "EACCES" {
		t.Errorf("Listen(1, 1.1.1.1, 0): Code = %q; want EADDRNOTAVAIL or EACCES", ne.Code)
	}
	if ev := nodeNextServerEvent(t, ch); !isKind[ErrorEvent](ev) {
		t.Errorf("first server event = %s; want the error", names([]Event{ev}))
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatal(err)
	}
	if got, want := names(nodeListenedThenDrain(t, srv, ch)), "close(false)"; got != want {
		t.Errorf("server events after the error and the second Listen's listening = %q; want %q", got, want)
	}
}

// test-net-listen-fd0: listening on descriptor 0, which is not a socket,
// is an error (an ErrorEvent and a returned error), not a crash. Node's
// code is EINVAL; Go's FileListener reports ENOTSOCK.
func TestNode_net_listen_fd0(t *testing.T) {
	fd := 0
	if nodeFD0IsSocket(t) {
		f, err := os.Open(os.DevNull) // fd 0 is a socket or closed here: use /dev/null
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fd = int(f.Fd())
	}
	srv := createServer(t, ServerOptions{}, nil)
	ch := srv.Events()
	err := srv.ListenHandle(fd)
	if err == nil {
		srv.Close()
		t.Fatalf("ListenHandle(%d) of a descriptor that is not a socket = nil; want an error", fd)
	}
	ne := nodeSysErr(t, fmt.Sprintf("ListenHandle(%d)", fd), err)
	if (ne.Code != "EINVAL" && ne.Code != "ENOTSOCK") || ne.Syscall != "listen" {
		t.Errorf("ListenHandle(%d) = {Code %q, Syscall %q}; want {EINVAL or ENOTSOCK, listen}", fd, ne.Code, ne.Syscall)
	}
	if ev := nodeNextServerEvent(t, ch); !isKind[ErrorEvent](ev) {
		t.Errorf("first server event = %s; want the error", names([]Event{ev}))
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatal(err)
	}
	if got, want := names(nodeListenedThenDrain(t, srv, ch)), "close(false)"; got != want {
		t.Errorf("server events after the error and the second Listen's listening = %q; want %q", got, want)
	}
}

// test-net-local-address-port: the server side of a connection has
// LocalAddress 127.0.0.1 and LocalPort the server's port.
func TestNode_net_local_address_port(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	s := accept(t, conns)
	sr := record(t, s)
	if got := s.LocalAddress(); got != "127.0.0.1" {
		t.Errorf("server socket LocalAddress() = %q; want 127.0.0.1", got)
	}
	if got := s.LocalPort(); got != port {
		t.Errorf("server socket LocalPort() = %d; want %d", got, port)
	}
	cr.waitFor("connect", isKind[ConnectEvent])
	c.End()
	sr.wait()
	cr.wait()
}

// test-net-pause-resume-connecting: five clients call Pause and Resume
// before connecting, in different orders; only those whose last call was
// Resume get data, and subscribing to events does not undo a Pause. The
// paused ones lose nothing: after Resume their data comes.
func TestNode_net_pause_resume_connecting(t *testing.T) {
	const msg = "This was the year he fell to pieces."
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) { s.EndString(msg, "") })
	clients := []struct {
		ops      string
		wantData bool
	}{
		{"resume", true},
		{"pause resume", true},
		{"pause", false},
		{"resume pause resume", true},
		{"resume resume pause", false},
	}
	socks := make([]*Socket, len(clients))
	recs := make([]*recorder, len(clients))
	for i, cl := range clients {
		c, err := ConnectTCP(port, "localhost")
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range strings.Fields(cl.ops) {
			if op == "pause" {
				c.Pause()
			} else {
				c.Resume()
			}
		}
		socks[i], recs[i] = c, record(t, c)
	}
	for i, cl := range clients {
		if !cl.wantData {
			continue
		}
		evs := recs[i].wait()
		if got, want := names(evs), "connect data end close(false)"; got != want {
			t.Errorf("client %d (%s): events = %q; want %q", i+1, cl.ops, got, want)
		}
		if got := string(dataOf(evs)); got != msg {
			t.Errorf("client %d (%s): data %q; want %q", i+1, cl.ops, got, msg)
		}
	}
	for i, cl := range clients {
		if cl.wantData {
			continue
		}
		c := socks[i]
		waitUntil(t, "the paused client's data read", func() bool { return c.BytesRead() == int64(len(msg)) })
		if got := names(recs[i].events()); got != "connect" {
			t.Errorf("client %d (%s): events while paused = %q; want %q", i+1, cl.ops, got, "connect")
		}
		if !c.IsPaused() {
			t.Errorf("client %d (%s): IsPaused() = false; want true", i+1, cl.ops)
		}
		c.Resume()
		evs := recs[i].wait()
		if got, want := names(evs), "connect data end close(false)"; got != want {
			t.Errorf("client %d (%s): events after Resume = %q; want %q", i+1, cl.ops, got, want)
		}
		if got := string(dataOf(evs)); got != msg {
			t.Errorf("client %d (%s): data after Resume %q; want %q", i+1, cl.ops, got, msg)
		}
	}
}

// nodePingTransport is one of the transports the ping-pong tests run on.
type nodePingTransport struct {
	name   string
	listen func(t *testing.T, srv *Server) error
	dial   func(srv *Server) (*Socket, error)
	remote string // the server socket's RemoteAddress; "" for a Unix socket
}

func nodePingTCP(host string) nodePingTransport {
	remote := host
	if host == "" || host == "localhost" {
		remote = "127.0.0.1"
	}
	return nodePingTransport{
		name: fmt.Sprintf("tcp %q", host),
		listen: func(t *testing.T, srv *Server) error {
			if err := srv.Listen(0, host, 0); err != nil {
				if host == "::1" {
					t.Skipf("no IPv6 loopback here: Listen(0, ::1, 0) = %v", err)
				}
				return err
			}
			return nil
		},
		dial:   func(srv *Server) (*Socket, error) { return ConnectTCP(srv.Address().Port, host) },
		remote: remote,
	}
}

func nodePingUnix() nodePingTransport {
	var path string
	return nodePingTransport{
		name: "unix",
		listen: func(t *testing.T, srv *Server) error {
			path = sockPath(t)
			return srv.ListenUnix(path)
		},
		dial: func(*Server) (*Socket, error) { return ConnectUnix(path) },
	}
}

// nodePingPong runs n+1 PING/PONG round trips, as test-net-pingpong (with
// delay 0) and pummel/test-net-pingpong-delay (delay before every write)
// do, with their assertions: the server (AllowHalfOpen) is the socket's
// Server, has one connection, keeps BufferSize within one message, is
// open while exchanging, writeOnly at its end, closed at its close; the
// client is open until its final PING, then readOnly; n+1 PONGs arrive
// and their write callbacks run; no timeout, no error.
func nodePingPong(t *testing.T, tr nodePingTransport, n int, delay time.Duration) {
	var errs nodeErrs
	var sentPongs atomic.Int64
	var accepted atomic.Int32
	serverDone := make(chan struct{})
	var srv *Server
	srv = createServer(t, ServerOptions{AllowHalfOpen: true}, nodeTracked(t, func(s *Socket) {
		if accepted.Add(1) != 1 {
			errs.add("a second connection")
			s.Destroy()
			return
		}
		defer close(serverDone)
		if s.Server() != srv {
			errs.add("server socket's Server() = %p; want the server %p", s.Server(), srv)
		}
		if got := srv.Connections(); got != 1 {
			errs.add("Connections() in the handler = %d; want 1", got)
		}
		if tr.remote != "" && s.RemoteAddress() != tr.remote {
			errs.add("server socket RemoteAddress() = %q; want %q", s.RemoteAddress(), tr.remote)
		}
		s.SetNoDelay(true)
		s.SetEncoding("utf8")
		pings := 0
		for ev := range s.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				if bs := s.BufferSize(); bs < 0 || bs > 4 {
					errs.add("server BufferSize() at data = %d; want 0..4", bs)
				}
				if rs := s.ReadyState(); rs != StateOpen {
					errs.add("server ReadyState() at data = %v; want open", rs)
				}
				if pings++; pings > n+1 {
					errs.add("server got %d PINGs; want at most %d", pings, n+1)
				}
				if delay > 0 && ev.Text != "PING" {
					errs.add("server got %q; want PING", ev.Text)
				}
				if !strings.Contains(ev.Text, "PING") {
					continue
				}
				pong := func() {
					s.SendString("PONG", "", func(err error) {
						if err == nil {
							sentPongs.Add(1)
						}
					})
				}
				if delay == 0 {
					pong()
					continue
				}
				time.AfterFunc(delay, func() {
					if rs := s.ReadyState(); rs != StateOpen {
						errs.add("server ReadyState() before a delayed PONG = %v; want open", rs)
					}
					pong()
				})
			case EndEvent:
				if rs := s.ReadyState(); rs != StateWriteOnly {
					errs.add("server ReadyState() at end = %v; want writeOnly", rs)
				}
				s.End()
			case CloseEvent:
				if ev.HadError {
					errs.add("server socket close(true); want close(false)")
				}
				if rs := s.ReadyState(); rs != StateClosed {
					errs.add("server ReadyState() at close = %v; want closed", rs)
				}
			default:
				errs.add("server socket event %s", names([]Event{ev}))
			}
		}
	}))
	if err := tr.listen(t, srv); err != nil {
		t.Fatalf("%s: listen = %v; want nil", tr.name, err)
	}
	t.Cleanup(func() { srv.Close() })

	c, err := tr.dial(srv)
	if err != nil {
		t.Fatalf("%s: connect = %v; want nil", tr.name, err)
	}
	c.SetEncoding("utf8")
	var mu sync.Mutex // pongs and sentFinal, shared with the delay timers
	pongs, sentFinal := 0, false
	final := func() {
		mu.Lock()
		sentFinal = true
		mu.Unlock()
	}
	evs := nodeLoop(t, c, func(ev Event) {
		switch ev := ev.(type) {
		case ConnectEvent:
			if rs := c.ReadyState(); rs != StateOpen {
				t.Errorf("client ReadyState() at connect = %v; want open", rs)
			}
			c.SendString("PING", "", nil)
		case DataEvent:
			if ev.Text != "PONG" {
				t.Errorf("client got %q; want PONG", ev.Text)
			}
			rs := c.ReadyState()
			mu.Lock()
			pongs++
			p, ended := pongs, sentFinal
			mu.Unlock()
			if ended {
				if rs != StateReadOnly {
					t.Errorf("client ReadyState() after its final PING = %v; want readOnly", rs)
				}
				return
			}
			if rs != StateOpen {
				t.Errorf("client ReadyState() at PONG %d = %v; want open", p, rs)
			}
			if delay == 0 { // test-net-pingpong: the final PING goes with the end
				if p == n {
					final()
					c.SendString("PING", "", nil)
					c.End()
				} else {
					c.SendString("PING", "", nil)
				}
				return
			}
			time.AfterFunc(delay, func() { // pingpong-delay: after n+1 PONGs, end
				if rs := c.ReadyState(); rs != StateOpen {
					errs.add("client ReadyState() before a delayed write = %v; want open", rs)
				}
				if p <= n {
					c.SendString("PING", "", nil)
				} else {
					final()
					c.End()
				}
			})
		case EndEvent:
		case CloseEvent:
			if ev.HadError {
				t.Error("client close(true); want close(false)")
			}
		default:
			t.Errorf("client event %s", names([]Event{ev}))
		}
	})
	mu.Lock()
	if pongs != n+1 {
		t.Errorf("%s: client got %d PONGs; want %d", tr.name, pongs, n+1)
	}
	if !sentFinal {
		t.Errorf("%s: the client never ended", tr.name)
	}
	mu.Unlock()
	if len(evs) == 0 || !isKind[CloseEvent](evs[len(evs)-1]) {
		t.Errorf("%s: client events do not end with a close", tr.name)
	}
	select {
	case <-serverDone:
	case <-time.After(testTimeout):
		t.Fatalf("%s: the server socket did not close", tr.name)
	}
	if got := sentPongs.Load(); got != int64(n+1) {
		t.Errorf("%s: %d PONG write callbacks; want %d", tr.name, got, n+1)
	}
	errs.report(t)
}

// test-net-pingpong: 1000 PING/PONG round trips over a Unix socket, TCP
// (listening on every IPv4 address), "localhost" and "::1".
func TestNode_net_pingpong(t *testing.T) {
	for _, tr := range []nodePingTransport{nodePingUnix(), nodePingTCP(""), nodePingTCP("localhost"), nodePingTCP("::1")} {
		t.Run(tr.name, func(t *testing.T) { nodePingPong(t, tr, 1000, 0) })
	}
}

// test-net-pipe-connect-errors: a Unix connect to a regular file gives
// ENOTSOCK or ECONNREFUSED, to a missing path ENOENT, and to a socket
// without permission EACCES (that part needs a user other than root, as in
// Node).
func TestNode_net_pipe_connect_errors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(path string, codes ...string) {
		t.Helper()
		c, err := ConnectUnix(path)
		if err != nil {
			t.Fatalf("ConnectUnix(%q) = %v; want nil", path, err)
		}
		evs := record(t, c).wait()
		ne := nodeSysErr(t, fmt.Sprintf("the ErrorEvent of ConnectUnix(%q)", path), nodeFirstError(evs))
		if !slices.Contains(codes, ne.Code) || ne.Syscall != "connect" {
			t.Errorf("ConnectUnix(%q) error = {Code %q, Syscall %q}; want Code in %v, Syscall connect", path, ne.Code, ne.Syscall, codes)
		}
		if got := names(evs); !strings.HasSuffix(got, "close(true)") || count[ConnectEvent](evs) != 0 {
			t.Errorf("ConnectUnix(%q) events = %q; want an error and close(true), no connect", path, got)
		}
	}
	check(empty, "ENOTSOCK", "ECONNREFUSED")
	check(filepath.Join(dir, "no-ent-file"), "ENOENT")

	if os.Getuid() == 0 {
		t.Log("running as root: the EACCES part is left out, as in Node")
		return
	}
	path := sockPath(t)
	srv := createServer(t, ServerOptions{}, nil)
	if err := srv.ListenUnix(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	check(path, "EACCES")
}

// test-net-reconnect: the same client reconnects 50 times from its close;
// every connection gets "hello\r\n"; no close, on either side, has an
// error.
func TestNode_net_reconnect(t *testing.T) {
	const n = 50
	serverCloses := make(chan bool, n+1)
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) {
		s.SendString("hello\r\n", "", nil)
		for ev := range s.Events() {
			switch ev := ev.(type) {
			case EndEvent:
				s.End()
			case CloseEvent:
				serverCloses <- ev.HadError
			}
		}
	})
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetEncoding("UTF8"); err != nil {
		t.Fatal(err)
	}
	recvCount, disconnects := 0, 0
	for {
		nodeLoop(t, c, func(ev Event) {
			switch ev := ev.(type) {
			case DataEvent:
				recvCount++
				if ev.Text != "hello\r\n" {
					t.Errorf("connection %d: data %q; want %q", disconnects+1, ev.Text, "hello\r\n")
				}
				c.End()
			case CloseEvent:
				if ev.HadError {
					t.Errorf("connection %d: client close(true); want close(false)", disconnects+1)
				}
			}
		})
		if disconnects++; disconnects > n {
			break
		}
		if err := c.Connect(ConnectOptions{Port: port}); err != nil {
			t.Fatalf("reconnect %d: Connect = %v; want nil", disconnects, err)
		}
	}
	if disconnects != n+1 || recvCount != n+1 {
		t.Errorf("disconnects %d, data events %d; want %d and %d", disconnects, recvCount, n+1, n+1)
	}
	for i := 0; i < n+1; i++ {
		select {
		case hadError := <-serverCloses:
			if hadError {
				t.Error("a server socket closed with close(true); want close(false)")
			}
		case <-time.After(testTimeout):
			t.Fatalf("only %d server sockets closed; want %d", i, n+1)
		}
	}
}

// test-net-remote-address-port: the server sees the client at 127.0.0.1
// on a port that is not the server's; the clients, one connecting to
// "localhost" and one with no host, see the server at 127.0.0.1 on its
// port.
func TestNode_net_remote_address_port(t *testing.T) {
	var errs nodeErrs
	var port int
	srv := createServer(t, ServerOptions{}, nodeTracked(t, func(s *Socket) {
		if got := s.RemoteAddress(); got != "127.0.0.1" {
			errs.add("server socket RemoteAddress() = %q; want 127.0.0.1", got)
		}
		if got := s.RemotePort(); got == 0 || got == port {
			errs.add("server socket RemotePort() = %d; want a client port, not 0 or %d", got, port)
		}
	}))
	if err := srv.Listen(0, "localhost", 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	port = srv.Address().Port
	for _, host := range []string{"localhost", ""} {
		c, err := ConnectTCP(port, host)
		if err != nil {
			t.Fatal(err)
		}
		r := record(t, c)
		r.waitFor("connect", isKind[ConnectEvent])
		if got := c.RemoteAddress(); got != "127.0.0.1" {
			t.Errorf("host %q: client RemoteAddress() = %q; want 127.0.0.1", host, got)
		}
		if got := c.RemotePort(); got != port {
			t.Errorf("host %q: client RemotePort() = %d; want %d", host, got, port)
		}
		c.End()
		r.wait()
	}
	srv.Shutdown(ctxTimeout(t))
	errs.report(t)
}

// test-net-server-address: Address of a server on 127.0.0.1 and on ::1 is
// the address, the port given, and the family IPv4 or IPv6.
func TestNode_net_server_address(t *testing.T) {
	for _, tt := range []struct{ host, family string }{{"127.0.0.1", "IPv4"}, {"::1", "IPv6"}} {
		t.Run(tt.host, func(t *testing.T) {
			port := nodeFreePort(t, tt.host)
			srv := createServer(t, ServerOptions{}, nil)
			if err := srv.Listen(port, tt.host, 0); err != nil {
				t.Fatalf("Listen(%d, %s, 0) = %v; want nil", port, tt.host, err)
			}
			defer srv.Close()
			if got, want := srv.Address(), (Addr{Address: tt.host, Family: tt.family, Port: port}); got != want {
				t.Errorf("Address() = %+v; want %+v", got, want)
			}
		})
	}
}

// test-net-server-bind: with no port the system picks one (above 100);
// Listen on a port reports that port, with or without a host, a backlog,
// or a waited-for ListeningEvent.
func TestNode_net_server_bind(t *testing.T) {
	server0 := createServer(t, ServerOptions{}, nil)
	ch0 := server0.Events()
	if err := server0.Listen(0, "", 0); err != nil {
		t.Fatal(err)
	}
	if ev := nodeNextServerEvent(t, ch0); !isKind[ListeningEvent](ev) {
		t.Errorf("first event = %s; want listening", names([]Event{ev}))
	}
	if got := server0.Address().Port; got <= 100 {
		t.Errorf("Address().Port with port 0 = %d; want > 100", got)
	}
	nodeDrainServer(t, server0, ch0)

	tests := []struct {
		give    string
		host    string
		backlog int
	}{
		{give: "listen(PORT)"},
		{give: "listen(PORT, cb)"},
		{give: "listen(PORT, '0.0.0.0', 127, cb)", host: "0.0.0.0", backlog: 127},
		{give: "listen(PORT, 127, cb)", backlog: 127},
	}
	for _, tt := range tests {
		port := nodeFreePort(t, "0.0.0.0")
		srv := createServer(t, ServerOptions{}, nil)
		ch := srv.Events()
		if err := srv.Listen(port, tt.host, tt.backlog); err != nil {
			t.Errorf("%s: Listen(%d, %q, %d) = %v; want nil", tt.give, port, tt.host, tt.backlog, err)
			continue
		}
		if ev := nodeNextServerEvent(t, ch); !isKind[ListeningEvent](ev) {
			t.Errorf("%s: first event = %s; want listening", tt.give, names([]Event{ev}))
		}
		if got := srv.Address().Port; got != port {
			t.Errorf("%s: Address().Port = %d; want %d", tt.give, got, port)
		}
		nodeDrainServer(t, srv, ch)
	}
}

// test-net-server-close: the server is closed at its second connection and
// both connections are destroyed: one server close, two socket closes,
// and no connection left.
func TestNode_net_server_close(t *testing.T) {
	socketCloses := make(chan CloseEvent, 2)
	var mu sync.Mutex
	var sockets []*Socket
	var srv *Server
	srv = createServer(t, ServerOptions{}, nodeTracked(t, func(s *Socket) {
		evs := s.Events()
		go func() {
			for ev := range evs {
				if ce, ok := ev.(CloseEvent); ok {
					socketCloses <- ce
				}
			}
		}()
		mu.Lock()
		sockets = append(sockets, s)
		both := slices.Clone(sockets)
		mu.Unlock()
		if len(both) == 2 {
			srv.Close()
			for _, c := range both {
				c.Destroy()
			}
		}
	}))
	w := nodeWatch(t, srv)
	port := listenTCP(t, srv)
	for i := 0; i < 2; i++ {
		c, err := ConnectTCP(port, "")
		if err != nil {
			t.Fatal(err)
		}
		record(t, c)
	}
	for i := 0; i < 2; i++ {
		select {
		case ce := <-socketCloses:
			if ce.HadError {
				t.Errorf("a destroyed server socket: close(true); want close(false)")
			}
		case <-time.After(testTimeout):
			t.Fatalf("%d server socket closes; want 2", i)
		}
	}
	evs := w.wait(t)
	if got := count[CloseEvent](evs); got != 1 {
		t.Errorf("%d server CloseEvents; want 1 (events %q)", got, names(evs))
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() = %d; want 0", got)
	}
}

// test-net-server-listen-remove-callback: a server that listens, closes,
// and listens again gets one 'listening' per listen, none left over.
func TestNode_net_server_listen_remove_callback(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	for round := 1; round <= 2; round++ {
		// A server that listens again after its CloseEvent has a new event
		// channel: subscribe after Listen.
		if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
			t.Fatalf("round %d: Listen = %v; want nil", round, err)
		}
		ch := srv.Events()
		if ev := nodeNextServerEvent(t, ch); !isKind[ListeningEvent](ev) {
			t.Fatalf("round %d: first event = %s; want listening", round, names([]Event{ev}))
		}
		if got, want := names(nodeDrainServer(t, srv, ch)), "close(false)"; got != want {
			t.Errorf("round %d: events after the listening = %q; want %q", round, got, want)
		}
	}
}

// test-net-server-max-connections: with MaxConnections 100 and 200 clients
// connecting one after the other, the first 100 get data and the other 100
// close without any, before any of the first 100 closes.
func TestNode_net_server_max_connections(t *testing.T) {
	const n = 200
	var mu sync.Mutex
	var waits []*Socket
	srv := createServer(t, ServerOptions{}, nodeTracked(t, func(s *Socket) {
		s.SendString("hello", "", nil)
		mu.Lock()
		waits = append(waits, s)
		mu.Unlock()
	}))
	if err := srv.SetMaxConnections(n / 2); err != nil {
		t.Fatal(err)
	}
	port := listenTCP(t, srv)

	type result struct {
		index int
		evs   []Event
	}
	closed := make(chan result, n)
	for i := 0; i < n; i++ {
		c, err := ConnectTCP(port, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Destroy)
		connected := make(chan bool, 1)
		ch := c.Events()
		go func(i int) {
			var evs []Event
			for ev := range ch {
				evs = append(evs, ev)
				if isKind[ConnectEvent](ev) {
					connected <- true
				}
			}
			connected <- false
			closed <- result{i, evs}
		}(i)
		select {
		case ok := <-connected:
			if !ok {
				t.Fatalf("client %d closed without connecting", i)
			}
		case <-time.After(testTimeout):
			t.Fatalf("client %d did not connect", i)
		}
	}
	check := func(r result) {
		t.Helper()
		gotData := count[DataEvent](r.evs) > 0
		if wantData := r.index < n/2; gotData != wantData {
			t.Errorf("client %d: got data %v; want %v (events %q)", r.index, gotData, wantData, names(r.evs))
		}
	}
	for i := 0; i < n/2; i++ {
		select {
		case r := <-closed:
			if r.index < n/2 {
				t.Errorf("client %d was among the first %d to close; want only rejected clients (>= %d)", r.index, n/2, n/2)
			}
			check(r)
		case <-time.After(testTimeout):
			t.Fatalf("%d clients closed; want %d rejected ones", i, n/2)
		}
	}
	if got := srv.Connections(); got != n/2 {
		t.Errorf("Connections() = %d; want %d", got, n/2)
	}
	mu.Lock()
	for _, s := range waits {
		s.End()
	}
	mu.Unlock()
	for i := 0; i < n/2; i++ {
		select {
		case r := <-closed:
			check(r)
		case <-time.After(testTimeout):
			t.Fatalf("%d of the accepted clients closed; want %d", i, n/2)
		}
	}
}

// test-net-server-try-ports: a listen on a busy port gives exactly one
// error, and the same server then listens on another port.
func TestNode_net_server_try_ports(t *testing.T) {
	server1 := createServer(t, ServerOptions{}, nil)
	port := listenTCP(t, server1)
	server2 := createServer(t, ServerOptions{}, nil)
	ch := server2.Events()
	if err := server2.Listen(port, "127.0.0.1", 0); err == nil {
		t.Fatal("Listen on a busy port = nil; want EADDRINUSE")
	}
	if err := server2.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen on another port = %v; want nil", err)
	}
	if got := server2.Address().Port; got == port || got == 0 {
		t.Errorf("server2 Address().Port = %d; want a port other than %d", got, port)
	}
	if ev := nodeNextServerEvent(t, ch); !isKind[ErrorEvent](ev) {
		t.Errorf("first server2 event = %s; want the error", names([]Event{ev}))
	}
	if got, want := names(nodeListenedThenDrain(t, server2, ch)), "close(false)"; got != want {
		t.Errorf("server2 events after error and listening = %q; want %q (exactly one error)", got, want)
	}
}

// test-net-settimeout: SetTimeout(100 ms) then SetTimeout(0) disables the
// timeout; a value that is refused (Node ignores Infinity and NaN, which
// have no Duration; nodenet refuses negative values) leaves it in force, so
// it fires within 200 ms. On the fake clock.
func TestNode_net_settimeout(t *testing.T) {
	const T = 100 * time.Millisecond
	for _, tt := range []struct {
		name   string
		killer time.Duration
		fires  bool
	}{
		{"0", 0, false},
		{"-1ns", -1, true},
		{"-100ms", -T, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := nodePipeSocket(t, false)
				r := record(t, s)
				go peer.Write([]byte("hello"))
				r.waitData(5)
				if err := s.SetTimeout(T); err != nil {
					t.Fatal(err)
				}
				err := s.SetTimeout(tt.killer)
				if tt.killer < 0 && !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("SetTimeout(%v) = %v; want an error wrapping %v", tt.killer, err, ErrInvalidArgument)
				}
				if tt.killer == 0 && err != nil {
					t.Errorf("SetTimeout(0) = %v; want nil", err)
				}
				time.Sleep(2 * T)
				synctest.Wait()
				got := count[TimeoutEvent](r.events())
				if want := map[bool]int{true: 1, false: 0}[tt.fires]; got != want {
					t.Errorf("SetTimeout(%v), SetTimeout(%v): %d TimeoutEvents in %v; want %d", T, tt.killer, got, 2*T, want)
				}
			})
		})
	}
}

// test-net-socket-destroy-twice: Destroy inside the error handler of a
// refused connect: one error, one close.
func TestNode_net_socket_destroy_twice(t *testing.T) {
	c, err := ConnectTCP(nodeRefusedPort(t), "")
	if err != nil {
		t.Fatal(err)
	}
	evs := nodeLoop(t, c, func(ev Event) {
		if isKind[ErrorEvent](ev) {
			c.Destroy()
		}
	})
	if e, cl := count[ErrorEvent](evs), count[CloseEvent](evs); e != 1 || cl != 1 {
		t.Errorf("%d ErrorEvents and %d CloseEvents; want 1 and 1 (events %q)", e, cl, names(evs))
	}
}

// test-net-socket-timeout: an idle connected client with SetTimeout(100 ms)
// gets its TimeoutEvent. Node allows 200 ms; here the lower bound is exact
// and the upper one is loose, for a loaded machine.
func TestNode_net_socket_timeout(t *testing.T) {
	_, port := nodeServer(t, ServerOptions{}, nil)
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	r.waitFor("connect", isKind[ConnectEvent])
	start := time.Now()
	if err := c.SetTimeout(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.waitFor("timeout", isKind[TimeoutEvent])
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("TimeoutEvent after %v; want 100ms..2s", elapsed)
	}
	if got := c.ReadyState(); got != StateOpen {
		t.Errorf("ReadyState() after the timeout = %v; want open", got)
	}
	c.Destroy()
	if got, want := names(r.wait()), "connect timeout close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// test-net-stream: destroying a server's socket takes Connections() down
// exactly once, also when Destroy is called again, or from the handler of
// the error that already destroyed it.
func TestNode_net_stream(t *testing.T) {
	srv, port, conns := newServer(t, ServerOptions{})
	raws := make([]*net.TCPConn, 3)
	socks := make([]*Socket, 3)
	for i := range raws {
		raws[i] = dialRaw(t, port)
		socks[i] = accept(t, conns)
	}
	if got := srv.Connections(); got != 3 {
		t.Fatalf("Connections() = %d; want 3", got)
	}
	socks[0].Destroy()
	if got := srv.Connections(); got != 2 {
		t.Errorf("Connections() after Destroy = %d; want 2", got)
	}
	socks[0].Destroy()
	socks[0].DestroyWithError(errors.New("late"))
	if got := srv.Connections(); got != 2 {
		t.Errorf("Connections() after a second Destroy = %d; want 2", got)
	}
	// A reset destroys socks[1] with an error; its handler destroys again.
	raws[1].SetLinger(0)
	raws[1].Close()
	evs := nodeLoop(t, socks[1], func(ev Event) {
		if isKind[ErrorEvent](ev) {
			socks[1].Destroy()
		}
	})
	if got := names(evs); got != "error(read ECONNRESET) close(true)" {
		t.Errorf("events of the reset socket = %q; want %q", got, "error(read ECONNRESET) close(true)")
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() after a reset and a Destroy in its error handler = %d; want 1", got)
	}
}

// test-net-write-after-close: the client ends; a write of the server after
// that fails with EPIPE "This socket has been ended by the other party",
// returned and emitted. (Node also calls the write's callback with the
// error; nodenet returns it from Send and does not call the callback.)
func TestNode_net_write_after_close(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	cr.waitFor("connect", isKind[ConnectEvent])
	c.End()
	s := accept(t, conns)
	var sendErr error
	called := false
	evs := nodeLoop(t, s, func(ev Event) {
		if isKind[EndEvent](ev) {
			_, sendErr = s.SendString("test", "", func(error) { called = true })
		}
	})
	ne := nodeSysErr(t, "SendString after the peer's end", sendErr)
	if ne.Code != "EPIPE" || ne.Error() != "This socket has been ended by the other party" {
		t.Errorf("SendString after the peer's end = {Code %q, %q}; want {EPIPE, %q}", ne.Code, ne.Error(), "This socket has been ended by the other party")
	}
	if got, want := names(evs), "end error(This socket has been ended by the other party) close(false)"; got != want {
		t.Errorf("server socket events = %q; want %q", got, want)
	}
	if called {
		t.Error("the callback of the refused write was called; nodenet documents it is not")
	}
	cr.wait()
}

// test-net-write-connect-write: 'before' written while connecting and
// 'after' written at the ConnectEvent come back from an echo server in that
// order.
func TestNode_net_write_connect_write(t *testing.T) {
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) { s.Pipe(s) })
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	c.SetEncoding("utf8")
	c.SendString("before", "", nil)
	var received strings.Builder
	nodeLoop(t, c, func(ev Event) {
		switch ev := ev.(type) {
		case ConnectEvent:
			c.SendString("after", "", nil)
		case DataEvent:
			received.WriteString(ev.Text)
			c.End()
		}
	})
	if got, want := received.String(), "beforeafter"; got != want {
		t.Errorf("received %q; want %q", got, want)
	}
}

// test-net-write-slow: the server writes 10 × 200 KB and ends, with a
// 1 s idle timeout, to a client that pauses 20 ms after every chunk: the
// timeout never fires while the data flows, every write callback runs, and
// the client gets all 2 MB.
func TestNode_net_write_slow(t *testing.T) {
	const size, n = 200_000, 10
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	s := accept(t, conns)
	sr := record(t, s)
	s.SetNoDelay(true)
	s.SetTimeout(time.Second)
	var flushed atomic.Int32
	buf := bytes.Repeat([]byte("a"), size)
	for i := 0; i < n; i++ {
		s.Send(buf, func(err error) {
			if err == nil && flushed.Add(1) == n {
				s.SetTimeout(0)
			}
		})
	}
	s.End()
	received := 0
	var timers []*time.Timer
	nodeLoop(t, c, func(ev Event) {
		if d, ok := ev.(DataEvent); ok {
			received += len(d.Data)
			c.Pause()
			timers = append(timers, time.AfterFunc(20*time.Millisecond, c.Resume))
		}
	})
	for _, tm := range timers {
		tm.Stop()
	}
	if received != size*n {
		t.Errorf("client received %d bytes; want %d", received, size*n)
	}
	sevs := sr.wait()
	if got := count[TimeoutEvent](sevs); got != 0 {
		t.Errorf("server socket got %d TimeoutEvents while the data flowed (events %q); want 0", got, names(sevs))
	}
	if got := flushed.Load(); got != n {
		t.Errorf("%d write callbacks ran; want %d", got, n)
	}
}

// ---------------------------------------------------------------------------
// The related simple tests (CONFORMANCE.md §3.2).

// net-socket-readystate: closed (new), opening (after Connect), open (at
// the ConnectEvent), readOnly (after End), closed (at the CloseEvent).
func TestNode_net_socket_readystate(t *testing.T) {
	st := nodeStalled(t, ServerOptions{})
	sock, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sock.ReadyState(); got != StateClosed {
		t.Errorf("ReadyState() of a new socket = %v; want closed", got)
	}
	if err := sock.Connect(ConnectOptions{Port: st.port, Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if got := sock.ReadyState(); got != StateOpening {
		t.Errorf("ReadyState() after Connect = %v; want opening", got)
	}
	st.release(t)
	var atConnect, afterEnd, atClose ReadyState
	nodeLoop(t, sock, func(ev Event) {
		switch ev.(type) {
		case ConnectEvent:
			atConnect = sock.ReadyState()
			sock.End()
			afterEnd = sock.ReadyState()
		case CloseEvent:
			atClose = sock.ReadyState()
		}
	})
	if atConnect != StateOpen || afterEnd != StateReadOnly || atClose != StateClosed {
		t.Errorf("ReadyState() at connect, after End, at close = %v, %v, %v; want open, readOnly, closed", atConnect, afterEnd, atClose)
	}
}

// test-socket-write-after-fin: a server with AllowHalfOpen answers, in its
// EndEvent handler, with everything the client sent (written and ended
// while connecting); the client gets it all, then its end.
func TestNode_socket_write_after_fin(t *testing.T) {
	const want = "hello1hello2hello3\nTHUNDERMUSCLE!"
	serverData := make(chan string, 1)
	gotServerEnd := make(chan bool, 1)
	_, port := nodeServer(t, ServerOptions{AllowHalfOpen: true}, func(s *Socket) {
		s.SetEncoding("utf8")
		var data strings.Builder
		for ev := range s.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				data.WriteString(ev.Text)
			case EndEvent:
				gotServerEnd <- true
				s.EndString(data.String(), "")
				serverData <- data.String()
			}
		}
	})
	sock, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	sock.SetEncoding("utf8")
	sock.SendString("hello1", "", nil)
	sock.SendString("hello2", "", nil)
	sock.SendString("hello3\n", "", nil)
	sock.EndString("THUNDERMUSCLE!", "")
	evs := nodeLoop(t, sock, nil)
	if got := string(dataOf(evs)); got != want {
		t.Errorf("client got %q; want %q", got, want)
	}
	if got := names(evs); got != "connect data end close(false)" {
		t.Errorf("client events = %q; want %q", got, "connect data end close(false)")
	}
	select {
	case got := <-serverData:
		if got != want {
			t.Errorf("server got %q; want %q", got, want)
		}
	case <-time.After(testTimeout):
		t.Error("the server never got its end")
	}
	<-gotServerEnd
}

// test-socket-write-after-fin-error: without AllowHalfOpen, a write of the
// server in its EndEvent handler is an EPIPE error whose message is not
// "write after end"; the client gets no data, and its end.
func TestNode_socket_write_after_fin_error(t *testing.T) {
	type result struct {
		data    string
		sendErr error
		evs     []Event
	}
	results := make(chan result, 1)
	var srv *Server
	srv = createServer(t, ServerOptions{}, nodeTracked(t, func(s *Socket) {
		s.SetEncoding("utf8")
		var r result
		var data strings.Builder
		srv.Close()
		for ev := range s.Events() {
			r.evs = append(r.evs, ev)
			switch ev := ev.(type) {
			case DataEvent:
				data.WriteString(ev.Text)
			case EndEvent:
				_, r.sendErr = s.SendString(data.String(), "", nil)
				s.End()
			}
		}
		r.data = data.String()
		results <- r
	}))
	port := listenTCP(t, srv)
	sock, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
	sock.SetEncoding("utf8")
	sock.SendString("hello1", "", nil)
	sock.SendString("hello2", "", nil)
	sock.SendString("hello3\n", "", nil)
	sock.EndString("THUNDERMUSCLE!", "")
	cevs := nodeLoop(t, sock, nil)
	if got := dataOf(cevs); len(got) != 0 {
		t.Errorf("client got %q; want nothing", got)
	}
	if count[EndEvent](cevs) != 1 {
		t.Errorf("client events = %q; want an end", names(cevs))
	}
	var r result
	select {
	case r = <-results:
	case <-time.After(testTimeout):
		t.Fatal("the server socket did not close")
	}
	if want := "hello1hello2hello3\nTHUNDERMUSCLE!"; r.data != want {
		t.Errorf("server got %q; want %q", r.data, want)
	}
	ne := nodeSysErr(t, "server Send in its EndEvent handler", r.sendErr)
	if ne.Code != "EPIPE" || ne.Error() == "write after end" {
		t.Errorf("server Send in its EndEvent handler = {Code %q, %q}; want EPIPE, not 'write after end'", ne.Code, ne.Error())
	}
	evErr := nodeFirstError(r.evs)
	if evErr == nil || !errors.Is(evErr, syscall.EPIPE) {
		t.Errorf("server socket events = %q; want an EPIPE ErrorEvent", names(r.evs))
	}
}

// test-pipe-address: Address of a server listening on a Unix socket is its
// path.
func TestNode_pipe_address(t *testing.T) {
	path := sockPath(t)
	srv := createServer(t, ServerOptions{}, nil)
	ch := srv.Events()
	if err := srv.ListenUnix(path); err != nil {
		t.Fatal(err)
	}
	if ev := nodeNextServerEvent(t, ch); !isKind[ListeningEvent](ev) {
		t.Errorf("first event = %s; want listening", names([]Event{ev}))
	}
	if got := srv.Address(); got != (Addr{Address: path}) {
		t.Errorf("Address() = %+v; want {Address: %q}", got, path)
	}
	nodeDrainServer(t, srv, ch)
}

// nodeDecode feeds chunks to d and returns the output of each write.
func nodeDecode(t *testing.T, d decoder, chunks ...[]byte) []string {
	t.Helper()
	var out []string
	for _, c := range chunks {
		out = append(out, d.write(c))
	}
	return out
}

// nodeNewDecoder returns the decoder SetEncoding(enc) would use.
func nodeNewDecoder(t *testing.T, enc string) decoder {
	t.Helper()
	canon, err := normalizeEncoding(enc)
	if err != nil {
		t.Fatal(err)
	}
	return newDecoder(canon)
}

// test-string-decoder: the decoder behind SetEncoding. UTF-8 characters
// split across writes come out whole in the write that completes them;
// UCS-2 and UTF-16LE split code units and surrogate pairs likewise; the
// 10-byte mixed buffer split anywhere in three gives the same text and the
// right number of characters after the first part. (The CESU-8 cases are
// left out: CESU-8 is not an encoding of Node's net, and nodenet turns surrogates
// encoded in UTF-8 into U+FFFD.)
func TestNode_string_decoder(t *testing.T) {
	d := nodeNewDecoder(t, "utf8")
	if got := d.write([]byte("$")); got != "$" {
		t.Errorf("utf8 write($) = %q; want $", got)
	}
	for _, ch := range []string{"¢", "€"} {
		b := []byte(ch)
		var parts []string
		for i := range b {
			parts = append(parts, d.write(b[i:i+1]))
		}
		want := make([]string, len(b))
		want[len(b)-1] = ch
		if !slices.Equal(parts, want) {
			t.Errorf("utf8 %q byte by byte = %q; want %q", ch, parts, want)
		}
	}
	s := strings.Join(nodeDecode(t, d, []byte{0xF0}, []byte{0xA4}, []byte{0xAD}, []byte{0xA2}), "")
	if s != "\U00024B62" {
		t.Errorf("utf8 F0 A4 AD A2 byte by byte = %q; want %q", s, "\U00024B62")
	}

	d = nodeNewDecoder(t, "ucs2")
	if got := d.write([]byte("a\x00b\x00")); got != "ab" {
		t.Errorf("ucs2 write(ab) = %q; want ab", got)
	}
	abc := []byte("a\x00b\x00c\x00")
	if got := nodeDecode(t, d, abc[:3], abc[3:]); !slices.Equal(got, []string{"a", "bc"}) {
		t.Errorf("ucs2 abc split 3/3 = %q; want [a bc]", got)
	}
	thumbs := []byte{0x3D, 0xD8, 0x4D, 0xDC} // U+1F44D in UTF-16LE
	for _, split := range [][]int{{1, 1, 1, 1}, {2, 2}, {3, 1}, {4}} {
		var chunks [][]byte
		off := 0
		for _, n := range split {
			chunks = append(chunks, thumbs[off:off+n])
			off += n
		}
		out := nodeDecode(t, d, chunks...)
		if got := strings.Join(out[:len(out)-1], ""); got != "" {
			t.Errorf("utf16le %v: output before the last chunk %q; want none (lead surrogate held)", split, got)
		}
		if got := strings.Join(out, ""); got != "\U0001F44D" {
			t.Errorf("utf16le %v: %q; want %q", split, got, "\U0001F44D")
		}
	}

	buf := []byte{0xCB, 0xA4, 0x64, 0xE1, 0x8B, 0xA4, 0x30, 0xE3, 0x81, 0x85}
	const expected = "\u02e4\u0064\u12e4\u0030\u3045"
	charLengths := []int{0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5, 5}
	for j := 2; j < len(buf); j++ {
		for i := 1; i < j; i++ {
			d := nodeNewDecoder(t, "utf8")
			sum := d.write(buf[:i])
			if got := utf8.RuneCountInString(sum); got != charLengths[i] {
				t.Errorf("split %d/%d: first part gave %d characters; want %d", i, j, got, charLengths[i])
			}
			sum += d.write(buf[i:j]) + d.write(buf[j:])
			if sum != expected {
				t.Errorf("split %d/%d: %q; want %q", i, j, sum, expected)
			}
		}
	}
}

// nodeToString is Buffer#toString(enc) of Node v0.10 for the inputs of
// test-string-decoder-end.
func nodeToString(enc string, b []byte) string {
	switch enc {
	case "base64":
		return base64.StdEncoding.EncodeToString(b)
	case "hex":
		return hex.EncodeToString(b)
	case "utf8":
		var sb strings.Builder
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b) // one U+FFFD per invalid byte
			sb.WriteRune(r)
			b = b[n:]
		}
		return sb.String()
	}
	units := make([]uint16, len(b)/2) // utf16le, ucs2: an odd last byte is dropped
	for i := range units {
		units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(units))
}

// test-string-decoder-end: for base64, hex, utf8, utf16le and ucs2, bytes
// written one at a time plus end(), and the whole buffer plus end(), both
// give what toString gives.
func TestNode_string_decoder_end(t *testing.T) {
	bufs := [][]byte{[]byte("☃💩"), []byte("asdf")}
	for i := 1; i <= 16; i++ {
		var b []byte
		for j := 0; j < i; j++ {
			b = append(b, byte(j+0x78))
		}
		bufs = append(bufs, b)
	}
	for _, enc := range []string{"base64", "hex", "utf8", "utf16le", "ucs2"} {
		for _, buf := range bufs {
			want := nodeToString(enc, buf)
			d := nodeNewDecoder(t, enc)
			var res1 strings.Builder
			for i := range buf {
				res1.WriteString(d.write(buf[i : i+1]))
			}
			res1.WriteString(d.end())
			d = nodeNewDecoder(t, enc)
			res2 := d.write(buf) + d.end()
			if res1.String() != want {
				t.Errorf("%s % x one byte at a time = %q; want %q", enc, buf, res1.String(), want)
			}
			if res2 != want {
				t.Errorf("%s % x all at once = %q; want %q", enc, buf, res2, want)
			}
		}
	}
}

// test-stream2-set-encoding: 100 bytes 'a' read with an encoding set come
// out, joined, as the text of that encoding, and no chunk breaks an encoded
// unit (no mid-stream base64 padding, whole hex pairs). Node reads them
// with read(n) from a generic Readable; nodenet has no pull API, so the
// bytes come from a TCP peer in 10-byte writes, and chunk sizes are not
// compared.
func TestNode_stream2_set_encoding(t *testing.T) {
	a100 := strings.Repeat("a", 100)
	for _, tt := range []struct{ enc, want string }{
		{"utf8", a100},
		{"hex", strings.Repeat("61", 100)},
		{"base64", base64.StdEncoding.EncodeToString([]byte(a100))},
	} {
		t.Run(tt.enc, func(t *testing.T) {
			s, raw := rawPair(t, ConnectOptions{})
			if err := s.SetEncoding(tt.enc); err != nil {
				t.Fatal(err)
			}
			r := record(t, s)
			for i := 0; i < 10; i++ {
				raw.Write([]byte(a100[:10]))
			}
			raw.CloseWrite()
			evs := r.wait()
			var chunks []string
			for _, ev := range evs {
				if d, ok := ev.(DataEvent); ok {
					chunks = append(chunks, d.Text)
				}
			}
			if got := strings.Join(chunks, ""); got != tt.want {
				t.Errorf("joined text = %q; want %q", got, tt.want)
			}
			for i, c := range chunks {
				last := i == len(chunks)-1
				switch {
				case c == "":
					t.Errorf("chunk %d is empty", i)
				case tt.enc == "hex" && len(c)%2 != 0:
					t.Errorf("hex chunk %d = %q; want whole byte pairs", i, c)
				case tt.enc == "base64" && !last && (len(c)%4 != 0 || strings.Contains(c, "=")):
					t.Errorf("base64 chunk %d = %q; want whole groups, no padding mid-stream", i, c)
				}
			}
		})
	}
}
