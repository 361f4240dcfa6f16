// The net.Conn view (NetConn) and WrapConn over Go's stream connections.

package nodenet

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	_ io.WriteCloser  = (*Socket)(nil)
	_ io.StringWriter = (*Socket)(nil)
)

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
		nc, s, peer := netConnPair(t, ConnectOptions{})
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

// WrapConn works on Go's stream conns with descriptors too (the direct
// write path), over IPv4, IPv6 and a Unix socket; End sends a FIN.
func TestWrapConnStreamConns(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp4", "tcp6", "unix"} {
		t.Run(network, func(t *testing.T) {
			conn, peer := connPair(t, network)
			s, err := WrapConn(conn, SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if network != "unix" {
				if got, want := s.RemotePort(), peer.LocalAddr().(*net.TCPAddr).Port; got != want {
					t.Errorf("RemotePort = %d; want %d", got, want)
				}
			}
			rec := record(t, s)
			if _, err := s.SendString("from nodenet", "", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := peer.Write([]byte("from go")); err != nil {
				t.Fatal(err)
			}
			if err := peer.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			// Without AllowHalfOpen the socket ends its side after the
			// peer's end: the peer reads to EOF.
			if got := string(readAll(t, peer)); got != "from nodenet" {
				t.Errorf("peer got %q; want %q", got, "from nodenet")
			}
			checkEventsAndData(t, "the socket", rec.wait(), "data end close(false)", "from go")
		})
	}
}

// net.Pipe has no CloseWrite, so it cannot half-close: End stops this
// side's writes but tells the peer nothing, and this side still reads;
// the peer hears the end only when the connection closes.
func TestWrapConnPipe(t *testing.T) {
	t.Parallel()
	ca, cb := net.Pipe()
	a, err := WrapConn(ca, SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := WrapConn(cb, SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := record(t, a), record(t, b)
	if _, err := a.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	rb.waitData(4)
	if _, err := b.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	ra.waitData(4)

	if err := a.End(); err != nil {
		t.Fatalf("End on a net.Pipe socket = %v", err)
	}
	if _, err := a.Send([]byte("x"), nil); !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("Send after End = %v; want ErrWriteAfterEnd", err)
	}
	if st := a.ReadyState(); st != "readOnly" {
		t.Errorf("ReadyState after End = %v; want readOnly", st)
	}
	if _, err := b.Write([]byte(" after end")); err != nil {
		t.Fatalf("peer Write after End = %v", err)
	}
	if got := string(ra.waitData(14)); got != "pong after end" {
		t.Errorf("a read %q; want %q", got, "pong after end")
	}
	for _, ev := range rb.events() {
		if _, ok := ev.(EndEvent); ok {
			t.Error("b got an EndEvent through net.Pipe, which cannot half-close")
		}
	}

	a.Destroy()
	if got, want := names(ra.wait()), "data error(write after end) data close(false)"; got != want {
		t.Errorf("a's events %q; want %q", got, want)
	}
	checkEventsAndData(t, "b", rb.wait(), "data end close(false)", "ping")
}

// Bad arguments are errors wrapping ErrInvalidArgument, never a panic, and
// leave the conn open and the caller's.
func TestWrapConnBadArguments(t *testing.T) {
	pc, pp := net.Pipe()
	defer pc.Close()
	defer pp.Close()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		name string
		conn net.Conn
		opts SocketOptions
	}{
		{"nil conn", nil, SocketOptions{}},
		{"typed nil *net.TCPConn", (*net.TCPConn)(nil), SocketOptions{}},
		{"typed nil *tls.Conn", (*tls.Conn)(nil), SocketOptions{}},
		{"FD set", pc, SocketOptions{FD: f}},
		{"Type set", pc, SocketOptions{Type: "tcp"}},
		{"negative HighWaterMark", pc, SocketOptions{Flow: Flow{HighWaterMark: -1}}},
		{"negative MaxBufferSize", pc, SocketOptions{Flow: Flow{MaxBufferSize: -1}}},
		{"LowWaterMark not below HighWaterMark", pc, SocketOptions{Flow: Flow{HighWaterMark: 10, LowWaterMark: 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := WrapConn(tc.conn, tc.opts)
			if s != nil || !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("WrapConn = %v, %v; want nil and an ErrInvalidArgument", s, err)
			}
		})
	}
	if err := pc.SetDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Errorf("the conn was closed by a failed WrapConn: %v", err)
	}
}

// netConnPair gives the NetConn view of a client socket and its raw peer.
func netConnPair(t *testing.T, opts ConnectOptions) (net.Conn, *Socket, *net.TCPConn) {
	t.Helper()
	s, peer := rawPair(t, opts)
	nc := s.NetConn()
	t.Cleanup(func() { nc.Close() })
	return nc, s, peer
}

// bufio over the view: lines, then io.EOF at the peer's end, and again
// after. A write after it fails with EPIPE, as Node's rule says, unless
// the socket allows half-open; then the reply goes out and CloseWrite
// ends it.
func TestNetConnBufio(t *testing.T) {
	t.Parallel()
	for _, halfOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowHalfOpen=%v", halfOpen), func(t *testing.T) {
			nc, _, peer := netConnPair(t, ConnectOptions{AllowHalfOpen: halfOpen})
			if _, err := peer.Write([]byte("line one\nline two\n")); err != nil {
				t.Fatal(err)
			}
			peer.CloseWrite()
			br := bufio.NewReader(nc)
			for _, want := range []string{"line one\n", "line two\n"} {
				if got, err := br.ReadString('\n'); got != want || err != nil {
					t.Fatalf("ReadString = %q, %v; want %q, nil", got, err, want)
				}
			}
			if got, err := br.ReadString('\n'); got != "" || err != io.EOF {
				t.Fatalf("ReadString at the end = %q, %v; want io.EOF", got, err)
			}
			if n, err := nc.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Fatalf("Read after io.EOF = %d, %v; want io.EOF again", n, err)
			}
			_, err := nc.Write([]byte("reply\n"))
			if !halfOpen {
				if !errors.Is(err, syscall.EPIPE) {
					t.Errorf("Write after the peer's end = %v; want EPIPE", err)
				}
				if got := readAll(t, peer); len(got) != 0 {
					t.Errorf("peer got %q; want nothing", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Write after the peer's end with AllowHalfOpen = %v", err)
			}
			if err := nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if got := string(readAll(t, peer)); got != "reply\n" {
				t.Errorf("peer got %q; want %q", got, "reply\n")
			}
		})
	}
}

// io.Copy(nc, nc) is an echo; a MiB comes back whole.
func TestNetConnIOCopyEcho(t *testing.T) {
	t.Parallel()
	nc, _, peer := netConnPair(t, ConnectOptions{})
	echoed := make(chan error, 1)
	go func() {
		_, err := io.Copy(nc, nc)
		if err == nil {
			err = nc.(interface{ CloseWrite() error }).CloseWrite()
		}
		echoed <- err
	}()
	payload := randomPayload(t, 1<<20+5)
	sent := writeThenCloseWrite(peer, payload)
	got := readAll(t, peer)
	if !bytes.Equal(got, payload) {
		t.Errorf("echo: got %d bytes; want the %d sent", len(got), len(payload))
	}
	if err := recv(t, sent, "the peer's writes"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, echoed, "io.Copy"); err != nil {
		t.Errorf("io.Copy(nc, nc) = %v", err)
	}
}

// With an encoding set, Read returns the text's bytes; what does not fit
// in p comes at the next Read.
func TestNetConnEncoding(t *testing.T) {
	t.Parallel()
	nc, s, peer := netConnPair(t, ConnectOptions{})
	if err := s.SetEncoding("hex"); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte{0xca, 0xfe}); err != nil {
		t.Fatal(err)
	}
	var got []byte
	p := make([]byte, 3)
	for len(got) < 4 {
		n, err := nc.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p[:n]...)
	}
	if string(got) != "cafe" {
		t.Errorf("read %q; want %q", got, "cafe")
	}
}

// Read deadlines: a past one fails at once, the zero time clears it, and
// a Read already blocked is released by a deadline set from another
// goroutine, losing nothing.
func TestNetConnReadDeadline(t *testing.T) {
	nc, s, peer := netConnPair(t, ConnectOptions{})
	buf := make([]byte, 16)

	nc.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("Read past its deadline = %d, %v; want a timeout", n, err)
	}
	nc.SetReadDeadline(time.Time{})
	peer.Write([]byte("x"))
	if n, err := nc.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read after clearing the deadline = %d, %v; want 1, nil", n, err)
	}

	nc.SetReadDeadline(time.Now().Add(time.Hour))
	res := make(chan error, 1)
	go func() {
		_, err := nc.Read(buf)
		res <- err
	}()
	waitUntil(t, "the Read to subscribe", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.c.out.subscribed()
	})
	nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if err := recv(t, res, "the blocked Read"); !isTimeout(err) {
		t.Fatalf("blocked Read after a new deadline = %v; want a timeout", err)
	}
	nc.SetReadDeadline(time.Time{})
	peer.Write([]byte("late"))
	if got, err := io.ReadAll(io.LimitReader(nc, 4)); string(got) != "late" || err != nil {
		t.Errorf("Read after the timeout = %q, %v; want %q", got, err, "late")
	}
}

// Write deadlines: a past one fails at once; a Write blocked by
// backpressure (the peer reads nothing) is released by a deadline set
// meanwhile, and reports exactly what it queued: every byte counted as
// written reaches the peer.
func TestNetConnWriteDeadline(t *testing.T) {
	t.Parallel()
	nc, s, peer := netConnPair(t, ConnectOptions{})
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Write([]byte("x")); n != 0 || !isTimeout(err) {
		t.Fatalf("Write past its deadline = %d, %v; want 0 and a timeout", n, err)
	}
	nc.SetWriteDeadline(time.Now().Add(time.Hour))
	// Write queues up to the mark, then blocks.
	written, res := writeUntilBlocked(t, nc, s)
	nc.SetWriteDeadline(time.Now())
	if err := recv(t, res, "the blocked Write"); !isTimeout(err) {
		t.Fatalf("blocked Write after a new deadline = %v; want a timeout", err)
	}
	// The peer reads now, so the queue drains and a Write goes in again.
	type count struct {
		n   int64
		err error
	}
	counted := make(chan count, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(testTimeout))
		n, err := io.Copy(io.Discard, peer)
		counted <- count{n, err}
	}()
	nc.SetWriteDeadline(time.Time{})
	if _, err := nc.Write([]byte("tail")); err != nil {
		t.Fatalf("Write after clearing the deadline = %v", err)
	}
	want := written.Load() + 4
	nc.Close() // flushes what was queued, then closes
	if c := recv(t, counted, "the peer's reads"); c.err != nil || c.n != want {
		t.Errorf("peer read %d bytes, %v; want %d (everything Write reported)", c.n, c.err, want)
	}
}

// Close: nil, then net.ErrClosed; it releases a blocked Read and a blocked
// Write; what Write queued still reaches the peer before the socket is
// destroyed.
func TestNetConnClose(t *testing.T) {
	t.Parallel()
	nc, s, peer := netConnPair(t, ConnectOptions{})
	readRes := make(chan error, 1)
	go func() {
		_, err := nc.Read(make([]byte, 8))
		readRes <- err
	}()
	written, writeRes := writeUntilBlocked(t, nc, s)
	if err := nc.Close(); err != nil {
		t.Fatalf("Close = %v; want nil", err)
	}
	if err := recv(t, readRes, "the blocked Read"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("blocked Read at Close = %v; want net.ErrClosed", err)
	}
	if err := recv(t, writeRes, "the blocked Write"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("blocked Write at Close = %v; want net.ErrClosed", err)
	}
	for name, err := range map[string]error{
		"Close":       nc.Close(),
		"Read":        func() error { _, err := nc.Read(make([]byte, 1)); return err }(),
		"Write":       func() error { _, err := nc.Write([]byte("x")); return err }(),
		"SetDeadline": nc.SetDeadline(time.Now()),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close = %v; want net.ErrClosed", name, err)
		}
	}
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	n, err := io.Copy(io.Discard, peer)
	if err != nil || n != written.Load() {
		t.Errorf("peer read %d bytes, %v; want the %d written, then EOF", n, err, written.Load())
	}
	if !waitClosed(t, s, "the socket") {
		t.Error("Close closed the socket gracefully; want it destroyed")
	}
}

// Close with nothing queued destroys the socket at once: the peer sees
// the end.
func TestNetConnCloseIdle(t *testing.T) {
	t.Parallel()
	nc, s, peer := netConnPair(t, ConnectOptions{})
	if _, err := nc.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "bye" {
		t.Fatalf("peer got %q, %v; want %q", got, err, "bye")
	}
	nc.Close()
	if !waitClosed(t, s, "the socket") {
		t.Error("want the socket destroyed")
	}
	if got := readAll(t, peer); len(got) != 0 {
		t.Errorf("peer got %q after Close; want EOF", got)
	}
}

// The peer's reset is Read's error, every time.
func TestNetConnPeerReset(t *testing.T) {
	t.Parallel()
	nc, _, peer := netConnPair(t, ConnectOptions{})
	peer.SetLinger(0)
	peer.Close()
	for i := range 2 {
		if _, err := nc.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Read %d after the peer's reset = %v; want ECONNRESET", i, err)
		}
	}
}

// The addresses are the connection's; a socket without one gives an empty
// address, not nil.
func TestNetConnAddrs(t *testing.T) {
	t.Parallel()
	nc, _, peer := netConnPair(t, ConnectOptions{})
	// A Read makes sure the connection is up (Connect returns at once).
	peer.Write([]byte("x"))
	if _, err := nc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if got, want := nc.LocalAddr().String(), peer.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr = %s; want %s", got, want)
	}
	if got, want := nc.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr = %s; want %s", got, want)
	}
	if nc.LocalAddr().Network() != "tcp" {
		t.Errorf("LocalAddr().Network() = %q; want tcp", nc.LocalAddr().Network())
	}

	idle, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inc := idle.NetConn()
	if a := inc.LocalAddr(); a == nil || a.String() != "" {
		t.Errorf("LocalAddr of an unconnected socket = %v; want an empty address", a)
	}
	if a := inc.RemoteAddr(); a == nil || a.String() != "" {
		t.Errorf("RemoteAddr of an unconnected socket = %v; want an empty address", a)
	}
	if err := inc.Close(); err != nil {
		t.Errorf("Close of an unconnected socket's view = %v", err)
	}
	if c := (*Socket)(nil).NetConn(); c != nil {
		t.Errorf("NetConn of a nil socket = %v; want nil", c)
	}
}

// oneConnListener is a net.Listener that yields one conn, then waits for Close.
type oneConnListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

func (l *oneConnListener) Addr() net.Addr { return l.addr }

// net/http serves a request on a nodenet socket through its view: bufio,
// the server's background read released by a past deadline, a response
// written and the conn closed.
func TestNetConnHTTP(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	body := randomPayload(t, 256<<10)
	type result struct {
		status int
		got    []byte
		from   string
		err    error
	}
	results := make(chan result, 1)
	go func() {
		resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/echo", port), "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			results <- result{err: err}
			return
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		results <- result{resp.StatusCode, got, resp.Header.Get("X-Remote"), err}
	}()

	s := accept(t, conns)
	nc := s.NetConn()
	ln := &oneConnListener{ch: make(chan net.Conn, 1), done: make(chan struct{}), addr: nc.LocalAddr()}
	ln.ch <- nc
	closed := make(chan struct{})
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Remote", r.RemoteAddr)
			w.Write(b)
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				close(closed)
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	r := recv(t, results, "the HTTP response")
	if r.err != nil {
		t.Fatalf("POST: %v", r.err)
	}
	if r.status != http.StatusOK || !bytes.Equal(r.got, body) {
		t.Errorf("response %d with %d bytes; want 200 and the %d sent", r.status, len(r.got), len(body))
	}
	if want := fmt.Sprintf("127.0.0.1:%d", s.RemotePort()); r.from != want {
		t.Errorf("the handler saw RemoteAddr %q; want %q", r.from, want)
	}
	tr.CloseIdleConnections() // the client closes: the server's Read gets io.EOF
	recv(t, closed, "net/http to close the conn")
	ln.Close()
	if err := recv(t, served, "Serve to return"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve = %v; want net.ErrClosed from the listener", err)
	}
	// The client's end ended the socket's side too (no AllowHalfOpen),
	// so it may have closed gracefully before net/http closed the view.
	waitClosed(t, s, "the socket")
}
