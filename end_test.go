// Ending a connection: End and half-close (AllowHalfOpen), EndContext, Destroy,
// ResetAndDestroy, peer reset, Close, and what a closed socket still answers.

package nodenet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBeyondResetAndDestroy proves that ResetAndDestroy on an open TCP
// socket, of either side, closes it with an RST: its peer, a nodenet
// socket, gets a read ECONNRESET error, while the socket itself closes
// without error and drops its queue.
func TestBeyondResetAndDestroy(t *testing.T) {
	t.Parallel()
	for _, who := range []string{"client", "server"} {
		t.Run(who, func(t *testing.T) {
			_, r, port := recordedServer(t, ServerOptions{})
			c, rc := connectClient(t, port)
			s := r.waitConnection(1)
			rs := record(t, s)
			c.SendString("x", "", nil)
			rs.waitData(1) // both sides up and past the handshake
			resetter, rr, rp := c, rc, rs
			if who == "server" {
				resetter, rr, rp = s, rs, rc
			}
			if err := resetter.ResetAndDestroy(); err != nil {
				t.Fatalf("ResetAndDestroy() = %v; want nil", err)
			}
			if got := names(rr.wait()); !strings.HasSuffix(got, "close(false)") || strings.Contains(got, "error") {
				t.Errorf("events of the socket reset = %q; want no error, close(false)", got)
			}
			evs := rp.wait()
			if err := onlyError(t, evs); err != nil {
				checkSysError(t, "the peer's error after a reset", err, "ECONNRESET", "read", syscall.ECONNRESET)
			}
			if !strings.HasSuffix(names(evs), "close(true)") {
				t.Errorf("events of the peer = %q; want an error and close(true)", names(evs))
			}
		})
	}
}

// TestBeyondResetAndDestroyUnix proves that ResetAndDestroy on a Unix
// socket is an invalid argument (Node's ERR_INVALID_HANDLE_TYPE) and
// leaves the socket open and working.
func TestBeyondResetAndDestroyUnix(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, nil)
	r := recordServer(t, srv)
	path := listenUnix(t, srv)
	c := connectSocket(t, ConnectOptions{Path: path})
	rc := recordConnected(t, c)
	s := r.waitConnection(1)
	rs := record(t, s)
	for _, side := range []*Socket{c, s} {
		if err := side.ResetAndDestroy(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ResetAndDestroy() on a Unix socket = %v; want an error wrapping %v", err, ErrInvalidArgument)
		}
	}
	c.EndString("still open", "")
	if got := string(rs.waitData(10)); got != "still open" {
		t.Errorf("server got %q; want %q", got, "still open")
	}
	if got, want := names(rc.wait()), "connect end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
}

// TestEndContextWaitsForTheFIN: EndContext returns once the queue is
// handed to the kernel and the FIN sent: the peer then reads every byte
// and EOF.
func TestEndContextWaitsForTheFIN(t *testing.T) {
	s, peer, _ := connectedRawPair(t, ConnectOptions{})
	data := bytes.Repeat([]byte("x"), 1<<20) // more than the kernel takes at once
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, peer) }()
	if err := s.EndContext(ctxTimeout(t), data); err != nil {
		t.Fatalf("EndContext = %v; want nil", err)
	}
	s.mu.Lock()
	finished := s.c.writeSide == writeShut
	s.mu.Unlock()
	if !finished {
		t.Error("EndContext returned before the FIN was sent")
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("the peer read %d bytes then EOF; want the %d written", len(b), len(data))
	}
}

// TestEndContextDeadline: against a peer that does not read, EndContext
// gives up at its context's deadline with the context's error; the socket
// goes on ending, and Destroy still closes it.
func TestEndContextDeadline(t *testing.T) {
	s, _, r := connectedRawPair(t, ConnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.EndContext(ctx, bytes.Repeat([]byte("x"), 32<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EndContext against a peer that does not read = %v; want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("EndContext returned after %v; want at least the 30ms deadline", d)
	}
	if got := s.BufferSize(); got == 0 {
		t.Error("BufferSize() = 0 after the deadline; want the bytes still queued")
	}
	s.Destroy()
	if got, want := names(r.wait()), "connect close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestEndContextErrors: EndContext reports End's error, and returns at once
// on a socket that has already ended or closed.
func TestEndContextErrors(t *testing.T) {
	t.Parallel()
	s, _, r := connectedRawPair(t, ConnectOptions{})
	if err := s.EndContext(ctxTimeout(t)); err != nil {
		t.Fatalf("EndContext() = %v; want nil", err)
	}
	if err := s.EndContext(ctxTimeout(t), []byte("late")); !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("EndContext(data) after End = %v; want %v", err, ErrWriteAfterEnd)
	}
	s.Destroy()
	r.wait()
	if err := s.EndContext(ctxTimeout(t)); err != nil {
		t.Errorf("EndContext() on a closed socket = %v; want nil", err)
	}
}

// Close flushes what is queued, then closes: a peer that reads late still
// gets every byte, then EOF. The callbacks of the queued writes run with
// nil. The event stream ends at Close: its channel closes with no further
// event, although the peer's data was still unread.
func TestCloseFlushesThenCloses(t *testing.T) {
	t.Parallel()
	s, peer, r := connectedRawPair(t, ConnectOptions{})
	if n, err := s.WriteString("head"); n != 4 || err != nil {
		t.Fatalf("WriteString = %d, %v", n, err)
	}
	payload := pattern(0, 4<<20)
	var called atomic.Int32
	if _, err := s.Send(payload, func(err error) {
		if err == nil {
			called.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v; want nil", err)
	}
	got := readAll(t, peer)
	if want := append([]byte("head"), payload...); !bytes.Equal(got, want) {
		t.Fatalf("peer read %d bytes; want the %d written, then EOF", len(got), len(want))
	}
	if names(r.wait()) != "connect" {
		t.Errorf("events %q; want only connect (the stream ends at Close)", names(r.events()))
	}
	if called.Load() != 1 {
		t.Errorf("the queued write's callback ran %d times with nil; want once", called.Load())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

// A consumer that leaves its loop and closes the socket with Close leaves
// nothing behind, although the socket was offering it an event: the
// channel closes, and goleak (TestMain) finds no goroutine.
func TestCloseAfterTheConsumerLeft(t *testing.T) {
	t.Parallel()
	s, peer := rawPair(t, ConnectOptions{})
	ch := s.Events()
	if _, ok := (<-ch).(ConnectEvent); !ok {
		t.Fatal("first event is not the ConnectEvent")
	}
	if _, err := peer.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the data read", func() bool { return s.BytesRead() == 6 })
	s.Close() // the loop has ended: defer s.Close()
	untilClosed(t, "the event stream after Close", ch)
}

// Context is cancelled when the connection closes, with the error that
// closed it as its cause; after a graceful close or Destroy the cause is
// ErrSocketClosed. A Context asked for after the close is cancelled.
func TestContextEndsWithTheConnection(t *testing.T) {
	t.Parallel()
	t.Run("reset", func(t *testing.T) {
		s, peer, r := connectedRawPair(t, ConnectOptions{})
		ctx := s.Context()
		if ctx != s.Context() {
			t.Error("Context returned two contexts for one connection")
		}
		if err := ctx.Err(); err != nil {
			t.Fatalf("Context of an open socket: Err = %v; want nil", err)
		}
		peer.SetLinger(0)
		peer.Close()
		select {
		case <-ctx.Done():
		case <-time.After(testTimeout):
			t.Fatal("Context not cancelled when the peer reset the connection")
		}
		if cause := context.Cause(ctx); !errors.Is(cause, syscall.ECONNRESET) {
			t.Errorf("Cause = %v; want ECONNRESET", cause)
		}
		r.wait()
	})
	t.Run("destroy", func(t *testing.T) {
		s, _ := rawPair(t, ConnectOptions{})
		ctx := s.Context()
		s.Destroy()
		<-ctx.Done()
		if cause := context.Cause(ctx); !errors.Is(cause, ErrSocketClosed) {
			t.Errorf("Cause after Destroy = %v; want ErrSocketClosed", cause)
		}
		if err := s.Context().Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Context after the close: Err = %v; want context.Canceled", err)
		}
	})
}

// TestReadyStateHalfOpenServer: an AllowHalfOpen server socket is
// writeOnly after the peer's end, and closed once it ends too.
func TestReadyStateHalfOpenServer(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	r := record(t, s)
	if got := s.ReadyState(); got != "open" {
		t.Errorf("ReadyState of the accepted socket = %v; want open", got)
	}
	raw.CloseWrite()
	r.waitFor("end", isKind[EndEvent])
	if got := s.ReadyState(); got != "writeOnly" {
		t.Errorf("ReadyState after EndEvent = %q; want writeOnly", got)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if got := s.ReadyState(); got != "closed" {
		t.Errorf("ReadyState after End = %v; want closed", got)
	}
	if got := readAll(t, raw); len(got) != 0 {
		t.Errorf("peer got %q; want nothing", got)
	}
	if got, want := names(r.wait()), "end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestMethodsAfterClose ports test-net-after-close: every method of a
// closed socket returns, without a panic, and the getters give their zero
// values.
func TestMethodsAfterClose(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(s *Socket) { s.End() })
	port := listenTCP(t, srv)
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	if got, want := names(record(t, c).wait()), "connect end close(false)"; got != want {
		t.Fatalf("events = %q; want %q", got, want)
	}
	other, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Destroy)

	calls := []struct {
		name    string
		call    func() error
		wantErr bool
	}{
		{name: "SetNoDelay", call: func() error { return c.SetNoDelay(true) }},
		{name: "SetKeepAlive", call: func() error { return c.SetKeepAlive(true, 3*time.Second) }},
		{name: "SetTimeout", call: func() error { return c.SetTimeout(time.Second) }},
		{name: "SetTimeout(0)", call: func() error { return c.SetTimeout(0) }},
		{name: "SetEncoding", call: func() error { return c.SetEncoding("hex") }},
		{name: "Pause", call: func() error { c.Pause(); return nil }},
		{name: "Resume", call: func() error { c.Resume(); return nil }},
		{name: "IsPaused", call: func() error { c.IsPaused(); return nil }},
		{name: "Ref", call: func() error { c.Ref(); return nil }},
		{name: "Unref", call: func() error { c.Unref(); return nil }},
		{name: "BufferSize", call: func() error { return wantEqual(c.BufferSize(), 0) }},
		{name: "BytesRead", call: func() error { return wantEqual(c.BytesRead(), 0) }},
		{name: "Address", call: func() error { return wantEqual(c.Address(), Addr{}) }},
		{name: "RemoteAddress", call: func() error { return wantEqual(c.RemoteAddress(), "") }},
		{name: "RemotePort", call: func() error { return wantEqual(c.RemotePort(), 0) }},
		{name: "LocalAddress", call: func() error { return wantEqual(c.LocalAddress(), "") }},
		{name: "LocalPort", call: func() error { return wantEqual(c.LocalPort(), 0) }},
		{name: "ReadyState", call: func() error { return wantEqual(c.ReadyState(), "closed") }},
		{name: "Server", call: func() error { return wantEqual(c.Server(), (*Server)(nil)) }},
		{name: "Send", call: func() error { _, err := c.Send([]byte("x"), func(error) {}); return err }, wantErr: true},
		{name: "SendString", call: func() error { _, err := c.SendString("x", "utf8", nil); return err }, wantErr: true},
		{name: "Write", call: func() error { _, err := c.Write([]byte("x")); return err }, wantErr: true},
		{name: "End(data)", call: func() error { return c.End([]byte("x")) }, wantErr: true},
		{name: "EndString", call: func() error { return c.EndString("x", "") }, wantErr: true},
		{name: "End", call: func() error { return c.End() }},
		// A destination never connected (other) or closed (c) is refused,
		// as Proxy refuses it.
		{name: "Pipe", call: func() error { return c.Pipe(other) }, wantErr: true},
		{name: "Pipe into it", call: func() error { return other.Pipe(c) }, wantErr: true},
		{name: "Unpipe", call: func() error { c.Unpipe(nil); return nil }},
		{name: "Destroy", call: func() error { c.Destroy(); return nil }},
		{name: "DestroyWithError", call: func() error { c.DestroyWithError(errors.New("late")); return nil }},
		{name: "Events", call: func() error {
			select {
			case ev, ok := <-c.Events():
				if ok {
					return fmt.Errorf("event %v after close", ev)
				}
				return nil
			case <-time.After(testTimeout):
				return errors.New("Events() is not closed")
			}
		}},
	}
	for _, tt := range calls {
		err := callGuarded(t, tt.name, tt.call)
		if err != nil && strings.HasPrefix(err.Error(), "panic") || (err != nil) != tt.wantErr {
			t.Errorf("%s on a closed socket = %v; want error: %v", tt.name, err, tt.wantErr)
		}
	}
}

// wantEqual returns an error unless got equals want.
func wantEqual[T comparable](got, want T) error {
	if got != want {
		return fmt.Errorf("got %v; want %v", got, want)
	}
	return nil
}

// Node's reference sequence 1: the server writes and ends first.
func TestServerEndsFirst(t *testing.T) {
	t.Parallel()
	c, cr, s, sr := recordedPair(t, ServerOptions{}, ConnectOptions{})
	if err := s.End([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, want := names(cr.wait()), "connect data end close(false)"; got != want {
		t.Errorf("client events %q; want %q", got, want)
	}
	if got, want := names(sr.wait()), "end close(false)"; got != want {
		t.Errorf("server socket events %q; want %q", got, want)
	}
	if c.BytesRead() != 5 || s.BytesWritten() != 5 {
		t.Errorf("BytesRead %d, BytesWritten %d; want 5 and 5", c.BytesRead(), s.BytesWritten())
	}
}

// Half-open off: the reply written while handling the request data goes
// out; a write after EndEvent fails with EPIPE and does not set HadError.
func TestPeerEndDefault(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	raw.Write([]byte("req"))
	raw.CloseWrite()

	var writeErr, endErr error
	var evs []Event
	for ev := range s.Events() {
		evs = append(evs, ev)
		switch ev.(type) {
		case DataEvent:
			if _, err := s.SendString("reply", "", nil); err != nil {
				t.Errorf("Send while handling data before the FIN: %v", err)
			}
		case EndEvent:
			_, writeErr = s.SendString("late", "", nil)
			endErr = s.EndString("bye", "")
		}
	}
	var ne *Error
	if !errors.As(writeErr, &ne) || ne.Code != "EPIPE" || ne.Error() != "This socket has been ended by the other party" {
		t.Errorf("Send after EndEvent = %v; want EPIPE 'This socket has been ended by the other party'", writeErr)
	}
	if !errors.Is(writeErr, syscall.EPIPE) {
		t.Errorf("errors.Is(%v, EPIPE) = false", writeErr)
	}
	if endErr == nil {
		t.Errorf("End(data) after EndEvent = nil; want EPIPE")
	}
	if got, want := names(evs), "data end error(This socket has been ended by the other party) error(This socket has been ended by the other party) close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if got := string(readAll(t, raw)); got != "reply" {
		t.Errorf("peer got %q; want %q", got, "reply")
	}
}

// AllowHalfOpen: after the peer's FIN the socket stays writable until End.
func TestAllowHalfOpen(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	r := record(t, s)
	raw.Write([]byte("req"))
	raw.CloseWrite()
	r.waitFor("end", isKind[EndEvent])
	if got := s.ReadyState(); got != "writeOnly" {
		t.Errorf("ReadyState after end = %v; want writeOnly", got)
	}
	if ok, err := s.SendString("reply-after-end", "", nil); !ok || err != nil {
		t.Errorf("Send after end = %v, %v; want true, nil", ok, err)
	}
	s.EndString("bye", "")
	if got := string(readAll(t, raw)); got != "reply-after-endbye" {
		t.Errorf("peer got %q", got)
	}
	if got, want := names(r.wait()), "data end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

func TestWriteAfterEnd(t *testing.T) {
	t.Parallel()
	s, raw, r := connectedRawPair(t, ConnectOptions{})
	s.EndString("x", "")
	called := false
	ok, err := s.SendString("y", "", func(error) { called = true })
	if ok || !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("Send after End = %v, %v; want false, %v", ok, err, ErrWriteAfterEnd)
	}
	if _, err := s.Write([]byte("z")); !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("Write after End = %v; want %v", err, ErrWriteAfterEnd)
	}
	if err := s.End(); err != nil {
		t.Errorf("second End() = %v; want nil", err)
	}
	if got := string(readAll(t, raw)); got != "x" {
		t.Errorf("peer got %q; want x", got)
	}
	raw.Close()
	if got, want := names(r.wait()), "connect error(write after end) error(write after end) end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if called {
		t.Error("the callback of a refused write was called")
	}
}

func TestDestroy(t *testing.T) {
	s, raw, r := connectedRawPair(t, ConnectOptions{})
	var written, dropped, other atomic.Int32
	for i := 0; i < 200; i++ {
		s.Send(make([]byte, 64<<10), func(err error) {
			switch {
			case err == nil:
				written.Add(1)
			case errors.Is(err, ErrDestroyed):
				dropped.Add(1)
			default:
				other.Add(1)
			}
		})
	}
	s.Destroy()
	s.Destroy()
	var kinds []Event
	for _, ev := range r.wait() {
		if !isKind[DrainEvent](ev) { // the kernel may have taken the first writes
			kinds = append(kinds, ev)
		}
	}
	if got, want := names(kinds), "connect close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if _, err := s.SendString("x", "", nil); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("Send after Destroy = %v; want ErrSocketClosed", err)
	}
	if got := s.BufferSize(); got != 0 {
		t.Errorf("BufferSize after Destroy = %d", got)
	}
	readAll(t, raw)
	// Every callback runs once: nil for the writes the kernel took, and
	// ErrDestroyed for those Destroy dropped, before the CloseEvent.
	if w, d, o := written.Load(), dropped.Load(), other.Load(); w+d+o != 200 || d == 0 || o != 0 {
		t.Errorf("callbacks: %d written, %d ErrDestroyed, %d other; want 200 in all, some ErrDestroyed (the peer read nothing before Destroy), no other", w, d, o)
	}
}

func TestDestroyWithError(t *testing.T) {
	t.Parallel()
	s, _, r := connectedRawPair(t, ConnectOptions{})
	boom := errors.New("boom")
	s.DestroyWithError(boom)
	s.DestroyWithError(errors.New("boom2"))
	if got, want := names(r.wait()), "connect error(boom) close(true)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

// A consumer that stops reading, then destroys: Destroy returns at once
// and nothing leaks (goleak checks at the end).
func TestDestroyWithStoppedConsumer(t *testing.T) {
	t.Parallel()
	s, raw := rawPair(t, ConnectOptions{})
	ch := s.Events()
	raw.Write(make([]byte, 1<<20)) // the socket offers its ConnectEvent, which nobody takes
	s.Destroy()
	var last Event
	for ev := range ch {
		last = ev
	}
	if diff := cmp.Diff(Event(CloseEvent{}), last); diff != "" {
		t.Errorf("last event (-want +got):\n%s", diff)
	}
}

func TestPeerReset(t *testing.T) {
	t.Parallel()
	_, raw, r := connectedRawPair(t, ConnectOptions{})
	raw.SetLinger(0)
	raw.Close()
	evs := r.wait()
	if got, want := names(evs), "connect error(read ECONNRESET) close(true)"; got != want {
		t.Fatalf("events %q; want %q", got, want)
	}
	if err := evs[1].(ErrorEvent).Err; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("errors.Is(%v, ECONNRESET) = false", err)
	}
}

// End while connecting with nothing queued: the FIN goes out once
// connected, and both sides close.
func TestEndWhileConnecting(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	sr := record(t, accept(t, conns))
	if got, want := names(sr.wait()), "end close(false)"; got != want {
		t.Errorf("server socket events %q; want %q", got, want)
	}
	if got, want := names(cr.wait()), "connect end close(false)"; got != want {
		t.Errorf("client events %q; want %q", got, want)
	}
}

// A local End with the read side open: readOnly, the peer still
// sends, and the socket closes only after the peer's FIN.
func TestLocalEndKeepsReading(t *testing.T) {
	t.Parallel()
	s, raw, r := connectedRawPair(t, ConnectOptions{})
	s.EndString("bye", "")
	if got := string(readAll(t, raw)); got != "bye" {
		t.Errorf("peer read %q; want bye", got)
	}
	if got := s.ReadyState(); got != "readOnly" {
		t.Errorf("ReadyState after End = %v; want readOnly", got)
	}
	raw.Write([]byte("still talking"))
	r.waitData(len("still talking"))
	if got := names(r.events()); got != "connect data" {
		t.Errorf("events before the peer's FIN %q; want connect data", got)
	}
	raw.CloseWrite()
	if got, want := names(r.wait()), "connect data end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

// After Destroy nothing more comes from the OS, even when the
// peer goes on sending.
func TestNothingAfterDestroy(t *testing.T) {
	t.Parallel()
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	raw.Write([]byte("before"))
	r.waitData(len("before"))
	s.Destroy()
	raw.Write([]byte("after"))
	checkEventsAndData(t, "the socket", r.wait(), "connect data close(false)", "before")
}

// test-net-socket-destroy-twice: Destroy inside the error handler of a
// refused connect gives one error and one close.
func TestDestroyInErrorHandler(t *testing.T) {
	port := refusedPort(t)
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	var evs []Event
	for ev := range c.Events() {
		evs = append(evs, ev)
		if _, ok := ev.(ErrorEvent); ok {
			c.Destroy()
			c.Destroy()
		}
	}
	if got, want := names(evs), "error(connect ECONNREFUSED) close(true)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

// test-net-connect-options: allowHalfOpen on both ends; the client, told of
// the server's end, is still writable, then ends, and both close.
func TestHalfOpenBothEnds(t *testing.T) {
	t.Parallel()
	c, cr, s, sr := recordedPair(t, ServerOptions{AllowHalfOpen: true}, ConnectOptions{AllowHalfOpen: true})
	s.End()
	cr.waitFor("end", isKind[EndEvent])
	if got := c.ReadyState(); got != "writeOnly" {
		t.Errorf("client ReadyState after the server's end = %v; want writeOnly", got)
	}
	if _, err := c.SendString("late", "", nil); err != nil {
		t.Errorf("client Send after end: %v", err)
	}
	c.End()
	if got, want := names(cr.wait()), "connect end close(false)"; got != want {
		t.Errorf("client events %q; want %q", got, want)
	}
	if got, want := names(sr.wait()), "data end close(false)"; got != want {
		t.Errorf("server socket events %q; want %q", got, want)
	}
}
