package nodenet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
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
	untilClosed(t, "the event stream after Close", ch)
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

// A Write blocked on a peer that reads nothing gives up at the write
// deadline (os.ErrDeadlineExceeded, a net.Error whose Timeout is true),
// or when its context is done (ctx.Err()), and reports exactly what it
// queued: every byte it counts reaches the peer.
func TestWriteDeadlineAndContext(t *testing.T) {
	for _, how := range []string{"deadline", "context"} {
		t.Run(how, func(t *testing.T) {
			s, peer := flowPair(t, "unix", ConnectOptions{})
			r := record(t, s)
			r.waitFor("connect", isKind[ConnectEvent])
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var written atomic.Int64
			res := make(chan error, 1)
			go func() {
				chunk := make([]byte, 64<<10)
				for {
					var n int
					var err error
					if how == "context" {
						n, err = s.WriteContext(ctx, chunk)
					} else {
						n, err = s.Write(chunk)
					}
					written.Add(int64(n))
					if err != nil {
						res <- err
						return
					}
				}
			}()
			waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
			if how == "context" {
				cancel()
				if err := <-res; !errors.Is(err, context.Canceled) {
					t.Fatalf("blocked WriteContext after cancel = %v; want context.Canceled", err)
				}
			} else {
				s.SetWriteDeadline(time.Now())
				err := <-res
				var ne interface{ Timeout() bool }
				if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("blocked Write after the deadline = %v; want os.ErrDeadlineExceeded, a timeout", err)
				}
				if _, err := s.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Write past the deadline = %v; want os.ErrDeadlineExceeded at once", err)
				}
				s.SetWriteDeadline(time.Time{})
			}
			got := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(io.Discard, peer)
				got <- n
			}()
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			if n := <-got; n != written.Load() {
				t.Errorf("peer read %d bytes; want the %d Write reported", n, written.Load())
			}
		})
	}
}

// Code written against net.Conn learns of the server's Shutdown and of the
// idle timeout: a bufio.Scanner over NetConn ends with ErrServerShutdown,
// or with ErrIdleTimeout (a timeout, as net.Error says), and the
// connection stays open; a Write blocked in the view returns them too.
func TestNetConnShutdownAndIdleTimeout(t *testing.T) {
	t.Run("Scanner sees the shutdown", func(t *testing.T) {
		scanned := make(chan error, 1)
		srv := createServer(t, ServerOptions{}, func(c *Socket) {
			nc := c.NetConn()
			defer nc.Close() // a net.Conn's owner closes it: the goodbye still goes out
			sc := bufio.NewScanner(nc)
			for sc.Scan() {
				c.WriteString(sc.Text() + "\n")
			}
			scanned <- sc.Err()
			c.WriteString("bye\n")
		})
		port := listenTCP(t, srv)
		client := dialRaw(t, port)
		br := bufio.NewReader(client)
		client.Write([]byte("hello\n"))
		if line, err := br.ReadString('\n'); line != "hello\n" || err != nil {
			t.Fatalf("echo = %q, %v", line, err)
		}
		result := make(chan error, 1)
		go func() { result <- srv.Shutdown(ctxTimeout(t)) }()
		if err := <-scanned; !errors.Is(err, ErrServerShutdown) {
			t.Errorf("Scanner.Err = %v; want ErrServerShutdown", err)
		}
		if line, _ := br.ReadString('\n'); line != "bye\n" {
			t.Errorf("after the shutdown the client read %q; want the handler's goodbye", line)
		}
		client.Close()
		if err := <-result; err != nil {
			t.Errorf("Shutdown = %v; want nil", err)
		}
	})
	t.Run("Read sees the idle timeout", func(t *testing.T) {
		nc, s, peer := icNetConn(t, ConnectOptions{})
		s.SetTimeout(10 * time.Millisecond)
		_, err := nc.Read(make([]byte, 8))
		var ne net.Error
		if !errors.Is(err, ErrIdleTimeout) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read on an idle connection = %v; want ErrIdleTimeout, a timeout", err)
		}
		s.SetTimeout(0)
		peer.Write([]byte("late"))
		if got, err := io.ReadAll(io.LimitReader(nc, 4)); string(got) != "late" || err != nil {
			t.Errorf("Read after the timeout = %q, %v; want %q", got, err, "late")
		}
	})
	t.Run("a blocked Write sees the idle timeout", func(t *testing.T) {
		s, _ := flowPair(t, "unix", ConnectOptions{})
		nc := s.NetConn()
		defer nc.Close()
		res := make(chan error, 1)
		go func() {
			chunk := make([]byte, 64<<10)
			for {
				if _, err := nc.Write(chunk); err != nil {
					res <- err
					return
				}
			}
		}()
		waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
		s.SetTimeout(10 * time.Millisecond)
		if err := <-res; !errors.Is(err, ErrIdleTimeout) {
			t.Errorf("blocked Write at the idle timeout = %v; want ErrIdleTimeout", err)
		}
	})
}

// A Write blocked on a peer that reads nothing is released by Destroy,
// and on a server's socket by Shutdown's deadline, which destroys it:
// ErrSocketClosed, with how much it had queued.
func TestBlockedWriteReleasedByDestroyAndShutdown(t *testing.T) {
	writeUntilError := func(s *Socket) error {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := s.Write(chunk); err != nil {
				return err
			}
		}
	}
	t.Run("Destroy", func(t *testing.T) {
		s, _ := flowPair(t, "unix", ConnectOptions{})
		res := make(chan error, 1)
		go func() { res <- writeUntilError(s) }()
		waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
		s.Destroy()
		if err := <-res; !errors.Is(err, ErrSocketClosed) {
			t.Errorf("blocked Write after Destroy = %v; want ErrSocketClosed", err)
		}
	})
	t.Run("Shutdown", func(t *testing.T) {
		parked := make(chan *Socket, 1)
		res := make(chan error, 1)
		srv := createServer(t, ServerOptions{}, func(c *Socket) {
			parked <- c
			res <- writeUntilError(c)
		})
		port := listenTCP(t, srv)
		dialRaw(t, port) // reads nothing
		c := <-parked
		waitUntil(t, "the handler's Write to block on a full queue", func() bool { return flowWriteParked(c) })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var forced *ForcedError
		if err := srv.Shutdown(ctx); !errors.As(err, &forced) || forced.Forced != 1 {
			t.Errorf("Shutdown = %v; want a *ForcedError with one connection forced", err)
		}
		if err := <-res; !errors.Is(err, ErrSocketClosed) {
			t.Errorf("handler's blocked Write after the forced Shutdown = %v; want ErrSocketClosed", err)
		}
	})
}
