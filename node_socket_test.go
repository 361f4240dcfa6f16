// Ports of Node's tests (CONFORMANCE.md): the socket's data path (writes, buffers,
// byte counters, writes after close or FIN, destroy).

package nodenet

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// test-net-GH-5504: the server writes 64 MiB to a client that destroys
// itself as soon as it is connected; the server socket must notice (error
// or end) and close instead of going on reading or writing. Node runs
// server and client as child processes; here both are in this process.
func TestNode_net_GH_5504(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("#"), 64<<20)
	var srv *Server
	conns := make(chan *Socket, 1)
	var errs nodeErrs
	srv = createServer(t, ServerOptions{}, trackSockets(t, func(s *Socket) {
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

	c := connectSocket(t, ConnectOptions{Host: "localhost", Port: port})
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
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	if got, want := names(record(t, c).wait()), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
	if got := c.ReadyState(); got != "closed" {
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
	t.Parallel()
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
	c := connectSocket(t, ConnectOptions{Port: port})
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

// test-net-buffersize: one-byte writes made while connecting are counted
// by BufferSize one by one; once everything is flushed it is 0.
func TestNode_net_buffersize(t *testing.T) {
	st := nodeStalled(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: st.port, Host: "127.0.0.1"})
	cr := record(t, c)
	for i := 1; i < 10; i++ {
		c.SendString("a", "", nil)
		if got := c.BufferSize(); got != i {
			t.Errorf("BufferSize() after %d one-byte writes while connecting = %d; want %d", i, got, i)
		}
	}
	if got := c.ReadyState(); got != "opening" {
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
	t.Parallel()
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

// test-net-large-string: 40960 'あ' written with the encoding "UTF-8" are
// received, with setEncoding("UTF-8"), as 40960 characters.
func TestNode_net_large_string(t *testing.T) {
	t.Parallel()
	const n = 40 * 1024
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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

// test-net-socket-destroy-twice: Destroy inside the error handler of a
// refused connect: one error, one close.
func TestNode_net_socket_destroy_twice(t *testing.T) {
	c := connectSocket(t, ConnectOptions{Port: refusedPort(t), Host: ""})
	evs := nodeLoop(t, c, func(ev Event) {
		if isKind[ErrorEvent](ev) {
			c.Destroy()
		}
	})
	if e, cl := count[ErrorEvent](evs), count[CloseEvent](evs); e != 1 || cl != 1 {
		t.Errorf("%d ErrorEvents and %d CloseEvents; want 1 and 1 (events %q)", e, cl, names(evs))
	}
}

// test-net-stream: destroying a server's socket takes Connections() down
// exactly once, also when Destroy is called again, or from the handler of
// the error that already destroyed it.
func TestNode_net_stream(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	cr := recordConnected(t, c)
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
	t.Parallel()
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) { s.Pipe(s) })
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
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

// nodeWriteAfterFinSent is what nodeWriteAfterFinClient sends.
const nodeWriteAfterFinSent = "hello1hello2hello3\nTHUNDERMUSCLE!"

// nodeWriteAfterFinClient is the client of test-socket-write-after-fin
// and test-socket-write-after-fin-error: it connects to port, writes
// "hello1", "hello2" and "hello3\n" and ends with "THUNDERMUSCLE!", all
// while connecting, and returns its events.
func nodeWriteAfterFinClient(t *testing.T, port int) []Event {
	t.Helper()
	sock := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	sock.SetEncoding("utf8")
	sock.SendString("hello1", "", nil)
	sock.SendString("hello2", "", nil)
	sock.SendString("hello3\n", "", nil)
	sock.EndString("THUNDERMUSCLE!", "")
	return nodeLoop(t, sock, nil)
}

// test-socket-write-after-fin: a server with AllowHalfOpen answers, in its
// EndEvent handler, with everything the client sent (written and ended
// while connecting); the client gets it all, then its end.
func TestNode_socket_write_after_fin(t *testing.T) {
	t.Parallel()
	const want = nodeWriteAfterFinSent
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
	evs := nodeWriteAfterFinClient(t, port)
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
	t.Parallel()
	type result struct {
		data    string
		sendErr error
		evs     []Event
	}
	results := make(chan result, 1)
	var srv *Server
	srv = createServer(t, ServerOptions{}, trackSockets(t, func(s *Socket) {
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
	cevs := nodeWriteAfterFinClient(t, listenTCP(t, srv))
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
	if want := nodeWriteAfterFinSent; r.data != want {
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
