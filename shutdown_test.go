// Staged Shutdown of a server.

package nodenet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBeyondShutdownBusyNotEnded proves that Shutdown does not end a
// connection nobody consumes while it is not idle: one with unread data,
// one with a queued write. An idle connection beside it is ended (so the
// idle check has run); the busy one stays open, is told with a
// ShutdownEvent, and is destroyed at the deadline, which Shutdown reports
// as a *ForcedError.
func TestBeyondShutdownBusyNotEnded(t *testing.T) {
	tests := []struct {
		name string
		busy func(t *testing.T, s *Socket, c *net.TCPConn)
		want string // events of the busy socket
	}{
		{
			name: "unread data",
			busy: func(t *testing.T, s *Socket, c *net.TCPConn) {
				if _, err := c.Write([]byte("hello")); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "5 unread bytes", func() bool { return s.Stats().Unread == 5 })
			},
			want: "data shutdown close(false)",
		},
		{
			name: "queued write",
			busy: func(t *testing.T, s *Socket, c *net.TCPConn) {
				// The peer never reads: the kernel's buffers fill and the
				// rest waits in the socket's queue.
				if _, err := s.Send(make([]byte, 32<<20), nil); err != nil {
					t.Fatal(err)
				}
				if s.BufferSize() == 0 {
					t.Fatal("BufferSize() = 0 after sending 32 MiB to a peer that does not read")
				}
			},
			want: "shutdown close(false)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, r, port := recordedServer(t, ServerOptions{})
			busyPeer := dialRaw(t, port)
			busy := r.waitConnection(1)
			idlePeer := dialRaw(t, port)
			r.waitConnection(2)
			tt.busy(t, busy, busyPeer)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			result := make(chan error, 1)
			go func() { result <- srv.Shutdown(ctx) }()
			// The idle connection is ended: its peer reads the FIN, and
			// closes, and the server lets go of it.
			if got := readAll(t, idlePeer); len(got) != 0 {
				t.Errorf("the idle peer read %q; want nothing", got)
			}
			idlePeer.Close()
			waitUntil(t, "the idle connection to close", func() bool { return srv.Connections() == 1 })
			if got := busy.ReadyState(); got != "open" {
				t.Errorf("ReadyState() of the busy connection during Shutdown = %v; want open (not ended)", got)
			}
			rs := record(t, busy)
			rs.waitFor("shutdown", isKind[ShutdownEvent])
			cancel()
			var forced *ForcedError
			if err := <-result; !errors.As(err, &forced) || forced.Forced != 1 || !errors.Is(err, context.Canceled) {
				t.Errorf("Shutdown = %v; want a *ForcedError{Forced: 1} wrapping %v", err, context.Canceled)
			}
			if got := names(rs.wait()); got != tt.want {
				t.Errorf("events of the busy connection = %q; want %q", got, tt.want)
			}
			if got, want := names(r.wait()), "listening connection connection close(false)"; got != want {
				t.Errorf("server events = %q; want %q", got, want)
			}
			if st := srv.Stats(); st.Forced != 1 || srv.Connections() != 0 || st.Accepted != 2 {
				t.Errorf("Stats() = %+v; want 2 accepted, 1 forced, 0 active", st)
			}
		})
	}
}

// TestBeyondShutdownNeverListened proves that Shutdown on a server that
// never listened returns nil at once, even with a context already done.
func TestBeyondShutdownNeverListened(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []context.Context{context.Background(), ctx} {
		srv := createServer(t, ServerOptions{}, nil)
		if err := srv.Shutdown(c); err != nil {
			t.Errorf("Shutdown on a server that never listened = %v; want nil", err)
		}
		if err := srv.Close(); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Close() after that Shutdown = %v; want %v", err, ErrNotRunning)
		}
	}
}

// TestBeyondShutdownTwice proves that a connection gets one ShutdownEvent
// when Shutdown is called twice: the second call (with a context already
// done) destroys it, reporting one forced connection, and the first then
// returns nil.
func TestBeyondShutdownTwice(t *testing.T) {
	t.Parallel()
	srv, r, port := recordedServer(t, ServerOptions{})
	_, rc := connectClient(t, port)
	s := r.waitConnection(1)
	rs := record(t, s)

	first := make(chan error, 1)
	go func() { first <- srv.Shutdown(ctxTimeout(t)) }()
	rs.waitFor("shutdown", isKind[ShutdownEvent])
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var forced *ForcedError
	if err := srv.Shutdown(done); !errors.As(err, &forced) || forced.Forced != 1 {
		t.Errorf("second Shutdown(a done context) = %v; want a *ForcedError{Forced: 1}", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first Shutdown = %v; want nil (the connection closed)", err)
	}
	if got, want := names(rs.wait()), "shutdown close(false)"; got != want {
		t.Errorf("events of the server's socket = %q; want %q (one shutdown)", got, want)
	}
	rc.wait()
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("third Shutdown = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

// Shutdown meets its deadline however many connections it must destroy:
// Destroy does not wait for the connection's goroutines (it used to close
// the descriptor itself, waiting for them to leave it: 7-13 ms for each
// busy connection). 40 connections stream through a Pipe echo, so none
// is idle. Half of them are destroyed one by one: the median Destroy
// takes under a millisecond (a scheduler on a loaded machine may delay
// any single call). Shutdown with a 200 ms context then returns a
// *ForcedError for the rest soon after its deadline.
func TestCoreShutdownMeetsItsDeadline(t *testing.T) {
	const conns = 40
	var mu sync.Mutex
	var accepted []*Socket
	srv := createServer(t, ServerOptions{}, func(c *Socket) {
		mu.Lock()
		accepted = append(accepted, c)
		mu.Unlock()
		c.Pipe(c)
	})
	port := listenTCP(t, srv)
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	var wg sync.WaitGroup
	var flowing sync.WaitGroup
	for _, c := range clients {
		flowing.Add(1)
		wg.Add(2)
		go func() { // writes until the server destroys the connection
			defer wg.Done()
			chunk := make([]byte, 64<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() { // reads the echo, and tells once 256 KiB came back
			defer wg.Done()
			buf := make([]byte, 64<<10)
			n, told := 0, false
			for {
				k, err := c.Read(buf)
				if n += k; n >= 256<<10 && !told {
					told = true
					flowing.Done()
				}
				if err != nil {
					if !told {
						flowing.Done()
					}
					return
				}
			}
		}()
	}
	flowing.Wait() // every connection echoes: its handler has run
	mu.Lock()
	some := accepted[:conns/2]
	mu.Unlock()
	took := make([]time.Duration, len(some))
	for i, s := range some {
		start := time.Now()
		s.Destroy()
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	if median := took[len(took)/2]; median > time.Millisecond {
		t.Errorf("Destroy of a busy connection took %v (median of %d; slowest %v); want under 1ms", median, len(took), took[len(took)-1])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// What Shutdown adds to the deadline is measured from the moment a
	// goroutine waiting on the same context wakes, so that the
	// scheduler's delay on a loaded machine does not count.
	woke := make(chan time.Time, 1)
	go func() {
		<-ctx.Done()
		woke <- time.Now()
	}()
	err := srv.Shutdown(ctx)
	returned := time.Now()
	late := returned.Sub(<-woke)
	var fe *ForcedError
	if !errors.As(err, &fe) || fe.Forced == 0 {
		t.Fatalf("Shutdown = %v; want a *ForcedError (the connections were busy)", err)
	}
	if late > 250*time.Millisecond {
		t.Errorf("Shutdown returned %v after its deadline, destroying %d connections; want within 250ms", late, fe.Forced)
	}
	wg.Wait()
}

// Shutdown returns only once every connection handler has returned, as
// http.Server's does: work a handler does after its socket closed (its
// clean-up) is over when Shutdown returns. At the deadline it reports
// the handlers still running.
func TestShutdownWaitsForHandlers(t *testing.T) {
	t.Run("returns after the handler", func(t *testing.T) {
		release := make(chan struct{})
		var returned atomic.Bool
		srv := createServer(t, ServerOptions{}, func(c *Socket) {
			for range c.Events() {
			}
			<-release // clean-up after the loop
			returned.Store(true)
		})
		port := listenTCP(t, srv)
		client := dialRaw(t, port)
		client.Write([]byte("x"))
		client.CloseWrite()
		readAll(t, client) // the server ended too: the handler's loop is over
		result := make(chan error, 1)
		go func() { result <- srv.Shutdown(ctxTimeout(t)) }()
		close(release)
		if err := <-result; err != nil {
			t.Fatalf("Shutdown = %v; want nil", err)
		}
		if !returned.Load() {
			t.Error("Shutdown returned before the handler did")
		}
	})
	t.Run("reports a handler still running at the deadline", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := createServer(t, ServerOptions{}, func(c *Socket) {
			c.Pipe(c)
			<-release // a handler that does not return
		})
		port := listenTCP(t, srv)
		client := dialRaw(t, port)
		client.CloseWrite()
		readAll(t, client) // the connection has closed; its handler runs on
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var fe *ForcedError
		if err := srv.Shutdown(ctx); !errors.As(err, &fe) || fe.Running != 1 || fe.Forced != 0 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v; want a *ForcedError with Running 1, Forced 0, wrapping DeadlineExceeded", err)
		}
	})
}

// TestServerShutdown: a connection whose events are read gets a
// ShutdownEvent and is left to the program; at the deadline it is
// destroyed and Shutdown reports it.
func TestServerShutdown(t *testing.T) {
	srv, r, port := recordedServer(t, ServerOptions{})
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
	t.Parallel()
	srv, r, port := recordedServer(t, ServerOptions{})
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
	t.Parallel()
	srv, r, _ := recordedServer(t, ServerOptions{})
	r.waitFor("listening", isKind[ListeningEvent])
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown(ctx) with no connection = %v; want nil", err)
	}
	if got, want := names(r.wait()), "listening close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}
