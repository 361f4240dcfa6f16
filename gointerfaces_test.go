package nodenet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tests of the Go face of a socket: Close and WriteString (io.WriteCloser,
// io.StringWriter), Context, and Shutdown waiting for the handlers.

var (
	_ io.WriteCloser  = (*Socket)(nil)
	_ io.StringWriter = (*Socket)(nil)
)

// Close flushes what is queued, then closes: a peer that reads late still
// gets every byte, then EOF. The callbacks of the queued writes run with
// nil. The event stream ends at Close: its channel closes with no further
// event, although the peer's data was still unread.
func TestCloseFlushesThenCloses(t *testing.T) {
	s, peer := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
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
	timeout := time.After(testTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the channel did not close after Close")
		}
	}
}

// Context is cancelled when the connection closes, with the error that
// closed it as its cause; after a graceful close or Destroy the cause is
// ErrSocketClosed. A Context asked for after the close is cancelled.
func TestContextEndsWithTheConnection(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		s, peer := rawPair(t, ConnectOptions{})
		r := record(t, s)
		r.waitFor("connect", isKind[ConnectEvent])
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

// Shutdown returns only once every connection handler has returned, as
// http.Server's does: work a handler does after its socket closed (its
// clean-up) is over when Shutdown returns. At the deadline it reports
// the handlers still running.
func TestShutdownWaitsForHandlers(t *testing.T) {
	t.Run("returns after the handler", func(t *testing.T) {
		release := make(chan struct{})
		var returned atomic.Bool
		srv := CreateServer(ServerOptions{}, func(c *Socket) {
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
		srv := CreateServer(ServerOptions{}, func(c *Socket) {
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
