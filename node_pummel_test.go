package nodenet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// Ports of Node v0.10.18's test/pummel/test-net-*.js (and the one
// test/internet test that runs without the Internet, in part), named
// TestNode_pummel_net_X and TestNode_internet_net_X. Where a Node test
// needs minutes or thousands of connections it is scaled down; the comment
// of each test says how, and CONFORMANCE.md repeats it. Tests about time
// run on the fake clock of a synctest bubble, over net.Pipe, with Node's
// own durations.

// nodeLoopErr is nodeLoop for a goroutine other than the test's: on
// timeout it destroys s and returns an error instead of failing the test.
func nodeLoopErr(s *Socket, on func(Event)) ([]Event, error) {
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	ch := s.Events()
	var evs []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs, nil
			}
			evs = append(evs, ev)
			if on != nil {
				on(ev)
			}
		case <-timeout.C:
			s.Destroy()
			for range ch {
			}
			return evs, fmt.Errorf("events did not end; got %s", names(evs))
		}
	}
}

// nodePipePair starts two Sockets over the two ends of net.Pipe, for a
// client and a server both made by nodenet on the fake clock.
func nodePipePair(t *testing.T) (server, client *Socket) {
	t.Helper()
	a, b := net.Pipe()
	start := func(c net.Conn) *Socket {
		s := newSocket(false, defaultFlow)
		s.Unref() // see nodePipeSocket
		s.mu.Lock()
		s.startLocked(c)
		s.mu.Unlock()
		t.Cleanup(s.Destroy)
		return s
	}
	return start(a), start(b)
}

// pummel/test-net-pause: the server writes 'C' every 10 ms, 200 times;
// the client pauses twice for 500 ms and gets no data while paused, and
// all 200 characters in the end. On the fake clock, with Node's timings.
func TestNode_pummel_net_pause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 200
		s, peer := nodePipeSocket(t, false)
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
	client, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
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

// pummel/test-net-timeout: an echo server with a 1000 ms timeout; five
// exchanges 500 ms apart keep it from firing; after the last one it fires
// between 1000 and 1800 ms later; the client, with its timeout disabled,
// never times out. On the fake clock, with Node's timings.
func TestNode_pummel_net_timeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 1000 * time.Millisecond
		server, client := nodePipePair(t)
		server.SetTimeout(timeout)
		var timeoutTime time.Time
		serverEvs := make(chan []Event, 1)
		go func() {
			var evs []Event
			for ev := range server.Events() {
				evs = append(evs, ev)
				switch ev := ev.(type) {
				case TimeoutEvent:
					timeoutTime = time.Now()
					server.Destroy()
				case DataEvent:
					server.Send(ev.Data, nil)
				case EndEvent:
					server.End()
				}
			}
			serverEvs <- evs
		}()

		client.SetEncoding("UTF8")
		client.SetTimeout(0)
		client.SendString("hello\r\n", "", nil) // at 'connect'
		exchanges := 0
		var startTime time.Time
		cevs := nodeLoop(t, client, func(ev Event) {
			switch ev := ev.(type) {
			case DataEvent:
				if ev.Text != "hello\r\n" {
					t.Errorf("client got %q; want %q", ev.Text, "hello\r\n")
				}
				e := exchanges
				exchanges++
				if e < 5 {
					time.AfterFunc(500*time.Millisecond, func() { client.SendString("hello\r\n", "", nil) })
					if exchanges == 5 {
						startTime = time.Now()
					}
				}
			case EndEvent:
				client.End()
			}
		})
		sevs := <-serverEvs
		if got := count[TimeoutEvent](cevs); got != 0 {
			t.Errorf("client got %d TimeoutEvents with its timeout disabled; want 0", got)
		}
		if got := count[TimeoutEvent](sevs); got != 1 {
			t.Fatalf("server got %d TimeoutEvents; want 1 (events %q)", got, names(sevs))
		}
		if count[ErrorEvent](sevs) != 0 {
			t.Errorf("server events = %q; want no error", names(sevs))
		}
		if diff := timeoutTime.Sub(startTime); diff <= timeout || diff >= timeout+800*time.Millisecond {
			t.Errorf("server timeout %v after the fifth exchange; want between %v and %v", diff, timeout, timeout+800*time.Millisecond)
		}
	})
}

// pummel/test-net-timeout2: a server socket with a 2.5 s timeout that
// writes every second never times out: writes re-arm the timer. On the
// fake clock, with Node's timings.
func TestNode_pummel_net_timeout2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const seconds = 5
		s, peer := nodePipeSocket(t, false)
		go io.Copy(io.Discard, peer) // the client pipes to stdout
		if err := s.SetTimeout(seconds * time.Second / 2); err != nil {
			t.Fatal(err)
		}
		r := record(t, s)
		for counter := 1; counter <= seconds; counter++ {
			time.Sleep(time.Second)
			if counter == seconds {
				s.Destroy()
				break
			}
			if s.ReadyState() == StateOpen {
				s.SendString(fmt.Sprintf("%d\n", time.Now().UnixMilli()), "", nil)
			}
		}
		evs := r.wait()
		if got := count[TimeoutEvent](evs); got != 0 {
			t.Errorf("%d TimeoutEvents; want 0 (every write re-arms the timer)", got)
		}
		if got, want := names(evs), "close(false)"; got != want {
			t.Errorf("events = %q; want %q", got, want)
		}
	})
}

// pummel/test-net-write-callbacks: many writes then End: every callback
// runs exactly once, in write order. Scaled from 500000 writes to 20000.
func TestNode_pummel_net_write_callbacks(t *testing.T) {
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
	client, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
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

// pummel/test-net-connect-econnrefused: rounds of concurrent connects to a
// closed port all fail with ECONNREFUSED, and nothing is left behind (no
// goroutine: Node checks for no active handle or request). Node's 5 rounds
// of 200.
func TestNode_pummel_net_connect_econnrefused(t *testing.T) {
	const rounds, attempts = 5, 200
	port := nodeRefusedPort(t)
	before := goleak.IgnoreCurrent()
	reqs := 0
	for round := 1; round <= rounds; round++ {
		codes := make(chan string, attempts)
		for i := 0; i < attempts; i++ {
			c, err := ConnectTCP(port, "")
			if err != nil {
				t.Fatal(err)
			}
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

// pummel/test-net-many-clients: concurrent clients, each reconnecting,
// each connection receiving 40 KiB and closing without error. Scaled from
// 100 clients × 5 connections to 20 × 3.
func TestNode_pummel_net_many_clients(t *testing.T) {
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
			client, err := ConnectTCP(port, "")
			if err != nil {
				errs.add("client %d: ConnectTCP = %v", i, err)
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

// internet/test-net-connect-timeout: SetTimeout(100 ms) fires while the
// socket is still connecting, through an IP address and through a name.
// Node needs an unreachable address on the Internet; here the connect is
// held by a listener whose accept queue is full (the SYN is dropped), which
// a connect cannot get past either.
func TestNode_internet_net_connect_timeout(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			st := nodeStalled(t, ServerOptions{})
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetTimeout(100 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if err := s.Connect(ConnectOptions{Port: st.port, Host: host}); err != nil {
				t.Fatal(err)
			}
			r := record(t, s)
			r.waitFor("timeout", isKind[TimeoutEvent])
			if got := s.ReadyState(); got != StateOpening {
				t.Errorf("ReadyState() at the timeout = %v; want opening", got)
			}
			s.Destroy()
			if got, want := names(r.wait()), "timeout close(false)"; got != want {
				t.Errorf("events = %q; want %q", got, want)
			}
		})
	}
}
