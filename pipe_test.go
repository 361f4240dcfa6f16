// Pipe and Proxy: backpressure across a pipe, the marks, half-close and errors.

package nodenet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlowPipeHonoursMarks proves that Pipe obeys the destination's marks:
// 2 MiB piped from an accepted socket into a socket with a small
// HighWaterMark, whose peer first does not read (until the destination is
// unwritable, which must happen) and then reads 1 KiB at a time, keeps
// the destination's BufferSize bounded at every sample by the mark plus
// the largest item the source may hand over at once (one read joined to
// what the source held: its ReadHighWaterMark - 1 + 64 KiB), keeps the
// source's unread data under its read bound, and delivers every byte
// intact with the end. At least one DrainEvent comes to the destination.
func TestFlowPipeHonoursMarks(t *testing.T) {
	tests := []struct {
		name     string
		hwm, lwm int
	}{
		{"Node's drain when empty", 4096, 0},
		{"with a low mark", 16 << 10, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const srcRead = 4096
			dst, dpeer, dr := connectedRawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: tt.hwm, LowWaterMark: tt.lwm}})
			flowSmallBuffers(t, dst, dpeer)

			_, port, conns := newServer(t, ServerOptions{Flow: Flow{ReadHighWaterMark: srcRead}})
			client := dialRaw(t, port)
			payload := flowPayload(2<<20, uint64(tt.hwm))
			wrote := writeThenCloseWrite(client, payload)
			src := accept(t, conns)
			if err := src.Pipe(dst); err != nil {
				t.Fatal(err)
			}

			dstBound := tt.hwm - 1 + srcRead - 1 + readBufSize
			srcBound := srcRead - 1 + readBufSize
			maxSeen := 0
			sample := func() {
				bs := src.Stats().Unread
				if bs > srcBound {
					t.Errorf("source holds %d unread bytes; want <= %d", bs, srcBound)
				}
				n := dst.BufferSize()
				maxSeen = max(maxSeen, n)
				if n > dstBound {
					t.Fatalf("destination BufferSize = %d; want <= %d", n, dstBound)
				}
			}
			waitUntil(t, "the destination to be unwritable", func() bool {
				sample()
				return !dst.Writable()
			})
			flowLargeBuffers(t, dst)
			h := sha256.New()
			buf := make([]byte, 1024)
			total := 0
			dpeer.SetReadDeadline(time.Now().Add(testTimeout))
			for {
				n, err := dpeer.Read(buf)
				h.Write(buf[:n])
				total += n
				sample()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", total, err)
				}
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(payload); total != len(payload) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("the destination's peer got %d bytes (want %d), differing", total, len(payload))
			}
			if n := count[DrainEvent](dr.events()); n == 0 {
				t.Error("no DrainEvent on the destination; want at least one")
			}
			t.Logf("largest destination queue seen: %d (bound %d)", maxSeen, dstBound)
		})
	}
}

// plainBackend is a plain Go TCP server on 127.0.0.1 whose accepted conns
// come out of the channel; Cleanup closes it and them.
func plainBackend(t *testing.T) (int, <-chan *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *net.TCPConn, 4)
	serveListener(t, ln, func(c net.Conn) { conns <- c.(*net.TCPConn) })
	return ln.Addr().(*net.TCPAddr).Port, conns
}

// proxyServer is a nodenet server that proxies each connection to the backend
// port: it connects an upstream socket and calls Proxy(front, up). The
// pairs come out of the channel. smallBuffers shrinks the front socket's
// kernel receive buffer, so that backpressure reaches the client soon.
func proxyServer(t *testing.T, backendPort int, smallBuffers bool) (int, <-chan [2]*Socket) {
	t.Helper()
	pairs := make(chan [2]*Socket, 4)
	set := newSocketSet(t)
	srv := createServer(t, ServerOptions{}, func(front *Socket) {
		if !set.add(front) {
			return
		}
		if smallBuffers {
			front.mu.Lock()
			tc := front.c.nc.(*net.TCPConn)
			front.mu.Unlock()
			tc.SetReadBuffer(64 << 10)
		}
		up, err := Connect(ConnectOptions{Port: backendPort, Host: "127.0.0.1"})
		if err != nil {
			t.Errorf("Connect: %v", err)
			front.Destroy()
			return
		}
		if !set.add(up) {
			return
		}
		if err := Proxy(front, up); err != nil {
			t.Errorf("Proxy: %v", err)
			front.Destroy()
			up.Destroy()
			return
		}
		pairs <- [2]*Socket{front, up}
	})
	return listenTCP(t, srv), pairs
}

// proxyChain connects a raw client through proxyServer to plainBackend
// and returns the client, the proxy's front and upstream sockets, and the
// backend's conn. smallBuffers shrinks the front socket's receive buffer
// and the client's send buffer, so that backpressure reaches the client
// soon.
func proxyChain(t *testing.T, smallBuffers bool) (client *net.TCPConn, front, up *Socket, backend *net.TCPConn) {
	t.Helper()
	bport, backends := plainBackend(t)
	port, pairs := proxyServer(t, bport, smallBuffers)
	client = dialRaw(t, port)
	if smallBuffers {
		client.SetWriteBuffer(64 << 10)
	}
	pair := recv(t, pairs, "the proxied pair")
	return client, pair[0], pair[1], recv(t, backends, "the backend's conn")
}

// A large transfer each way through the proxy. The backend reads nothing
// until backpressure has reached the client (the upstream queue in use and
// the front socket holding the high-water mark), then everything:
// neither ever holds much more than the mark plus one read, not the 16
// MiB in flight. Then the backend answers with 4 MiB and closes; both
// proxy sockets close gracefully.
func TestProxyLargeTransferBounded(t *testing.T) {
	client, front, up, be := proxyChain(t, true)
	be.SetReadBuffer(64 << 10)

	const bound = defaultHighWaterMark + readBufSize
	var maxQueue, maxHeld atomic.Int64
	full, stop, stopped := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		isFull := false
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			q := int64(up.BufferSize())
			front.mu.Lock()
			h := int64(front.c.q.held)
			front.mu.Unlock()
			if q > maxQueue.Load() {
				maxQueue.Store(q)
			}
			if h > maxHeld.Load() {
				maxHeld.Store(h)
			}
			// The front socket holds the mark only while its pipe waits
			// for the upstream queue to drain: backpressure has reached
			// it, and through it the client.
			if !isFull && q > 0 && h >= defaultHighWaterMark {
				isFull = true
				close(full)
			}
		}
	}()
	defer func() { close(stop); <-stopped }()

	upload := randomPayload(t, 16<<20)
	sent := writeThenCloseWrite(client, upload)
	recv(t, full, "backpressure to reach the front socket")

	be.SetReadDeadline(time.Now().Add(testTimeout))
	h := sha256.New()
	if n, err := io.Copy(h, be); err != nil || n != int64(len(upload)) {
		t.Fatalf("backend read %d bytes, %v; want %d, then EOF", n, err, len(upload))
	}
	if got, want := h.Sum(nil), sha256.Sum256(upload); !bytes.Equal(got, want[:]) {
		t.Errorf("backend got sha256 %x; want %x", got, want)
	}
	if err := recv(t, sent, "the client's writes"); err != nil {
		t.Fatal(err)
	}

	download := randomPayload(t, 4<<20)
	answered := make(chan error, 1)
	go func() {
		_, err := be.Write(download)
		be.Close()
		answered <- err
	}()
	if got := readAll(t, client); len(got) != len(download) || sha256.Sum256(got) != sha256.Sum256(download) {
		t.Errorf("client got %d bytes; want the backend's %d", len(got), len(download))
	}
	if err := recv(t, answered, "the backend's answer"); err != nil {
		t.Fatal(err)
	}
	if waitClosed(t, front, "the front socket") || waitClosed(t, up, "the upstream socket") {
		t.Error("a proxy socket was destroyed; want both closed gracefully")
	}
	t.Logf("upstream queue peak %d bytes, front socket held peak %d bytes, bound %d, %d bytes moved",
		maxQueue.Load(), maxHeld.Load(), bound, len(upload)+len(download))
	if q, h := maxQueue.Load(), maxHeld.Load(); q > bound || h > bound {
		t.Errorf("upstream queue peaked at %d bytes, front socket held %d; want both <= %d (high-water mark + one read)", q, h, bound)
	}
}

// Half-close through the proxy: the client's CloseWrite reaches the
// backend as EOF; the backend still answers, the client reads it, then
// everything closes.
func TestProxyHalfClose(t *testing.T) {
	client, front, up, be := proxyChain(t, false)

	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, be)); got != "request" {
		t.Fatalf("backend got %q, then EOF; want %q", got, "request")
	}
	front.mu.Lock()
	halfOpen := front.allowHalfOpen
	front.mu.Unlock()
	if !halfOpen {
		t.Error("Proxy did not turn AllowHalfOpen on for the accepted socket")
	}
	if _, err := be.Write([]byte("reply after your end")); err != nil {
		t.Fatal(err)
	}
	be.Close()
	if got := string(readAll(t, client)); got != "reply after your end" {
		t.Errorf("client got %q; want the reply", got)
	}
	if waitClosed(t, front, "the front socket") || waitClosed(t, up, "the upstream socket") {
		t.Error("a proxy socket was destroyed; want both closed gracefully")
	}
}

// When one side of a proxied pair is destroyed, by Destroy or an error,
// the other is destroyed too, and both outer peers see the end.
func TestProxyDestroyPropagates(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		act                  func(front, up *Socket, client, be *net.TCPConn)
		clientGone, backGone bool
	}{
		{"Destroy front", func(front, _ *Socket, _, _ *net.TCPConn) { front.Destroy() }, false, false},
		{"Destroy upstream", func(_, up *Socket, _, _ *net.TCPConn) { up.Destroy() }, false, false},
		{"DestroyWithError front", func(front, _ *Socket, _, _ *net.TCPConn) {
			front.DestroyWithError(errors.New("boom"))
		}, false, false},
		{"client resets", func(_, _ *Socket, client, _ *net.TCPConn) { client.SetLinger(0); client.Close() }, true, false},
		{"backend resets", func(_, _ *Socket, _, be *net.TCPConn) { be.SetLinger(0); be.Close() }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, front, up, be := proxyChain(t, false)
			// Data flows first: both sockets are up.
			client.Write([]byte("ping"))
			be.SetReadDeadline(time.Now().Add(testTimeout))
			if _, err := io.ReadFull(be, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}

			tc.act(front, up, client, be)
			if !waitClosed(t, front, "the front socket") {
				t.Error("front closed gracefully; want destroyed")
			}
			if !waitClosed(t, up, "the upstream socket") {
				t.Error("upstream closed gracefully; want destroyed")
			}
			for _, p := range []struct {
				name string
				c    *net.TCPConn
				gone bool
			}{{"client", client, tc.clientGone}, {"backend", be, tc.backGone}} {
				if p.gone {
					continue
				}
				p.c.SetReadDeadline(time.Now().Add(testTimeout))
				if _, err := io.Copy(io.Discard, p.c); isTimeout(err) {
					t.Errorf("the %s never saw the end", p.name)
				}
			}
		})
	}
}

// A failed upstream connect destroys the front socket too.
func TestProxyUpstreamRefused(t *testing.T) {
	deadPort := refusedPort(t)
	port, pairs := proxyServer(t, deadPort, false)
	client := dialRaw(t, port)
	pair := recv(t, pairs, "the proxied pair")
	if !waitClosed(t, pair[1], "the upstream socket") || !waitClosed(t, pair[0], "the front socket") {
		t.Error("want both sockets destroyed")
	}
	client.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.Copy(io.Discard, client); isTimeout(err) {
		t.Error("the client never saw the end")
	}
}

// Bad arguments are errors; nothing is joined and the sockets are left as
// they were.
func TestProxyBadArguments(t *testing.T) {
	t.Parallel()
	s1, _ := rawPair(t, ConnectOptions{})
	closedSock, _ := rawPair(t, ConnectOptions{})
	closedSock.Destroy()
	ended, _ := rawPair(t, ConnectOptions{})
	ended.End()
	framed, _ := rawPair(t, ConnectOptions{Flow: Flow{Framing: Lines(64)}})
	idle, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Destroy()
	for _, tc := range []struct {
		name string
		a, b *Socket
		want error
	}{
		{"nil a", nil, s1, ErrInvalidArgument},
		{"nil b", s1, nil, ErrInvalidArgument},
		{"both nil", nil, nil, ErrInvalidArgument},
		{"same socket", s1, s1, ErrInvalidArgument},
		{"a never connected", idle, s1, ErrSocketClosed},
		{"b closed", s1, closedSock, ErrSocketClosed},
		{"b ended", s1, ended, ErrWriteAfterEnd},
		{"a framed", framed, s1, ErrInvalidArgument},
		{"b framed", s1, framed, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Proxy(tc.a, tc.b); !errors.Is(err, tc.want) {
				t.Errorf("Proxy = %v; want an error wrapping %v", err, tc.want)
			} else if !strings.Contains(err.Error(), "Proxy") {
				t.Errorf("error %q does not say it is Proxy's", err)
			}
			s1.mu.Lock()
			defer s1.mu.Unlock()
			if s1.allowHalfOpen || len(s1.c.pipes) > 0 || len(s1.c.pipeSrcs) > 0 {
				t.Errorf("a failed Proxy changed a socket: AllowHalfOpen %v, %d pipes, %d sources",
					s1.allowHalfOpen, len(s1.c.pipes), len(s1.c.pipeSrcs))
			}
		})
	}
}

// TestPipeBackpressure: a source piped into a destination whose peer does
// not read stops reading (its peer's Write blocks), with about the two
// high-water marks and the destination's kernel buffers read; once the
// destination's peer reads, everything arrives intact and the
// destination is ended after the source's end.
func TestPipeBackpressure(t *testing.T) {
	t.Parallel()
	src, srcPeer := rawPair(t, ConnectOptions{})
	dst, dstPeer, dr := connectedRawPair(t, ConnectOptions{})
	// Small kernel buffers, so they hold little next to the payload.
	const kbuf = 64 << 10
	srcPeer.SetWriteBuffer(kbuf)
	openTCPConn(t, src).SetReadBuffer(kbuf)
	openTCPConn(t, dst).SetWriteBuffer(kbuf)
	dstPeer.SetReadBuffer(kbuf)
	if err := src.Pipe(dst); err != nil {
		t.Fatal(err)
	}

	payload := make([]byte, 16<<20)
	rand.New(rand.NewSource(14)).Read(payload)
	wrote := writeThenCloseWrite(srcPeer, payload)

	// The stall: src waits for dst's drain with a mark's worth held, so
	// its reader has stopped (no event announces it: read src's state).
	waitUntil(t, "the pipe to stall", func() bool {
		if dst.BufferSize() == 0 {
			return false // dst is about to drain
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		return !src.c.flowingLocked() && src.c.q.held >= src.hwm
	})
	held := src.BytesRead() - dst.BytesWritten()
	if max := int64(defaultHighWaterMark + readBufSize); held > max {
		t.Errorf("source holds %d bytes; want <= %d (its mark plus one read)", held, max)
	}
	// src's mark and one read, dst's queue (mark plus one joined chunk),
	// and dst's kernel buffers, with room to spare.
	limit := int64(2*(defaultHighWaterMark+readBufSize) + defaultHighWaterMark + 1<<20)
	if got := src.BytesRead(); got > limit {
		t.Errorf("source BytesRead at the stall = %d; want <= %d", got, limit)
	}
	select {
	case err := <-wrote:
		t.Fatalf("the source's peer wrote all %d bytes though nobody reads the destination (err %v)", len(payload), err)
	default:
	}

	dstPeer.SetReadDeadline(time.Now().Add(testTimeout))
	h := sha256.New()
	n, err := io.Copy(h, dstPeer) // EOF: dst was ended after src's end
	if err != nil {
		t.Fatalf("destination's peer read: %v", err)
	}
	if n != int64(len(payload)) || !bytes.Equal(h.Sum(nil), func() []byte { s := sha256.Sum256(payload); return s[:] }()) {
		t.Errorf("destination's peer got %d bytes, checksum differs or short; want %d", n, len(payload))
	}
	if err := <-wrote; err != nil {
		t.Errorf("source's peer write: %v", err)
	}
	dstPeer.Close()
	if got, want := names(eventsWithout[DrainEvent](dr.wait())), "connect end close(false)"; got != want {
		t.Errorf("destination events = %q; want %q", got, want)
	}
}

// Node's manual's echo server: c.write('hello\r\n'); c.pipe(c).
func TestEchoServerGreetsThenPipes(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, func(c *Socket) {
		c.SendString("hello\r\n", "", nil)
		c.Pipe(c)
	})
	port := listenTCP(t, srv)

	c := connectSocket(t, ConnectOptions{Port: port, Host: ""})
	r := record(t, c)
	r.waitData(len("hello\r\n"))
	if err := c.EndString("one\r\ntwo\r\n", "utf8"); err != nil {
		t.Fatal(err)
	}
	evs := r.wait()
	if got, want := string(dataOf(evs)), "hello\r\none\r\ntwo\r\n"; got != want {
		t.Errorf("echoed %q; want %q", got, want)
	}
	if got, want := names(evs), "connect data end close(false)"; got != want {
		t.Errorf("client events %q; want %q", got, want)
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("Connections() = %d after the client closed; want 0", got)
	}
}

// Pipe is one more listener: a reader of Events still gets every
// DataEvent, and dst is ended when the source ends.
func TestPipeAndEventsBothSeeData(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	src, srcPeer := rawPair(t, ConnectOptions{})
	dst := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	dr := record(t, dst)
	if err := src.Pipe(dst); err != nil {
		t.Fatal(err)
	}
	sr := record(t, src)
	far := accept(t, conns)
	fr := record(t, far)

	srcPeer.Write([]byte("through the pipe"))
	srcPeer.CloseWrite()
	fevs := fr.wait()
	if got := string(dataOf(fevs)); got != "through the pipe" {
		t.Errorf("far side got %q; want %q", got, "through the pipe")
	}
	sevs := sr.wait()
	if got := string(dataOf(sevs)); got != "through the pipe" {
		t.Errorf("the source's own reader got %q; want the same data", got)
	}
	if got, want := names(sevs), "connect data end close(false)"; got != want {
		t.Errorf("source events %q; want %q", got, want)
	}
	dr.wait()
	if err := src.Pipe(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Pipe(nil) = %v; want ErrInvalidArgument", err)
	}
}

// TestPipeRefusesWhatProxyRefuses proves that Pipe refuses a destination
// that Proxy refuses, with the same error, and pipes nothing then: one
// never connected, one destroyed, one that has ended its side.
func TestPipeRefusesWhatProxyRefuses(t *testing.T) {
	t.Parallel()
	destroyed, _ := rawPair(t, ConnectOptions{})
	destroyed.Destroy()
	ended, _ := rawPair(t, ConnectOptions{})
	if err := ended.End(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		dst  *Socket
		want error
	}{
		{"never connected", new(Socket), ErrSocketClosed},
		{"destroyed", destroyed, ErrSocketClosed},
		{"ended", ended, ErrWriteAfterEnd},
	} {
		src, _ := rawPair(t, ConnectOptions{})
		if err := src.Pipe(tt.dst); !errors.Is(err, tt.want) {
			t.Errorf("Pipe into a socket %s = %v; want %v", tt.name, err, tt.want)
		}
		src.mu.Lock()
		pipes := len(src.c.pipes)
		src.mu.Unlock()
		if pipes != 0 {
			t.Errorf("Pipe into a socket %s left %d destination(s)", tt.name, pipes)
		}
		if err := Proxy(src, tt.dst); !errors.Is(err, tt.want) {
			t.Errorf("Proxy with a socket %s = %v; want %v", tt.name, err, tt.want)
		}
	}
}
