// Ports of Node's tests (CONFORMANCE.md): connecting, addresses, refused and
// timed-out connects, readyState, keepalive.

package nodenet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// pummel/test-net-connect-econnrefused: rounds of concurrent connects to a
// closed port all fail with ECONNREFUSED, and nothing is left behind (no
// goroutine: Node checks for no active handle or request). Node's 5 rounds
// of 200.
func TestNode_pummel_net_connect_econnrefused(t *testing.T) {
	const rounds, attempts = 5, 200
	port := refusedPort(t)
	before := goleak.IgnoreCurrent()
	reqs := 0
	for round := 1; round <= rounds; round++ {
		codes := make(chan string, attempts)
		for i := 0; i < attempts; i++ {
			c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
			reqs++
			go func() {
				evs, err := nodeLoopErr(c, nil)
				if err != nil {
					codes <- err.Error()
					return
				}
				var ne *Error
				if e := nodeFirstError(evs); e == nil {
					codes <- "no error: " + names(evs)
				} else if !errors.As(e, &ne) {
					codes <- e.Error()
				} else {
					codes <- ne.Code
				}
			}()
		}
		for i := 0; i < attempts; i++ {
			if code := <-codes; code != "ECONNREFUSED" {
				t.Errorf("round %d: connect error %q; want ECONNREFUSED", round, code)
			}
		}
	}
	if reqs != rounds*attempts {
		t.Errorf("%d connects; want %d", reqs, rounds*attempts)
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left after %d refused connects: %v", reqs, err)
	}
}

// internet/test-net-connect-timeout: SetTimeout(100 ms) fires while the
// socket is still connecting, through an IP address and through a name.
// Node needs an unreachable address on the Internet; here the connect is
// held by a listener whose accept queue is full (the SYN is dropped), which
// a connect cannot get past either.
func TestNode_internet_net_connect_timeout(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			checkTimeoutWhileConnecting(t, host, nodeStalled(t, ServerOptions{}).port, 100*time.Millisecond)
		})
	}
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
	if got := c.ReadyState(); got != "opening" {
		t.Fatalf("ReadyState() after Connect = %v; want opening", got)
	}
	a := "L'État, c'est "
	cbState := make(chan string, 1)
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
	if got := c.ReadyState(); got != "opening" {
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
		if rs == "opening" {
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
	c := connectSocket(t, ConnectOptions{Port: refusedPort(t), Host: ""})
	evs := record(t, c).wait()
	if count[ConnectEvent](evs) != 0 {
		t.Errorf("events = %q; want no connect", names(evs))
	}
	err := nodeFirstError(evs)
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
	c := connectSocket(t, ConnectOptions{Host: "no.way.you.will.resolve.this.invalid", Port: refusedPort(t)})
	if err := c.End(); err != nil {
		t.Errorf("End() right after Connect = %v; want nil", err)
	}
	evs := record(t, c).wait()
	err := nodeFirstError(evs)
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
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	c := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: port, AllowHalfOpen: true})
	s := accept(t, conns)
	sr := record(t, s)
	s.End()
	var endState string
	cevs := nodeLoop(t, c, func(ev Event) {
		if isKind[EndEvent](ev) {
			endState = c.ReadyState()
			c.End()
		}
	})
	if endState != "writeOnly" {
		t.Errorf("client ReadyState() at its end = %v; want writeOnly (still writable)", endState)
	}
	if got, want := names(cevs), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
	if got, want := names(sr.wait()), "end close(false)"; got != want {
		t.Errorf("server socket events = %q; want %q", got, want)
	}
}

// test-net-create-connection: the call forms (port) and (port, host), by
// the package's Connect and by a new Socket's Connect, all connect.
// (Node's callback forms are the ConnectEvent.)
func TestNode_net_create_connection(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := createServer(t, ServerOptions{}, trackSockets(t, func(s *Socket) {
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
		{"Connect({Port})", func() (*Socket, error) { return Connect(ConnectOptions{Port: port}) }},
		{"Connect({Port, Host: localhost})", func() (*Socket, error) {
			return Connect(ConnectOptions{Port: port, Host: "localhost"})
		}},
		{"NewSocket().Connect({Port})", func() (*Socket, error) { return socketConnect(ConnectOptions{Port: port}) }},
		{"NewSocket().Connect({Port, Host: localhost})", func() (*Socket, error) {
			return socketConnect(ConnectOptions{Port: port, Host: "localhost"})
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
	c := connectSocket(t, ConnectOptions{Port: 42, Host: strings.Repeat("*", 256)}) // the failure is an event
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

// test-net-end-without-connect: End on a socket that never connected does
// not fail. (nodenet then closes it: a CloseEvent ends its channel, and a
// later write is 'write after end'.)
func TestNode_net_end_without_connect(t *testing.T) {
	t.Parallel()
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

// test-net-keepalive: SetKeepAlive(true, 1000 ms) and SetTimeout(0): the
// keep-alive reaches the socket (SO_KEEPALIVE on, TCP_KEEPIDLE one second)
// and both ends stay open; and, on the fake clock, a socket idle for 1.2 s
// with the timeout disabled is still open with nothing emitted.
func TestNode_net_keepalive(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	cr := recordConnected(t, c)
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
	if got := getsockopt(t, tcpConnOf(t, s), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got == 0 {
		t.Errorf("SO_KEEPALIVE after SetKeepAlive(true, 1s) = %d; want on", got)
	}
	if got := getsockopt(t, tcpConnOf(t, s), syscall.IPPROTO_TCP, tcpKeepIdle); got != 1 {
		t.Errorf("TCP_KEEPIDLE after SetKeepAlive(true, 1s) = %d; want 1", got)
	}
	if s.ReadyState() != "open" || c.ReadyState() != "open" {
		t.Errorf("ReadyState() server %v, client %v; want open, open", s.ReadyState(), c.ReadyState())
	}
	s.End()
	c.End()
	sr.wait()
	cr.wait()

	synctest.Test(t, func(t *testing.T) {
		s, _ := pipeSocket(t, false)
		r := record(t, s)
		s.SetTimeout(0)
		s.SetKeepAlive(true, time.Second)
		time.Sleep(1200 * time.Millisecond)
		synctest.Wait()
		if got := s.ReadyState(); got != "open" {
			t.Errorf("ReadyState() after 1.2 s idle = %v; want open", got)
		}
		if evs := r.events(); len(evs) != 0 {
			t.Errorf("events after 1.2 s idle with the timeout disabled = %q; want none", names(evs))
		}
	})
}

// test-net-local-address-port: the server side of a connection has
// LocalAddress 127.0.0.1 and LocalPort the server's port.
func TestNode_net_local_address_port(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
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
	t.Parallel()
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
		c := connectSocket(t, ConnectOptions{Port: port, Host: "localhost"})
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
		checkEventsAndData(t, fmt.Sprintf("client %d (%s)", i+1, cl.ops), recs[i].wait(), "connect data end close(false)", msg)
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
		checkEventsAndData(t, fmt.Sprintf("client %d (%s) after Resume", i+1, cl.ops), recs[i].wait(), "connect data end close(false)", msg)
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
		c := connectSocket(t, ConnectOptions{Path: path})
		evs := record(t, c).wait()
		ne := nodeSysErr(t, fmt.Sprintf("the ErrorEvent of Connect(Path %q)", path), nodeFirstError(evs))
		if !slices.Contains(codes, ne.Code) || ne.Syscall != "connect" {
			t.Errorf("Connect(Path %q) error = {Code %q, Syscall %q}; want Code in %v, Syscall connect", path, ne.Code, ne.Syscall, codes)
		}
		if got := names(evs); !strings.HasSuffix(got, "close(true)") || count[ConnectEvent](evs) != 0 {
			t.Errorf("Connect(Path %q) events = %q; want an error and close(true), no connect", path, got)
		}
	}
	check(empty, "ENOTSOCK", "ECONNREFUSED")
	check(filepath.Join(dir, "no-ent-file"), "ENOENT")

	if os.Getuid() == 0 {
		t.Log("running as root: the EACCES part is left out, as in Node")
		return
	}
	srv := createServer(t, ServerOptions{}, nil)
	path := listenUnix(t, srv)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	check(path, "EACCES")
}

// test-net-reconnect: the same client reconnects 50 times from its close;
// every connection gets "hello\r\n"; no close, on either side, has an
// error.
func TestNode_net_reconnect(t *testing.T) {
	t.Parallel()
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
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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
	t.Parallel()
	var errs nodeErrs
	var port int
	srv := createServer(t, ServerOptions{}, trackSockets(t, func(s *Socket) {
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
		c := connectSocket(t, ConnectOptions{Port: port, Host: host})
		r := recordConnected(t, c)
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

// net-socket-readystate: closed (new), opening (after Connect), open (at
// the ConnectEvent), readOnly (after End), closed (at the CloseEvent).
func TestNode_net_socket_readystate(t *testing.T) {
	st := nodeStalled(t, ServerOptions{})
	sock, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sock.ReadyState(); got != "closed" {
		t.Errorf("ReadyState() of a new socket = %v; want closed", got)
	}
	if err := sock.Connect(ConnectOptions{Port: st.port, Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if got := sock.ReadyState(); got != "opening" {
		t.Errorf("ReadyState() after Connect = %v; want opening", got)
	}
	st.release(t)
	var atConnect, afterEnd, atClose string
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
	if atConnect != "open" || afterEnd != "readOnly" || atClose != "closed" {
		t.Errorf("ReadyState() at connect, after End, at close = %v, %v, %v; want open, readOnly, closed", atConnect, afterEnd, atClose)
	}
}

// socketConnect is Node's new net.Socket().connect(opts).
func socketConnect(opts ConnectOptions) (*Socket, error) {
	s, err := NewSocket(SocketOptions{})
	if err != nil {
		return nil, err
	}
	return s, s.Connect(opts)
}
