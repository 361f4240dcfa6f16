// Ports of Node's tests (CONFORMANCE.md): the pummel tests (pause, throttle,
// write callbacks, many clients) and ping-pong.

package nodenet

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pummel/test-net-pause: the server writes 'C' every 10 ms, 200 times;
// the client pauses twice for 500 ms and gets no data while paused, and
// all 200 characters in the end. On the fake clock, with Node's timings.
func TestNode_pummel_net_pause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 200
		s, peer := pipeSocket(t, false)
		if err := s.SetEncoding("ascii"); err != nil {
			t.Fatal(err)
		}
		r := record(t, s)
		go func() {
			for j := 0; j < n; j++ {
				time.Sleep(10 * time.Millisecond)
				peer.Write([]byte("C"))
			}
			peer.Close() // connection.end()
		}()
		start := time.Now()
		// Odd instants (x05 ms), so that no write of the server races
		// with the check; synctest.Wait lets every delivery settle.
		at := func(d time.Duration) {
			time.Sleep(d - time.Since(start))
			synctest.Wait()
		}
		recvLen := func() int { return len(dataOf(r.events())) }
		for _, pauseAt := range []time.Duration{505 * time.Millisecond, 1505 * time.Millisecond} {
			at(pauseAt)
			got := recvLen()
			if got <= 1 {
				t.Errorf("received %d characters at %v; want more than 1", got, pauseAt)
			}
			s.Pause()
			at(pauseAt + 500*time.Millisecond)
			if after := recvLen(); after != got {
				t.Errorf("paused from %v for 500ms: received %d characters meanwhile; want 0", pauseAt, after-got)
			}
			s.Resume()
		}
		evs := r.wait()
		if got := len(dataOf(evs)); got != n {
			t.Errorf("received %d characters; want %d", got, n)
		}
		if got, want := names(evs), "data end close(false)"; got != want {
			t.Errorf("events = %q; want %q", got, want)
		}
	})
}

// pummel/test-net-throttle: the server writes a 1 MiB string in three
// parts; the third write returns false; BufferSize is within 0..N; the
// client pauses on data and resumes later (here after 20 ms instead of
// 100 ms), more than twice, gets no data while paused (beyond the events
// already in its channel when it paused, which nodenet documents as still
// received), and gets all N bytes.
func TestNode_pummel_net_throttle(t *testing.T) {
	const n = 1024 * 1024
	const partN = n / 3
	body := strings.Repeat("C", n)
	_, port, conns := newServer(t, ServerOptions{})
	client := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	if err := client.SetEncoding("ascii"); err != nil {
		t.Fatal(err)
	}
	s := accept(t, conns)
	sr := record(t, s)
	s.SendString(body[:partN], "", nil)
	s.SendString(body[partN:2*partN], "", nil)
	if ok, err := s.SendString(body[2*partN:], "", nil); ok || err != nil {
		t.Errorf("third SendString = %v, %v; want false, nil", ok, err)
	}
	if bs := s.BufferSize(); bs < 0 || bs > n {
		t.Errorf("BufferSize() after the writes = %d; want 0..%d", bs, n)
	}
	s.End()

	ch := client.Events()
	timeout := time.After(testTimeout)
	recved, npauses := 0, 0
	paused := false
	var resume <-chan time.Time
	whilePaused := 0
loop:
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				break loop
			}
			d, isData := ev.(DataEvent)
			if !isData {
				continue
			}
			recved += len(d.Text)
			if paused {
				if whilePaused++; whilePaused == 1 {
					t.Errorf("pause %d: a DataEvent while paused; want none", npauses)
				}
				continue
			}
			// Pause from the consumer, while it handles a DataEvent,
			// stops the next one: Node's "no data while paused".
			client.Pause()
			paused = true
			npauses++
			resume = time.After(20 * time.Millisecond)
		case <-resume:
			client.Resume()
			paused, resume = false, nil
		case <-timeout:
			client.Destroy()
			t.Fatalf("client events did not end; %d bytes so far", recved)
		}
	}
	if recved != n {
		t.Errorf("client received %d characters; want %d", recved, n)
	}
	if npauses <= 2 {
		t.Errorf("client paused %d times; want more than 2", npauses)
	}
	sr.wait()
}

// pummel/test-net-write-callbacks: many writes then End: every callback
// runs exactly once, in write order. Scaled from 500000 writes to 20000.
func TestNode_pummel_net_write_callbacks(t *testing.T) {
	t.Parallel()
	const n = 20000
	got := make(chan int, 1)
	_, port := nodeServer(t, ServerOptions{}, func(s *Socket) {
		total := 0
		for ev := range s.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				total += len(ev.Data)
			case EndEvent:
				s.Destroy()
			}
		}
		got <- total
	})
	client := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	var mu sync.Mutex
	lastCalled, cbcount := -1, 0
	var errs nodeErrs
	makeCallback := func(c int) func(error) {
		called := false
		return func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if called {
				errs.add("callback #%d called more than once", c)
			}
			called = true
			if err != nil {
				errs.add("callback #%d: %v", c, err)
			}
			if c < lastCalled {
				errs.add("callbacks out of order: last=%d current=%d", lastCalled, c)
			}
			lastCalled = c
			cbcount++
		}
	}
	nodeLoop(t, client, func(ev Event) {
		if isKind[ConnectEvent](ev) {
			for i := 0; i < n; i++ {
				client.SendString("hello world", "", makeCallback(i))
			}
			client.End()
		}
	})
	mu.Lock()
	if cbcount != n {
		t.Errorf("%d callbacks ran; want %d", cbcount, n)
	}
	mu.Unlock()
	select {
	case total := <-got:
		if total != n*len("hello world") {
			t.Errorf("server received %d bytes; want %d", total, n*len("hello world"))
		}
	case <-time.After(testTimeout):
		t.Error("the server socket did not close")
	}
	errs.report(t)
}

// pummel/test-net-many-clients: concurrent clients, each reconnecting,
// each connection receiving 40 KiB and closing without error. Scaled from
// 100 clients × 5 connections to 20 × 3.
func TestNode_pummel_net_many_clients(t *testing.T) {
	t.Parallel()
	const bytes = 40 * 1024
	const concurrency, connectionsPerClient = 20, 3
	body := strings.Repeat("C", bytes)
	var total atomic.Int32
	_, port := nodeServer(t, ServerOptions{}, func(c *Socket) {
		total.Add(1)
		c.SendString(body, "", nil)
		c.End()
	})
	var errs nodeErrs
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			client, err := Connect(ConnectOptions{Port: port, Host: ""})
			if err != nil {
				errs.add("client %d: Connect = %v", i, err)
				return
			}
			client.SetEncoding("utf8")
			for conn := 1; ; conn++ {
				recved := 0
				evs, err := nodeLoopErr(client, func(ev Event) {
					switch ev := ev.(type) {
					case DataEvent:
						recved += len(ev.Text)
					case EndEvent:
						client.End()
					case CloseEvent:
						if ev.HadError {
							errs.add("client %d connection %d: close(true)", i, conn)
						}
					}
				})
				if err != nil {
					errs.add("client %d connection %d: %v", i, conn, err)
					return
				}
				if count[ConnectEvent](evs) != 1 {
					errs.add("client %d connection %d: events %q; want one connect", i, conn, names(evs))
				}
				if recved != bytes {
					errs.add("client %d connection %d: received %d characters; want %d", i, conn, recved, bytes)
				}
				if conn == connectionsPerClient {
					return
				}
				if err := client.Connect(ConnectOptions{Port: port}); err != nil {
					errs.add("client %d: reconnect = %v", i, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	errs.report(t)
	if got := total.Load(); got != concurrency*connectionsPerClient {
		t.Errorf("server connections = %d; want %d", got, concurrency*connectionsPerClient)
	}
}

// pummel/test-net-pingpong: 1000 round trips on "localhost", no host and
// "::1": the server's RemoteAddress is the client's loopback address;
// ready states open while exchanging, writeOnly at the server's end
// (AllowHalfOpen), readOnly at the client after its end, closed at close;
// no close with an error.
func TestNode_pummel_net_pingpong(t *testing.T) {
	t.Parallel()
	for _, tr := range []nodePingTransport{nodePingTCP("localhost"), nodePingTCP(""), nodePingTCP("::1")} {
		t.Run(tr.name, func(t *testing.T) { nodePingPong(t, tr, 1000, 0) })
	}
}

// pummel/test-net-pingpong-delay: 100 round trips where each side waits
// 1 ms before writing: open before and after every wait, writeOnly at the
// server's end, closed at close, no timeout, no error.
func TestNode_pummel_net_pingpong_delay(t *testing.T) {
	nodePingPong(t, nodePingTCP(""), 100, time.Millisecond)
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
		dial: func(srv *Server) (*Socket, error) {
			return Connect(ConnectOptions{Port: srv.Address().Port, Host: host})
		},
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
		dial: func(*Server) (*Socket, error) { return Connect(ConnectOptions{Path: path}) },
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
	srv = createServer(t, ServerOptions{AllowHalfOpen: true}, trackSockets(t, func(s *Socket) {
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
				if rs := s.ReadyState(); rs != "open" {
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
					if rs := s.ReadyState(); rs != "open" {
						errs.add("server ReadyState() before a delayed PONG = %v; want open", rs)
					}
					pong()
				})
			case EndEvent:
				if rs := s.ReadyState(); rs != "writeOnly" {
					errs.add("server ReadyState() at end = %v; want writeOnly", rs)
				}
				s.End()
			case CloseEvent:
				if ev.HadError {
					errs.add("server socket close(true); want close(false)")
				}
				if rs := s.ReadyState(); rs != "closed" {
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
			if rs := c.ReadyState(); rs != "open" {
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
				if rs != "readOnly" {
					t.Errorf("client ReadyState() after its final PING = %v; want readOnly", rs)
				}
				return
			}
			if rs != "open" {
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
				if rs := c.ReadyState(); rs != "open" {
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
	t.Parallel()
	for _, tr := range []nodePingTransport{nodePingUnix(), nodePingTCP(""), nodePingTCP("localhost"), nodePingTCP("::1")} {
		t.Run(tr.name, func(t *testing.T) { nodePingPong(t, tr, 1000, 0) })
	}
}
