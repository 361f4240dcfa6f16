package nodenet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Node's manual's echo server: c.write('hello\r\n'); c.pipe(c).
func TestEchoServerGreetsThenPipes(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(c *Socket) {
		c.SendString("hello\r\n", "", nil)
		c.Pipe(c)
	})
	port := listenTCP(t, srv)

	c, err := ConnectTCP(port, "")
	if err != nil {
		t.Fatal(err)
	}
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

// Node's reference sequence 1: the server writes and ends first.
func TestServerEndsFirst(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	s := accept(t, conns)
	sr := record(t, s)
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
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	r := record(t, s)
	raw.Write([]byte("req"))
	raw.CloseWrite()
	r.waitFor("end", isKind[EndEvent])
	if got := s.ReadyState(); got != StateWriteOnly {
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
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
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

func TestHighWaterMarkAndDrain(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	go io.Copy(io.Discard, raw)

	if ok, _ := s.Send(make([]byte, DefaultHighWaterMark-1), nil); !ok {
		t.Error("Send(16383 bytes) = false; want true")
	}
	cb := make(chan error, 1)
	if ok, _ := s.Send(make([]byte, DefaultHighWaterMark), func(err error) { cb <- err }); ok {
		t.Error("Send(16384 more bytes) = true; want false")
	}
	// Whatever this one returns (true if the kernel has taken the rest
	// meanwhile), it must not cancel the owed drain (v0.10.18's bug).
	s.Send([]byte("x"), nil)
	r.waitFor("drain", isKind[DrainEvent])
	if err := <-cb; err != nil {
		t.Errorf("callback error %v", err)
	}
	if got := s.BufferSize(); got != 0 {
		t.Errorf("BufferSize after drain = %d; want 0", got)
	}
	s.Destroy()
	drains := 0
	for _, ev := range r.wait() {
		if isKind[DrainEvent](ev) {
			drains++
		}
	}
	if drains != 1 {
		t.Errorf("%d DrainEvents; want 1", drains)
	}
}

func TestWritesWhileConnecting(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := Connect(ConnectOptions{Port: port, Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ReadyState(); got != StateOpening {
		t.Errorf("ReadyState while connecting = %v; want opening", got)
	}
	for i := 1; i <= 9; i++ {
		c.SendString("a", "", nil)
		if got := c.BufferSize(); got > i {
			t.Errorf("BufferSize after %d one-byte writes = %d", i, got)
		}
	}
	called := make(chan error, 1)
	c.SendString("héllo", "", func(err error) { called <- err })
	cr := record(t, c)
	s := accept(t, conns)
	sr := record(t, s)
	cr.waitFor("connect", isKind[ConnectEvent])
	c.SendString("after", "", nil)
	if got, want := string(sr.waitData(len("aaaaaaaaahélloafter"))), "aaaaaaaaahélloafter"; got != want {
		t.Errorf("server got %q; want %q", got, want)
	}
	if got := c.BytesWritten(); got != int64(len("aaaaaaaaahélloafter")) {
		t.Errorf("BytesWritten = %d", got)
	}
	if err := <-called; err != nil {
		t.Errorf("callback of a write queued while connecting: %v", err)
	}
	if i := indexOf(cr.events(), isKind[ConnectEvent]); i != 0 {
		t.Errorf("ConnectEvent at %d; want first", i)
	}
}

func indexOf(evs []Event, match func(Event) bool) int {
	for i, ev := range evs {
		if match(ev) {
			return i
		}
	}
	return -1
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// The callback of a write queued while connecting runs once, with the
	// error that closed the socket, before the CloseEvent; but the refusal
	// may come first, and then the write is refused, without a callback.
	var cbErrs []error
	_, sendErr := c.SendString("q", "", func(err error) { cbErrs = append(cbErrs, err) })
	evs := record(t, c).wait()
	if got, want := names(evs), "error(connect ECONNREFUSED) close(true)"; got != want {
		t.Fatalf("events %q; want %q", got, want)
	}
	err = evs[0].(ErrorEvent).Err
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != "ECONNREFUSED" || ne.Syscall != "connect" {
		t.Errorf("error %#v; want Code ECONNREFUSED, Syscall connect", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false")
	}
	switch {
	case sendErr == nil && (len(cbErrs) != 1 || !errors.Is(cbErrs[0], syscall.ECONNREFUSED)):
		t.Errorf("callback of a write queued before a failed connect got %v; want one call with ECONNREFUSED", cbErrs)
	case sendErr != nil && (!errors.Is(sendErr, ErrSocketClosed) || len(cbErrs) != 0):
		t.Errorf("write after the refusal = %v, callback got %v; want ErrSocketClosed and no callback", sendErr, cbErrs)
	}
}

func TestConnectUnixMissing(t *testing.T) {
	c, err := ConnectUnix(sockPath(t))
	if err != nil {
		t.Fatal(err)
	}
	evs := record(t, c).wait()
	if got, want := names(evs), "error(connect ENOENT) close(true)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if err := evs[0].(ErrorEvent).Err; !errors.Is(err, syscall.ENOENT) {
		t.Errorf("errors.Is(%v, ENOENT) = false", err)
	}
}

// The consumer's contract: a socket whose events nobody reads buffers up
// to the mark, keeps the data across the peer's FIN, and closes last.
func TestNoConsumerKeepsDataThenCloses(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	raw.Write([]byte("payload"))
	raw.CloseWrite()
	waitUntil(t, "the payload read", func() bool { return s.BytesRead() == 7 })
	// It stays open until its data is consumed: close comes last.
	r := record(t, s)
	evs := r.wait()
	if got, want := names(evs), "data end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if got := string(dataOf(evs)); got != "payload" {
		t.Errorf("data %q; want payload", got)
	}
	if got := readAll(t, raw); len(got) != 0 {
		t.Errorf("peer read %q", got)
	}
}

// A FIN with no unread data closes a socket whose events nobody reads.
func TestNoConsumerFINCloses(t *testing.T) {
	srv, port, conns := newServer(t, ServerOptions{})
	raw := dialRaw(t, port)
	accept(t, conns)
	raw.CloseWrite()
	readAll(t, raw)
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown: %v (the connection did not close)", err)
	}
}

// Pause stops reading from the kernel at the mark: the peer's writes back
// up, and nothing is lost.
func TestPauseStopsReading(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{})
	s.Pause()
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])

	payload := make([]byte, 8<<20)
	rand.New(rand.NewSource(1)).Read(payload)
	wrote := make(chan error, 1)
	go func() {
		_, err := raw.Write(payload)
		raw.CloseWrite()
		wrote <- err
	}()
	// While paused the socket reads at most the mark plus one read; the
	// rest stays in the kernel buffers and the peer's Write blocks.
	raw.SetWriteDeadline(time.Now().Add(testTimeout))
	waitUntil(t, "the mark read", func() bool { return s.BytesRead() >= DefaultHighWaterMark })
	if got := dataOf(r.events()); len(got) != 0 {
		t.Fatalf("%d bytes delivered while paused", len(got))
	}
	select {
	case err := <-wrote:
		t.Fatalf("the peer wrote 8 MiB to a paused socket (err %v)", err)
	default:
	}
	if got, max := s.BytesRead(), int64(DefaultHighWaterMark+readBufSize); got > max {
		t.Errorf("BytesRead while paused = %d; want <= %d", got, max)
	}
	s.Resume()
	got := r.waitData(len(payload))
	if !bytes.Equal(got, payload) {
		t.Errorf("data differs after resume (%d bytes)", len(got))
	}
	if err := <-wrote; err != nil {
		t.Error(err)
	}
}

func TestPausedDataAndFINCloseLast(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c.Pause()
	r := record(t, c)
	s := accept(t, conns)
	s.EndString("payload", "")
	r.waitFor("connect", isKind[ConnectEvent])
	waitUntil(t, "7 bytes read", func() bool { return c.BytesRead() >= 7 })
	if got := names(r.events()); got != "connect" {
		t.Errorf("events while paused %q; want connect", got)
	}
	c.Resume()
	if got, want := names(r.wait()), "connect data end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

func TestBigTransferChecksum(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	port := listenTCP(t, srv)
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	payload := make([]byte, 8<<20)
	rand.New(rand.NewSource(2)).Read(payload)
	go func() {
		for off := 0; off < len(payload); off += 100_000 {
			c.Write(payload[off:min(off+100_000, len(payload))])
		}
		c.End()
	}()
	evs := r.wait()
	if got, want := sha256.Sum256(dataOf(evs)), sha256.Sum256(payload); got != want {
		t.Errorf("echoed data differs: %d bytes back", len(dataOf(evs)))
	}
	if got := names(evs); got != "connect data end close(false)" {
		t.Errorf("events %q", got)
	}
}

// Write blocks while the queue is at the mark.
func TestWriteBlocksAtMark(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 1024}})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	payload := make([]byte, 4<<20)
	rand.New(rand.NewSource(3)).Read(payload)
	done := make(chan error, 1)
	go func() {
		for off := 0; off < len(payload); off += 4096 {
			if _, err := s.Write(payload[off : off+4096]); err != nil {
				done <- err
				return
			}
			if bs := s.BufferSize(); bs > 1024+4096 {
				done <- errors.New("BufferSize grew past the mark plus one write")
				return
			}
		}
		done <- s.End()
	}()
	got := readAll(t, raw)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("peer got %d bytes, differing", len(got))
	}
}

func TestDestroy(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
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
	s, _ := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
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
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
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

// Node scenario 27: a write to a peer that has gone gives EPIPE or
// ECONNRESET as an event, the callback gets it first, and close(true).
func TestWriteToClosedPeer(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{AllowHalfOpen: true})
	r := record(t, s)
	raw.Close()
	r.waitFor("end", isKind[EndEvent])
	var cbErr error
	cbDone := make(chan struct{})
	for i := 0; ; i++ {
		_, err := s.Send(make([]byte, 1024), func(err error) {
			if err != nil && cbErr == nil {
				cbErr = err
				close(cbDone)
			}
		})
		if err != nil {
			break
		}
		select {
		case <-cbDone:
		case <-r.done:
		default:
			continue
		}
		break
	}
	evs := r.wait()
	last := evs[len(evs)-1]
	if last != (CloseEvent{HadError: true}) {
		t.Fatalf("events %s; want a close(true) last", names(evs))
	}
	var ne *Error
	if !errors.As(evs[len(evs)-2].(ErrorEvent).Err, &ne) || ne.Syscall != "write" || (ne.Code != "EPIPE" && ne.Code != "ECONNRESET") {
		t.Errorf("error %v; want write EPIPE or ECONNRESET", evs[len(evs)-2])
	}
	<-cbDone
	if cbErr == nil {
		t.Error("the failed write's callback got no error")
	}
}

func TestReconnect(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.EndString("hello\r\n", "") })
	port := listenTCP(t, srv)
	c, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		if err := c.Connect(ConnectOptions{Port: port, Host: "127.0.0.1"}); err != nil {
			t.Fatalf("round %d: Connect: %v", round, err)
		}
		var evs []Event
		for ev := range c.Events() {
			evs = append(evs, ev)
		}
		if got, want := names(evs), "connect data end close(false)"; got != want {
			t.Errorf("round %d: events %q; want %q", round, got, want)
		}
		if got := c.BytesRead(); got != 7 {
			t.Errorf("round %d: BytesRead = %d; want 7", round, got)
		}
	}
}

func TestUnixSocket(t *testing.T) {
	path := sockPath(t)
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	if err := srv.ListenUnix(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if got := srv.Address(); got != (Addr{Address: path}) {
		t.Errorf("Address() = %+v; want the path", got)
	}
	c, err := ConnectUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	c.EndString("over unix", "")
	evs := r.wait()
	if got := string(dataOf(evs)); got != "over unix" {
		t.Errorf("echo %q", got)
	}
	if got := c.RemoteAddress(); got != "" {
		t.Errorf("RemoteAddress() on a Unix socket = %q; want empty", got)
	}
}

func TestAddressesIPv4AndIPv6(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			srv := createServer(t, ServerOptions{}, nil)
			if err := srv.Listen(0, host, 0); err != nil {
				t.Skipf("no %s here: %v", host, err)
			}
			defer srv.Close()
			fam := "IPv4"
			if host == "::1" {
				fam = "IPv6"
			}
			a := srv.Address()
			if a.Address != host || a.Family != fam || a.Port == 0 {
				t.Errorf("server Address() = %+v", a)
			}
			evs := srv.Events()
			c, err := ConnectTCP(a.Port, host)
			if err != nil {
				t.Fatal(err)
			}
			r := record(t, c)
			r.waitFor("connect", isKind[ConnectEvent])
			var s *Socket
			for ev := range evs {
				if ce, ok := ev.(ConnectionEvent); ok {
					s = ce.Socket
					break
				}
			}
			defer s.Destroy()
			if c.RemoteAddress() != host || c.RemotePort() != a.Port {
				t.Errorf("client remote %s %d", c.RemoteAddress(), c.RemotePort())
			}
			if s.LocalAddress() != host || s.LocalPort() != a.Port {
				t.Errorf("server socket local %s %d", s.LocalAddress(), s.LocalPort())
			}
			if s.RemotePort() != c.LocalPort() || s.RemotePort() == a.Port {
				t.Errorf("server socket remote port %d; client local port %d", s.RemotePort(), c.LocalPort())
			}
			if got := c.Address(); got.Family != fam || got.Address != host {
				t.Errorf("client Address() = %+v", got)
			}
			c.Destroy()
			r.wait()
			if c.RemoteAddress() != "" || c.Address() != (Addr{}) {
				t.Errorf("addresses after close: %q %+v", c.RemoteAddress(), c.Address())
			}
			s.Destroy()
			srv.Close()
			for range evs {
			}
		})
	}
}

// End while connecting with nothing queued: the FIN goes out once
// connected, and both sides close.
func TestEndWhileConnecting(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
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
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	s.EndString("bye", "")
	if got := string(readAll(t, raw)); got != "bye" {
		t.Errorf("peer read %q; want bye", got)
	}
	if got := s.ReadyState(); got != StateReadOnly {
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
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	raw.Write([]byte("before"))
	r.waitData(len("before"))
	s.Destroy()
	raw.Write([]byte("after"))
	evs := r.wait()
	if got, want := names(evs), "connect data close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if got := string(dataOf(evs)); got != "before" {
		t.Errorf("data %q; want before", got)
	}
}

// test-net-socket-destroy-twice: Destroy inside the error handler of a
// refused connect gives one error and one close.
func TestDestroyInErrorHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
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
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	c, err := Connect(ConnectOptions{Port: port, Host: "127.0.0.1", AllowHalfOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	s := accept(t, conns)
	sr := record(t, s)
	s.End()
	cr.waitFor("end", isKind[EndEvent])
	if got := c.ReadyState(); got != StateWriteOnly {
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

// Pipe is one more listener: a reader of Events still gets every
// DataEvent, and dst is ended when the source ends.
func TestPipeAndEventsBothSeeData(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	src, srcPeer := rawPair(t, ConnectOptions{})
	dst, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
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

// MaxBufferSize bounds the queue against a peer that never reads: Send
// fails with ErrBufferFull instead of growing, Write waits for room.
func TestMaxBufferSize(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{Flow: Flow{MaxBufferSize: 64 << 10}})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	chunk := make([]byte, 16<<10)
	var err error
	queued := 0
	for i := 0; i < 10000 && err == nil; i++ {
		if _, err = s.Send(chunk, nil); err == nil {
			queued += len(chunk)
		}
	}
	if !errors.Is(err, ErrBufferFull) {
		t.Fatalf("Send against a peer that never reads: %v after %d bytes; want ErrBufferFull", err, queued)
	}
	if got := s.BufferSize(); got > 64<<10 {
		t.Errorf("BufferSize() = %d; want <= %d", got, 64<<10)
	}
	if err := s.End(make([]byte, 64<<10+1)); !errors.Is(err, ErrBufferFull) {
		t.Errorf("End with data past the bound = %v; want ErrBufferFull", err)
	}
	// Write blocks instead, and goes on once the peer reads.
	wrote := make(chan error, 1)
	go func() {
		_, err := s.Write(make([]byte, 200<<10)) // larger than the bound: written in parts
		if err == nil {
			err = s.End()
		}
		wrote <- err
	}()
	got := readAll(t, raw)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if len(got) != queued+200<<10 {
		t.Errorf("peer read %d bytes; want %d", len(got), queued+200<<10)
	}
	if _, err := Connect(ConnectOptions{Port: 1, Flow: Flow{MaxBufferSize: -1}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Connect with MaxBufferSize -1 = %v; want ErrInvalidArgument", err)
	}
}
