// Ports of Node's tests (CONFORMANCE.md): setTimeout and the idle timeouts.

package nodenet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// nodePipePair starts two Sockets over the two ends of net.Pipe, for a
// client and a server both made by nodenet on the fake clock.
func nodePipePair(t *testing.T) (server, client *Socket) {
	t.Helper()
	a, b := net.Pipe()
	start := func(c net.Conn) *Socket {
		s := newSocket(false, defaultFlow)
		s.Unref() // see pipeSocket
		s.mu.Lock()
		s.startLocked(c)
		s.mu.Unlock()
		t.Cleanup(s.Destroy)
		return s
	}
	return start(a), start(b)
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
		s, peer := pipeSocket(t, false)
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
			if s.ReadyState() == "open" {
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

// test-net-can-reset-timeout: a server socket with a 100 ms timeout writes
// in its timeout handler (which re-arms the timer); the client ends on that
// data, and the server gets exactly one timeout. On the fake clock.
func TestNode_net_can_reset_timeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := pipeSocket(t, false)
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
				s, peer := pipeSocket(t, false)
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

// test-net-socket-timeout: an idle connected client with SetTimeout(100 ms)
// gets its TimeoutEvent. Node allows 200 ms; here the lower bound is exact
// and the upper one is loose, for a loaded machine.
func TestNode_net_socket_timeout(t *testing.T) {
	_, port := nodeServer(t, ServerOptions{}, nil)
	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	r := recordConnected(t, c)
	start := time.Now()
	if err := c.SetTimeout(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.waitFor("timeout", isKind[TimeoutEvent])
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("TimeoutEvent after %v; want 100ms..2s", elapsed)
	}
	if got := c.ReadyState(); got != "open" {
		t.Errorf("ReadyState() after the timeout = %v; want open", got)
	}
	c.Destroy()
	if got, want := names(r.wait()), "connect timeout close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}
