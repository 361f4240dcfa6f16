//go:build unix

// SendHandle and ReceiveHandle pass descriptors as SCM_RIGHTS, which only
// unix has, and these tests make socketpairs and read descriptor flags.

package nodenet

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unixPair gives the two ends of a stream socketpair, as a parent and a
// child process share them; Cleanup closes both.
func unixPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	return socketpairConns(t, syscall.SOCK_STREAM)
}

func socketpairConns(t testing.TB, typ int) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	syscall.ForkLock.RLock() // no exec may inherit the pair before it is close-on-exec
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	var ucs [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f) // a duplicate: f is closed at once
		f.Close()
		if err != nil {
			t.Fatalf("FileConn: %v", err)
		}
		ucs[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return ucs[0], ucs[1]
}

// dialRead connects to port and returns all the server sends until its end.
func dialRead(t testing.TB, port int) string {
	t.Helper()
	c := dialRaw(t, port)
	defer c.Close()
	return string(readAll(t, c))
}

func closeOnExec(t testing.TB, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
	}); err != nil || errno != 0 {
		t.Fatalf("fcntl(F_GETFD): %v %v", err, errno)
	}
	return flags&syscall.FD_CLOEXEC != 0
}

// receive is ReceiveHandle that fails the test on an error.
func receive(t testing.TB, uc *net.UnixConn) (*os.File, string) {
	t.Helper()
	uc.SetReadDeadline(time.Now().Add(testTimeout))
	f, msg, err := ReceiveHandle(uc)
	if err != nil {
		t.Fatalf("ReceiveHandle: %v", err)
	}
	return f, string(msg)
}

// A listening server's handle goes to the receiver, which serves on the
// same port; the sender keeps listening until it closes.
func TestSendHandleServer(t *testing.T) {
	t.Parallel()
	ca, cb := connPair(t, "unix") // a listening Unix socket's, not a socketpair's
	a, b := ca.(*net.UnixConn), cb.(*net.UnixConn)
	src := createServer(t, ServerOptions{}, func(c *Socket) { c.EndString("sender\n", "") })
	port := listenTCP(t, src)
	if err := SendHandle(a, src, []byte("take it")); err != nil {
		t.Fatalf("SendHandle: %v", err)
	}
	// Nobody accepts for the receiver yet: the sender, still listening,
	// serves this one.
	if got := dialRead(t, port); got != "sender\n" {
		t.Fatalf("before the receiver listens, got %q; want the sender's answer", got)
	}
	// From now on only the receiver accepts. The descriptor in flight
	// keeps the socket listening: a connection made now waits in its
	// backlog for the receiver.
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	waiting := dialRaw(t, port)

	f, msg := receive(t, b)
	if msg != "take it" {
		t.Errorf("message %q; want %q", msg, "take it")
	}
	if !closeOnExec(t, f) {
		t.Error("the received descriptor is not close-on-exec")
	}
	dst := createServer(t, ServerOptions{}, func(c *Socket) { c.EndString("receiver\n", "") })
	err := dst.ListenHandle(f)
	f.Close() // ListenHandle keeps a duplicate
	if err != nil {
		t.Fatalf("ListenHandle: %v", err)
	}
	t.Cleanup(func() { dst.Close() })
	if got := dst.Address().Port; got != port {
		t.Errorf("receiver listens on port %d; want %d", got, port)
	}
	if got := string(readAll(t, waiting)); got != "receiver\n" {
		t.Errorf("the connection made in between got %q; want the receiver's answer", got)
	}
	if got := dialRead(t, port); got != "receiver\n" {
		t.Errorf("after the hand-over, got %q; want the receiver's answer", got)
	}
}

// A plain listener (any syscall.Conn) goes as a duplicate, with an empty
// message; the caller keeps the original.
func TestSendHandleListener(t *testing.T) {
	t.Parallel()
	a, b := unixPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := SendHandle(a, ln, nil); err != nil {
		t.Fatalf("SendHandle: %v", err)
	}
	ln.Close() // the receiver's duplicate keeps the socket listening
	f, msg := receive(t, b)
	if msg != "" {
		t.Errorf("message %q; want none", msg)
	}
	dst := createServer(t, ServerOptions{}, func(c *Socket) { c.EndString("receiver\n", "") })
	err = dst.ListenHandle(f)
	f.Close()
	if err != nil {
		t.Fatalf("ListenHandle: %v", err)
	}
	t.Cleanup(func() { dst.Close() })
	if got := dialRead(t, ln.Addr().(*net.TCPAddr).Port); got != "receiver\n" {
		t.Errorf("got %q; want the receiver's answer", got)
	}
}

// A connected socket moves: the sender's Socket closes cleanly, and a
// Socket made on the received descriptor echoes to the same client.
func TestSendHandleSocket(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		pauseOnConnect bool // the socket reads nothing: the client may send first
	}{
		{"PauseOnConnect, client sends first", true},
		{"reading, client waits", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := unixPair(t)
			conns := make(chan *Socket, 1)
			srv := createServer(t, ServerOptions{PauseOnConnect: tc.pauseOnConnect}, func(c *Socket) { conns <- c })
			port := listenTCP(t, srv)
			client := dialRaw(t, port)
			s := accept(t, conns)
			if tc.pauseOnConnect {
				if _, err := client.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
			}
			orig := record(t, s)
			if err := SendHandle(a, s, []byte("conn")); err != nil {
				t.Fatalf("SendHandle: %v", err)
			}
			if got := names(orig.wait()); got != "close(false)" {
				t.Errorf("the sent socket's events: %s; want close(false)", got)
			}
			if n := srv.Connections(); n != 0 {
				t.Errorf("the sender's server counts %d connections; want 0", n)
			}
			if _, err := s.Send([]byte("x"), nil); !errors.Is(err, ErrSocketClosed) {
				t.Errorf("Send on the sent socket: %v; want ErrSocketClosed", err)
			}

			f, msg := receive(t, b)
			if msg != "conn" {
				t.Errorf("message %q; want %q", msg, "conn")
			}
			moved, err := NewSocket(SocketOptions{FD: f})
			f.Close() // NewSocket keeps a duplicate
			if err != nil {
				t.Fatalf("NewSocket: %v", err)
			}
			if got, want := moved.RemotePort(), client.LocalAddr().(*net.TCPAddr).Port; got != want {
				t.Errorf("moved socket's remote port %d; want the client's %d", got, want)
			}
			// Both the recorder and the echo see every byte: attach them
			// while paused.
			moved.Pause()
			rec := record(t, moved)
			moved.Pipe(moved)
			moved.Resume()
			if !tc.pauseOnConnect {
				if _, err := client.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
			}
			client.SetReadDeadline(time.Now().Add(testTimeout))
			echo := make([]byte, 4)
			if _, err := io.ReadFull(client, echo); err != nil || string(echo) != "ping" {
				t.Fatalf("echo %q, %v; want \"ping\"", echo, err)
			}
			client.CloseWrite()
			if rest := readAll(t, client); len(rest) != 0 {
				t.Errorf("after the echo, got %q; want the end", rest)
			}
			if got := names(rec.wait()); got != "data end close(false)" {
				t.Errorf("moved socket's events: %s; want data end close(false)", got)
			}
		})
	}
}

// A socket holding data it has read (or written and not flushed) is
// refused and left as it was; nothing is sent.
func TestSendHandleRefusesBufferedData(t *testing.T) {
	for _, tc := range []struct {
		name        string
		setup       func(*Socket) // in the handler, before the client writes
		first, more string        // the client's bytes before and after the refusal
		want        string        // in the error
	}{
		{"unread", func(*Socket) {}, "early", " and late", "5 byte(s)"},
		{"paused", func(c *Socket) { c.Pause() }, "early", " and late", "5 byte(s)"},
		// The decoder holds the first half of "é": read, but in no event.
		{"split character", func(c *Socket) { c.SetEncoding("utf8") }, "\xc3", "\xa9", "1 byte(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := unixPair(t)
			conns := make(chan *Socket, 1)
			srv := createServer(t, ServerOptions{}, func(c *Socket) {
				tc.setup(c)
				conns <- c
			})
			client := dialRaw(t, listenTCP(t, srv))
			s := accept(t, conns)
			if _, err := client.Write([]byte(tc.first)); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the socket reads the client's bytes", func() bool { return s.BytesRead() == int64(len(tc.first)) })

			err := SendHandle(a, s, []byte("refused"))
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SendHandle: %v; want a refusal naming %s", err, tc.want)
			}
			// The socket is untouched: it delivers what it held and what
			// comes next.
			rec := record(t, s)
			s.Resume()
			if _, err := client.Write([]byte(tc.more)); err != nil {
				t.Fatal(err)
			}
			want := tc.first + tc.more
			if got := string(rec.waitData(len(want))); got != want {
				t.Errorf("data after the refusal: %q; want %q", got, want)
			}
			// Nothing went out on a: the next message received is the
			// next one sent.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := SendHandle(a, ln, []byte("next")); err != nil {
				t.Fatal(err)
			}
			f, msg := receive(t, b)
			f.Close()
			if msg != "next" {
				t.Errorf("message after the refusal: %q; want \"next\"", msg)
			}
		})
	}

	t.Run("unflushed writes", func(t *testing.T) {
		a, _ := unixPair(t)
		mine, _ := unixPair(t) // the other end never reads: the kernel's buffer fills
		f, err := mine.File()
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSocket(SocketOptions{FD: f})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		rec := record(t, s)
		s.Send(make([]byte, 4<<20), nil)
		if s.BufferSize() == 0 {
			t.Fatal("the kernel took 4 MiB: nothing is queued")
		}
		err = SendHandle(a, s, nil)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "not yet handed to the kernel") {
			t.Errorf("SendHandle: %v; want a refusal naming the queued bytes", err)
		}
		if got := s.ReadyState(); got != "open" {
			t.Errorf("the refused socket is %v; want open", got)
		}
		s.Destroy()
		rec.wait()
	})
}

// Bad arguments are errors, never panics, and send nothing.
func TestSendHandleBadArguments(t *testing.T) {
	a, b := unixPair(t)
	gramA, _ := socketpairConns(t, syscall.SOCK_DGRAM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	idle := createServer(t, ServerOptions{}, nil)
	closed := createServer(t, ServerOptions{}, nil)
	listenTCP(t, closed)
	closed.Close()
	exclusive := createServer(t, ServerOptions{}, nil)
	if err := exclusive.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1", Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exclusive.Close() })
	unconnected, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	destroyed, _ := rawPair(t, ConnectOptions{})
	destroyed.Destroy()

	for _, tc := range []struct {
		name string
		uc   *net.UnixConn
		h    any
		msg  []byte
		want error
	}{
		{"nil conn", nil, ln, nil, ErrInvalidArgument},
		{"datagram conn", gramA, ln, nil, ErrInvalidArgument},
		{"nil handle", a, nil, nil, ErrInvalidArgument},
		{"nil *Server", a, (*Server)(nil), nil, ErrInvalidArgument},
		{"nil *Socket", a, (*Socket)(nil), nil, ErrInvalidArgument},
		{"nil *os.File", a, (*os.File)(nil), nil, ErrInvalidArgument},
		{"nil *net.TCPListener", a, (*net.TCPListener)(nil), nil, ErrInvalidArgument},
		{"string", a, "127.0.0.1:80", nil, ErrInvalidArgument},
		{"int", a, 3, nil, ErrInvalidArgument},
		{"message too long", a, ln, make([]byte, maxHandleMessage+1), ErrInvalidArgument},
		{"server never listened", a, idle, nil, ErrNotRunning},
		{"server closed", a, closed, nil, ErrNotRunning},
		{"exclusive server", a, exclusive, nil, ErrInvalidArgument},
		{"socket never connected", a, unconnected, nil, ErrSocketClosed},
		{"socket destroyed", a, destroyed, nil, ErrSocketClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := SendHandle(tc.uc, tc.h, tc.msg)
			if !errors.Is(err, tc.want) {
				t.Errorf("SendHandle: %v; want an error wrapping %v", err, tc.want)
			}
		})
	}
	if exclusive.Address().Port == 0 {
		t.Error("the refused exclusive server stopped listening")
	}
	for _, uc := range []*net.UnixConn{nil, gramA} {
		if _, _, err := ReceiveHandle(uc); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ReceiveHandle(%v): %v; want ErrInvalidArgument", uc, err)
		}
	}
	// None of the calls wrote anything.
	a.CloseWrite()
	b.SetReadDeadline(time.Now().Add(testTimeout))
	if _, _, err := ReceiveHandle(b); err != io.EOF {
		t.Errorf("after the bad calls, ReceiveHandle: %v; want io.EOF", err)
	}
}

// Messages that are not one descriptor with a well-formed length are
// errors, and no descriptor that came with them stays open.
func TestReceiveHandleBadMessages(t *testing.T) {
	frame := func(size uint32, body string) []byte {
		b := binary.BigEndian.AppendUint32(nil, size)
		return append(b, body...)
	}
	// descriptors gives n fresh descriptors (of a pipe) to send.
	descriptors := func(t *testing.T, n int) []int {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		rc, err := r.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fds []int
		for range n {
			fd, err := dupFD(rc)
			if err != nil {
				t.Fatal(err)
			}
			fds = append(fds, fd)
		}
		return fds
	}
	sendFDs := func(n int) func(t *testing.T, a *net.UnixConn) {
		return func(t *testing.T, a *net.UnixConn) {
			fds := descriptors(t, n)
			if _, _, err := a.WriteMsgUnix(frame(0, ""), syscall.UnixRights(fds...), nil); err != nil {
				t.Fatal(err)
			}
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}
	}
	contains := func(part string) func(error) bool {
		return func(err error) bool { return strings.Contains(err.Error(), part) }
	}
	is := func(target error) func(error) bool {
		return func(err error) bool { return err == target }
	}
	for _, tc := range []struct {
		name string
		send func(t *testing.T, a *net.UnixConn)
		want func(error) bool
	}{
		{"no descriptor", func(t *testing.T, a *net.UnixConn) {
			a.Write(frame(5, "hello"))
		}, contains("no descriptor")},
		// The room for one descriptor is aligned: on 64-bit systems a
		// second one fits and is closed; a third is cut off.
		{"two descriptors", sendFDs(2), func(err error) bool {
			return contains("2 descriptors")(err) || contains("MSG_CTRUNC")(err)
		}},
		{"three descriptors", sendFDs(3), contains("MSG_CTRUNC")},
		{"length over the bound", func(t *testing.T, a *net.UnixConn) {
			fds := descriptors(t, 1)
			if _, _, err := a.WriteMsgUnix(frame(maxHandleMessage+1, ""), syscall.UnixRights(fds...), nil); err != nil {
				t.Fatal(err)
			}
			syscall.Close(fds[0])
		}, contains("over maxHandleMessage")},
		{"cut short", func(t *testing.T, a *net.UnixConn) {
			fds := descriptors(t, 1)
			if _, _, err := a.WriteMsgUnix(frame(10, "abc"), syscall.UnixRights(fds...), nil); err != nil {
				t.Fatal(err)
			}
			syscall.Close(fds[0])
			a.Close()
		}, is(io.ErrUnexpectedEOF)},
		{"peer closed", func(t *testing.T, a *net.UnixConn) {
			a.Close()
		}, is(io.EOF)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := unixPair(t)
			before := openFDs(t)
			tc.send(t, a)
			b.SetReadDeadline(time.Now().Add(testTimeout))
			f, msg, err := ReceiveHandle(b)
			if err == nil {
				f.Close()
				t.Fatalf("ReceiveHandle gave a handle and %q; want an error", msg)
			}
			if !tc.want(err) {
				t.Errorf("ReceiveHandle: unexpected error %v", err)
			}
			if f != nil || msg != nil {
				t.Errorf("ReceiveHandle returned %v, %q with its error", f, msg)
			}
			a.Close() // it was counted in before
			if after := openFDs(t); after > before-1 {
				t.Errorf("%d descriptors open after the message; want at most %d: a received one was kept", after, before-1)
			}
		})
	}
}

// Errors of uc keep their cause; a closed uc is found before a Socket is
// taken.
func TestSendHandleConnErrors(t *testing.T) {
	t.Parallel()
	a, b := unixPair(t)
	s, peer, rec := connectedRawPair(t, ConnectOptions{})
	a.Close()
	if err := SendHandle(a, s, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SendHandle on a closed conn: %v; want net.ErrClosed", err)
	}
	if got := s.ReadyState(); got != "open" {
		t.Errorf("after the failed send the socket is %v; want open", got)
	}
	peer.Write([]byte("still here"))
	if got := string(rec.waitData(10)); got != "still here" {
		t.Errorf("the socket then read %q; want \"still here\"", got)
	}
	b.SetReadDeadline(time.Now()) // already past: nothing comes
	if _, _, err := ReceiveHandle(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReceiveHandle past its deadline: %v; want os.ErrDeadlineExceeded", err)
	}
}

// A message of maxHandleMessage bytes, which a stream takes in parts,
// arrives whole, and the next message after it.
func TestSendHandleLongMessage(t *testing.T) {
	t.Parallel()
	a, b := unixPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	long := make([]byte, maxHandleMessage)
	for i := range long {
		long[i] = byte(i * 7)
	}
	sent := make(chan error, 1)
	go func() {
		err := SendHandle(a, ln, long)
		if err == nil {
			err = SendHandle(a, ln, []byte("second"))
		}
		sent <- err
	}()
	f, msg := receive(t, b)
	f.Close()
	if msg != string(long) {
		t.Errorf("long message: %d bytes, differs from the %d sent", len(msg), len(long))
	}
	f, msg = receive(t, b)
	f.Close()
	if msg != "second" {
		t.Errorf("message after the long one: %q; want \"second\"", msg)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
