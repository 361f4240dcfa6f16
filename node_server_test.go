// Ports of Node's tests (CONFORMANCE.md): the server (bind, listen errors, address,
// close, maxConnections, pipes).

package nodenet

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeNextServerEvent receives one event of a server with a timeout.
func nodeNextServerEvent(t testing.TB, ch <-chan Event) Event {
	t.Helper()
	return recv(t, ch, "a server event")
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

// nodeListensAfterError checks what follows a Listen of srv that failed
// with err: the server's first event is the ErrorEvent of err, and the
// server can then listen on 127.0.0.1, which gives a ListeningEvent, and
// close.
func nodeListensAfterError(t testing.TB, srv *Server, ch <-chan Event, err error) {
	t.Helper()
	if ev := nodeNextServerEvent(t, ch); !isKind[ErrorEvent](ev) || ev.(ErrorEvent).Err != err {
		t.Errorf("first server event = %s; want the ErrorEvent of the failed Listen", names([]Event{ev}))
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen(0, 127.0.0.1, 0) after the failed Listen = %v; want nil", err)
	}
	if got, want := names(nodeListenedThenDrain(t, srv, ch)), "close(false)"; got != want {
		t.Errorf("server events after the error and the second Listen's listening = %q; want %q", got, want)
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
	// The failed Listen's error comes first; listening elsewhere, then
	// closing, ends server2's event stream.
	nodeListensAfterError(t, server2, ch, err)
}

// test-net-during-close: RemoteAddress and RemotePort of a connecting
// client, read right after the server is closed, do not fail.
func TestNode_net_during_close(t *testing.T) {
	t.Parallel()
	srv, port := nodeServer(t, ServerOptions{}, func(s *Socket) { s.End() })
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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

// test-net-listen-error: listening on an address that is not local fails
// (EADDRNOTAVAIL, or EACCES for port 1 without privileges) with an error
// and no 'listening'.
func TestNode_net_listen_error(t *testing.T) {
	t.Parallel()
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
	nodeListensAfterError(t, srv, ch, err)
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
	nodeListensAfterError(t, srv, ch, err)
}

// test-net-server-address: Address of a server on 127.0.0.1 and on ::1 is
// the address, the port given, and the family IPv4 or IPv6.
func TestNode_net_server_address(t *testing.T) {
	for _, tt := range []struct{ host, family string }{{"127.0.0.1", "IPv4"}, {"::1", "IPv6"}} {
		t.Run(tt.host, func(t *testing.T) {
			port := freePort(t, tt.host)
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
		port := freePort(t, "0.0.0.0")
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
	t.Parallel()
	socketCloses := make(chan CloseEvent, 2)
	var mu sync.Mutex
	var sockets []*Socket
	var srv *Server
	srv = createServer(t, ServerOptions{}, trackSockets(t, func(s *Socket) {
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
	w := newEventLog(t, "server events", srv.Events(), nil)
	port := listenTCP(t, srv)
	for i := 0; i < 2; i++ {
		c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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
	evs := w.wait()
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
	t.Parallel()
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
	t.Parallel()
	const n = 200
	var mu sync.Mutex
	var waits []*Socket
	srv := createServer(t, ServerOptions{}, trackSockets(t, func(s *Socket) {
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
		c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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

// test-pipe-address: Address of a server listening on a Unix socket is its
// path.
func TestNode_pipe_address(t *testing.T) {
	t.Parallel()
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
