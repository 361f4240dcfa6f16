package nodenet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Tests of the flow-control marks: LowWaterMark (the hysteresis of
// Writable and of the DrainEvent), ReadHighWaterMark (the read-ahead
// bound), Writable and BytesBeforeUnwritable, the blocking Write, and
// Pipe's backpressure. Every test runs over real sockets (loopback TCP,
// Unix sockets under t.TempDir()); a peer that "does not read" is a raw
// net.Conn the test does not read from. A 4 KiB SO_SNDBUF on the socket's
// side (and a fixed 128 KiB SO_RCVBUF on a TCP peer) make a queue form
// after little data: the kernel then holds, measured on Linux, about
// 280 KiB over loopback TCP and 4 KiB over a Unix socket.

// flowPair connects a Socket, with opts, to a raw peer over network:
// "tcp4" (127.0.0.1), "tcp6" (::1; skipped where there is none) or "unix"
// (a socket under t.TempDir()). Cleanup closes both.
func flowPair(t *testing.T, network string, opts ConnectOptions) (*Socket, net.Conn) {
	t.Helper()
	var ln net.Listener
	var err error
	switch network {
	case "tcp4":
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		if err == nil {
			opts.Host, opts.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
		}
	case "tcp6":
		ln, err = net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		opts.Host, opts.Port = "::1", ln.Addr().(*net.TCPAddr).Port
	case "unix":
		path := sockPath(t)
		ln, err = net.Listen("unix", path)
		opts.Path = path
	default:
		t.Fatalf("flowPair: unknown network %q", network)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	defer ln.Close()
	s, err := Connect(opts)
	if err != nil {
		t.Fatalf("Connect(%+v) = %v", opts, err)
	}
	ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(testTimeout))
	c, err := ln.Accept()
	if err != nil {
		s.Destroy()
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { c.Close(); s.Destroy() })
	return s, c
}

// flowBufferSetter is what *net.TCPConn and *net.UnixConn have.
type flowBufferSetter interface {
	SetWriteBuffer(int) error
}

// flowSetSendBuffer sets s's SO_SNDBUF. The package has no option for it:
// the test reaches s's connection under its lock (s must be connected).
func flowSetSendBuffer(t *testing.T, s *Socket, n int) {
	t.Helper()
	s.mu.Lock()
	c := s.c.nc
	s.mu.Unlock()
	sc, ok := c.(flowBufferSetter)
	if !ok {
		t.Fatalf("cannot set the send buffer of %T", c)
	}
	if err := sc.SetWriteBuffer(n); err != nil {
		t.Fatal(err)
	}
}

// flowSmallBuffers shrinks s's SO_SNDBUF to 4 KiB, so that against a peer
// that does not read a queue forms after some KiB (Unix) or some hundred
// KiB (loopback TCP) rather than megabytes. A TCP peer's SO_RCVBUF is
// fixed at 128 KiB, so that it does not grow (autotuning) once the peer
// has read; smaller, under the loopback MSS (64 KiB), it would keep the
// window shut after the peer reads (no window update, persist probes
// backing off) and transfers would take tens of seconds.
func flowSmallBuffers(t *testing.T, s *Socket, peer net.Conn) {
	t.Helper()
	flowSetSendBuffer(t, s, 4096)
	if tc, ok := peer.(*net.TCPConn); ok {
		if err := tc.SetReadBuffer(128 << 10); err != nil {
			t.Fatal(err)
		}
	}
}

// flowLargeBuffers gives s a 1 MiB SO_SNDBUF again for the phase where
// the peer reads: with 4 KiB, loopback TCP crawls.
func flowLargeBuffers(t *testing.T, s *Socket) {
	t.Helper()
	flowSetSendBuffer(t, s, 1<<20)
}

// flowPayload gives n pseudo-random bytes.
func flowPayload(n int, seed uint64) []byte {
	p := make([]byte, n)
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rand.NewChaCha8(key).Read(p)
	return p
}

// flowStall queues 1 MiB on s against a peer that does not read: the
// Send returns false and most of it stays queued, for good, since the
// kernel holds only some (hundred) KiB. It returns the payload.
func flowStall(t *testing.T, s *Socket, peer net.Conn) []byte {
	t.Helper()
	flowSmallBuffers(t, s, peer)
	payload := flowPayload(1<<20, 7)
	if ok, err := s.Send(payload, nil); ok || err != nil {
		t.Fatalf("Send(1 MiB) = %v, %v; want false, nil", ok, err)
	}
	if got := s.BufferSize(); got < 512<<10 {
		t.Fatalf("BufferSize after Send(1 MiB) to a peer that does not read = %d; want most of it queued", got)
	}
	return payload
}

// flowBarrier makes the peer send one byte to s and waits for it: every
// event s queued before it has then reached the recorder.
func flowBarrier(t *testing.T, r *recorder, peer net.Conn) {
	t.Helper()
	n := len(dataOf(r.events()))
	if _, err := peer.Write([]byte{'.'}); err != nil {
		t.Fatalf("barrier write: %v", err)
	}
	r.waitData(n + 1)
}

// flowReadN reads exactly n bytes from c in a goroutine; the channel
// gives what was read, or nil and the error.
func flowReadN(c net.Conn, n int) <-chan flowRead {
	ch := make(chan flowRead, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		b := make([]byte, n)
		_, err := io.ReadFull(c, b)
		ch <- flowRead{b, err}
	}()
	return ch
}

type flowRead struct {
	b   []byte
	err error
}

func flowRecv(t *testing.T, what string, ch <-chan flowRead) []byte {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r.b
	case <-time.After(testTimeout):
		t.Fatalf("%s: timed out", what)
		return nil
	}
}

// flowWriteParked reports whether a Write is parked waiting for the queue
// to drain (it made the channel it waits on).
func flowWriteParked(s *Socket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.writable != nil
}

// TestFlowOptionValidation proves that the marks are checked by every
// entry point that takes them (Connect, NewSocket, Server.Listen and
// ListenUnix): a negative LowWaterMark, a LowWaterMark at or over the
// HighWaterMark (the explicit one, or the default 16 KiB), and a negative
// ReadHighWaterMark are errors wrapping ErrInvalidArgument, while valid
// combinations (including a read mark above the write mark) are taken.
func TestFlowOptionValidation(t *testing.T) {
	tests := []struct {
		name           string
		high, low, rhw int
		ok             bool
	}{
		{"negative LowWaterMark", 0, -1, 0, false},
		{"LowWaterMark at the default HighWaterMark", 0, DefaultHighWaterMark, 0, false},
		{"LowWaterMark over the default HighWaterMark", 0, 64 << 10, 0, false},
		{"LowWaterMark at HighWaterMark", 4096, 4096, 0, false},
		{"LowWaterMark over HighWaterMark", 4096, 8192, 0, false},
		{"negative ReadHighWaterMark", 0, 0, -1, false},
		{"negative ReadHighWaterMark with valid marks", 64 << 10, 32 << 10, -4096, false},
		{"LowWaterMark just under the default", 0, DefaultHighWaterMark - 1, 0, true},
		{"LowWaterMark just under HighWaterMark", 4096, 4095, 0, true},
		{"ReadHighWaterMark over HighWaterMark", 4096, 0, 1 << 20, true},
		{"all three", 64 << 10, 32 << 10, 4096, true},
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	check := func(t *testing.T, what string, err error, ok bool) {
		t.Helper()
		switch {
		case ok && err != nil:
			t.Errorf("%s = %v; want nil", what, err)
		case !ok && !errors.Is(err, ErrInvalidArgument):
			t.Errorf("%s = %v; want an error wrapping ErrInvalidArgument", what, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Connect(ConnectOptions{Port: port, Host: "127.0.0.1", Flow: Flow{HighWaterMark: tt.high, LowWaterMark: tt.low, ReadHighWaterMark: tt.rhw}})
			check(t, "Connect", err, tt.ok)
			if s != nil {
				s.Destroy()
			} else if err == nil {
				t.Error("Connect returned neither a socket nor an error")
			}

			s, err = NewSocket(SocketOptions{Flow: Flow{HighWaterMark: tt.high, LowWaterMark: tt.low, ReadHighWaterMark: tt.rhw}})
			check(t, "NewSocket", err, tt.ok)
			if s != nil {
				s.Destroy()
			}

			opts := ServerOptions{Flow: Flow{HighWaterMark: tt.high, LowWaterMark: tt.low, ReadHighWaterMark: tt.rhw}}
			srv, err := CreateServer(opts, nil)
			check(t, "CreateServer", err, tt.ok)
			if (srv == nil) == (err == nil) {
				t.Errorf("CreateServer = %v, %v; want a server or an error", srv, err)
			}
			if srv != nil {
				if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
					t.Errorf("Listen with valid options = %v", err)
				}
				srv.Close()
				if err := srv.ListenUnix(sockPath(t)); err != nil {
					t.Errorf("ListenUnix with valid options = %v", err)
				}
				srv.Close()
			}
		})
	}
}

// TestFlowSocketConnectMarks proves how Socket.Connect combines its
// options' marks with those of a socket made by NewSocket: a LowWaterMark
// at or over the socket's HighWaterMark is refused; a LowWaterMark under
// the socket's own (larger than default) HighWaterMark is taken; and a
// ReadHighWaterMark left at 0 follows the HighWaterMark the options set
// ("0 means HighWaterMark"). The resulting marks are read from the
// socket's flow under its lock.
func TestFlowSocketConnectMarks(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name string
		sock SocketOptions
		conn ConnectOptions
		ok   bool
		want flow // checked when ok
	}{
		{
			name: "options' marks replace the socket's",
			sock: SocketOptions{},
			conn: ConnectOptions{Flow: Flow{HighWaterMark: 64 << 10, LowWaterMark: 8 << 10, ReadHighWaterMark: 4096}},
			ok:   true,
			want: flow{hwm: 64 << 10, lwm: 8 << 10, rhwm: 4096},
		},
		{
			name: "socket's marks stay when the options set none",
			sock: SocketOptions{Flow: Flow{HighWaterMark: 64 << 10, LowWaterMark: 32 << 10, ReadHighWaterMark: 4096}},
			conn: ConnectOptions{},
			ok:   true,
			want: flow{hwm: 64 << 10, lwm: 32 << 10, rhwm: 4096},
		},
		{
			name: "LowWaterMark of the socket over the options' HighWaterMark",
			sock: SocketOptions{Flow: Flow{HighWaterMark: 64 << 10, LowWaterMark: 32 << 10}},
			conn: ConnectOptions{Flow: Flow{HighWaterMark: 16 << 10}},
			ok:   false,
		},
		{
			name: "LowWaterMark under the socket's own HighWaterMark",
			sock: SocketOptions{Flow: Flow{HighWaterMark: 64 << 10}},
			conn: ConnectOptions{Flow: Flow{LowWaterMark: 32 << 10}},
			ok:   true,
			want: flow{hwm: 64 << 10, lwm: 32 << 10, rhwm: 64 << 10},
		},
		{
			name: "ReadHighWaterMark 0 follows the options' HighWaterMark",
			sock: SocketOptions{},
			conn: ConnectOptions{Flow: Flow{HighWaterMark: 256 << 10}},
			ok:   true,
			want: flow{hwm: 256 << 10, rhwm: 256 << 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSocket(tt.sock)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Destroy()
			opts := tt.conn
			opts.Host, opts.Port = "127.0.0.1", port
			err = s.Connect(opts)
			s.mu.Lock()
			got := s.flow
			s.mu.Unlock()
			if !tt.ok {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("Connect = %v; want an error wrapping ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect = %v; want nil", err)
			}
			if got != tt.want {
				t.Errorf("marks after Connect = %+v; want %+v", got, tt.want)
			}
		})
	}
}

// TestFlowWritableLifecycle proves, on TCP over IPv4 and IPv6 and on a
// Unix socket, the life of Writable and BytesBeforeUnwritable around one
// false Send: a fresh connected socket is writable with HighWaterMark
// bytes to go; a Send that reaches the mark against a peer that does not
// read leaves it unwritable (0 to go, BufferSize > 0) with no DrainEvent
// while the peer does not read; once the peer has read everything it is
// writable again with the whole mark to go, the peer got every byte, and
// exactly one DrainEvent came.
func TestFlowWritableLifecycle(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6", "unix"} {
		t.Run(network, func(t *testing.T) {
			s, peer := flowPair(t, network, ConnectOptions{})
			r := record(t, s)
			r.waitFor("connect", isKind[ConnectEvent])
			if !s.Writable() {
				t.Error("Writable on a fresh connected socket = false; want true")
			}
			if got := s.BytesBeforeUnwritable(); got != DefaultHighWaterMark {
				t.Errorf("BytesBeforeUnwritable on a fresh socket = %d; want %d", got, DefaultHighWaterMark)
			}

			payload := flowStall(t, s, peer)
			if s.Writable() {
				t.Error("Writable after a false Send, the peer not reading = true; want false")
			}
			if got := s.BytesBeforeUnwritable(); got != 0 {
				t.Errorf("BytesBeforeUnwritable while unwritable = %d; want 0", got)
			}
			flowBarrier(t, r, peer)
			if n := count[DrainEvent](r.events()); n != 0 {
				t.Errorf("%d DrainEvents while the peer does not read; want 0", n)
			}

			flowLargeBuffers(t, s)
			got := flowReadN(peer, len(payload))
			r.waitFor("drain", isKind[DrainEvent])
			// Nothing is sent after the drain, so the queue is empty
			// from the DrainEvent on (LowWaterMark 0: Node's rule).
			if got := s.BufferSize(); got != 0 {
				t.Errorf("BufferSize at the DrainEvent = %d; want 0", got)
			}
			if !s.Writable() {
				t.Error("Writable after the drain = false; want true")
			}
			if got := s.BytesBeforeUnwritable(); got != DefaultHighWaterMark {
				t.Errorf("BytesBeforeUnwritable after the drain = %d; want %d", got, DefaultHighWaterMark)
			}
			if !bytes.Equal(flowRecv(t, "peer read", got), payload) {
				t.Error("the peer got different bytes")
			}
			s.Destroy()
			if n := count[DrainEvent](r.wait()); n != 1 {
				t.Errorf("%d DrainEvents for one false Send; want 1", n)
			}
		})
	}
}

// TestFlowWritableFalse proves that Writable is false, and
// BytesBeforeUnwritable 0, whenever a write would not be taken at all:
// on a socket never connected, after End (with or without data queued),
// after Destroy, after the peer's end without AllowHalfOpen; and that it
// is true while connecting and after the peer's end with AllowHalfOpen.
func TestFlowWritableFalse(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) *Socket
		want  bool
	}{
		{"never connected", func(t *testing.T) *Socket {
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Destroy)
			return s
		}, false},
		{"while connecting or just connected", func(t *testing.T) *Socket {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			s, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Destroy)
			return s
		}, true},
		{"after End", func(t *testing.T) *Socket {
			s, _ := flowPair(t, "tcp4", ConnectOptions{})
			r := record(t, s)
			r.waitFor("connect", isKind[ConnectEvent])
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"after End with data queued", func(t *testing.T) *Socket {
			s, peer := flowPair(t, "tcp4", ConnectOptions{})
			r := record(t, s)
			r.waitFor("connect", isKind[ConnectEvent])
			flowStall(t, s, peer)
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"after Destroy", func(t *testing.T) *Socket {
			s, _ := flowPair(t, "unix", ConnectOptions{})
			r := record(t, s)
			r.waitFor("connect", isKind[ConnectEvent])
			s.Destroy()
			r.wait()
			return s
		}, false},
		{"after the peer's end", func(t *testing.T) *Socket {
			s, peer := flowPair(t, "tcp4", ConnectOptions{})
			r := record(t, s)
			peer.(*net.TCPConn).CloseWrite()
			r.waitFor("end", isKind[EndEvent])
			return s
		}, false},
		{"after the peer's end, AllowHalfOpen", func(t *testing.T) *Socket {
			s, peer := flowPair(t, "tcp4", ConnectOptions{AllowHalfOpen: true})
			r := record(t, s)
			peer.(*net.TCPConn).CloseWrite()
			r.waitFor("end", isKind[EndEvent])
			return s
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.setup(t)
			if got := s.Writable(); got != tt.want {
				t.Errorf("Writable = %v; want %v", got, tt.want)
			}
			want := 0
			if tt.want {
				want = DefaultHighWaterMark
			}
			if got := s.BytesBeforeUnwritable(); got != want {
				t.Errorf("BytesBeforeUnwritable = %d; want %d", got, want)
			}
		})
	}
}

// TestFlowBytesBeforeUnwritable proves what BytesBeforeUnwritable
// counts: with n of it, a Send of n-1 bytes returns true and one of n
// returns false (and owes a DrainEvent, which comes); with a queue, it is
// HighWaterMark minus BufferSize; an accepted socket counts from its
// server's HighWaterMark.
func TestFlowBytesBeforeUnwritable(t *testing.T) {
	t.Run("Send at the count", func(t *testing.T) {
		s, peer := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 8192}})
		r := record(t, s)
		r.waitFor("connect", isKind[ConnectEvent])
		go io.Copy(io.Discard, peer)
		n := s.BytesBeforeUnwritable()
		if n != 8192 {
			t.Fatalf("BytesBeforeUnwritable = %d; want 8192", n)
		}
		if ok, err := s.Send(make([]byte, n-1), nil); !ok || err != nil {
			t.Errorf("Send(BytesBeforeUnwritable()-1 bytes) = %v, %v; want true", ok, err)
		}
		// The kernel may or may not have taken those yet.
		n = s.BytesBeforeUnwritable()
		if ok, err := s.Send(make([]byte, n), nil); ok || err != nil {
			t.Errorf("Send(BytesBeforeUnwritable() bytes) = %v, %v; want false", ok, err)
		}
		r.waitFor("drain", isKind[DrainEvent])
	})
	t.Run("with a queue", func(t *testing.T) {
		const hwm = 4 << 20
		s, peer := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: hwm}})
		r := record(t, s)
		r.waitFor("connect", isKind[ConnectEvent])
		flowSmallBuffers(t, s, peer)
		if ok, err := s.Send(make([]byte, 1<<20), nil); !ok || err != nil {
			t.Fatalf("Send(1 MiB) under a 4 MiB mark = %v, %v; want true", ok, err)
		}
		// BufferSize only goes down now (nothing is sent), so the count
		// read between two readings of it lies between them.
		b1 := s.BufferSize()
		n := s.BytesBeforeUnwritable()
		b2 := s.BufferSize()
		if b1 == 0 {
			t.Fatal("no queue formed against a peer that does not read")
		}
		if n < hwm-b1 || n > hwm-b2 {
			t.Errorf("BytesBeforeUnwritable = %d; want HighWaterMark - BufferSize, within [%d, %d]", n, hwm-b1, hwm-b2)
		}
		if !s.Writable() {
			t.Error("Writable under the mark = false; want true")
		}
	})
	t.Run("accepted socket", func(t *testing.T) {
		_, port, conns := newServer(t, ServerOptions{Flow: Flow{HighWaterMark: 32 << 10, LowWaterMark: 8 << 10}})
		dialRaw(t, port)
		s := accept(t, conns)
		if got := s.BytesBeforeUnwritable(); got != 32<<10 {
			t.Errorf("BytesBeforeUnwritable of an accepted socket = %d; want the server's mark %d", got, 32<<10)
		}
		s.mu.Lock()
		f := s.flow
		s.mu.Unlock()
		if want := (flow{hwm: 32 << 10, lwm: 8 << 10, rhwm: 32 << 10}); f != want {
			t.Errorf("accepted socket's marks = %+v; want %+v", f, want)
		}
	})
}

// TestFlowDrainedLockedRule tests drainedLocked, the one rule every write
// path applies when the queue shrinks, at unit level on an unconnected
// socket (no goroutine, no kernel): end to end, the moment the writer
// looks at the queue is not deterministic, so the exact boundaries (at
// the low mark: writable; one byte over: not; a drain owed only after a
// false Send) are checked here. It also checks enqueueLocked's side: the
// socket turns unwritable when a write reaches the high mark, and between
// the marks it stays as it was (writable on the way up, unwritable on the
// way down): the hysteresis.
func TestFlowDrainedLockedRule(t *testing.T) {
	const hwm, lwm = 64 << 10, 32 << 10
	tests := []struct {
		name          string
		lwm, pending  int
		needDrain     bool
		wantDrained   bool // the result: a DrainEvent was queued
		wantWritable  bool
		wantDrainEvts int
	}{
		{"one byte over the low mark", lwm, lwm + 1, true, false, false, 0},
		{"at the low mark", lwm, lwm, true, true, true, 1},
		{"under the low mark", lwm, 100, true, true, true, 1},
		{"at the low mark, no drain owed (a Write's)", lwm, lwm, false, false, true, 0},
		{"low mark 0, one byte left", 0, 1, true, false, false, 0},
		{"low mark 0, empty", 0, 0, true, true, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSocket(false, flow{hwm: hwm, lwm: tt.lwm, rhwm: hwm})
			woken := make(chan struct{})
			s.mu.Lock()
			c := s.c
			c.unwritable, c.needDrain, c.pending = true, tt.needDrain, tt.pending
			c.writable = woken
			drained := c.drainedLocked()
			unwritable, needDrain := c.unwritable, c.needDrain
			drains := 0
			for _, it := range c.q.items {
				if isKind[DrainEvent](it.ev) {
					drains++
				}
			}
			s.mu.Unlock()
			if drained != tt.wantDrained {
				t.Errorf("drainedLocked() = %v; want %v", drained, tt.wantDrained)
			}
			if unwritable == tt.wantWritable {
				t.Errorf("unwritable = %v; want %v", unwritable, !tt.wantWritable)
			}
			if needDrain != (tt.needDrain && !tt.wantDrained) {
				t.Errorf("needDrain = %v; want %v", needDrain, tt.needDrain && !tt.wantDrained)
			}
			if drains != tt.wantDrainEvts {
				t.Errorf("%d DrainEvents queued; want %d", drains, tt.wantDrainEvts)
			}
			select {
			case <-woken:
				if !tt.wantWritable {
					t.Error("blocked Writes woken while still unwritable")
				}
			default:
				if tt.wantWritable {
					t.Error("blocked Writes not woken when writable again")
				}
			}
		})
	}

	t.Run("hysteresis", func(t *testing.T) {
		s := newSocket(false, flow{hwm: hwm, lwm: lwm, rhwm: hwm}) // unconnected: enqueueLocked only queues
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.c
		if ok, _, _ := c.enqueueLocked(make([]byte, 40<<10), nil, false, nil, true); !ok || c.unwritable {
			t.Fatalf("40 KiB under a 64 KiB mark: ok %v, unwritable %v; want true, false", ok, c.unwritable)
		}
		if ok, _, _ := c.enqueueLocked(make([]byte, 24<<10), nil, false, nil, true); ok || !c.unwritable || !c.needDrain {
			t.Fatalf("reaching the mark: ok %v, unwritable %v, needDrain %v; want false, true, true", ok, c.unwritable, c.needDrain)
		}
		c.pending = 40 << 10 // the writer handed 24 KiB to the kernel
		if c.drainedLocked() || !c.unwritable {
			t.Error("at 40 KiB on the way down (over the 32 KiB low mark): writable again; want unwritable")
		}
		c.pending = 32 << 10
		if !c.drainedLocked() || c.unwritable {
			t.Error("at the low mark on the way down: still unwritable or no drain")
		}
		if ok, _, _ := c.enqueueLocked(make([]byte, 8<<10), nil, false, nil, true); !ok || c.unwritable {
			t.Errorf("40 KiB on the way up again: ok %v, unwritable %v; want true, false", ok, c.unwritable)
		}
	})
}

// TestFlowLowWaterMarkHysteresis proves the low mark end to end with
// HighWaterMark 64 KiB and LowWaterMark 32 KiB, against a Unix peer that
// stops reading: Sends until the queue is over 64 KiB (the writer's batch
// blocks in the kernel), then a further 16 KiB, still unwritable; once
// the peer reads, exactly one DrainEvent comes, at which the queue is at
// or under the low mark (nothing is sent after it, so it only shrinks)
// and the socket is writable; no further DrainEvent comes without a new
// false Send, and a new false Send brings exactly one more.
func TestFlowLowWaterMarkHysteresis(t *testing.T) {
	const hwm, lwm, chunk = 64 << 10, 32 << 10, 16 << 10
	// Over a Unix socket with a 4 KiB send buffer the kernel holds a few
	// KiB: once the queue is over the mark it cannot fall to the low mark
	// without the peer reading.
	s, peer := flowPair(t, "unix", ConnectOptions{Flow: Flow{HighWaterMark: hwm, LowWaterMark: lwm}})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	flowSmallBuffers(t, s, peer)

	data := flowPayload(1<<20, 3)
	sent := 0
	send := func() bool {
		t.Helper()
		ok, err := s.Send(data[sent:sent+chunk], nil)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent += chunk
		return ok
	}
	for s.BufferSize() <= hwm {
		if sent+chunk > len(data)/2 {
			t.Fatalf("queue never passed the mark after %d bytes; BufferSize %d", sent, s.BufferSize())
		}
		send()
	}
	if send() {
		t.Error("Send of 16 KiB more over the mark = true; want false")
	}
	// The queue is over 80 KiB; to fall to 32 KiB the kernel would have to
	// take 48 KiB more, far more than it holds in all with this buffer.
	if s.Writable() {
		t.Error("Writable over the mark = true; want false")
	}
	if got := s.BytesBeforeUnwritable(); got != 0 {
		t.Errorf("BytesBeforeUnwritable over the mark = %d; want 0", got)
	}
	// Nor could it at any moment since the first false Send (the queue
	// was then at 48 KiB or more): no DrainEvent so far.
	flowBarrier(t, r, peer)
	before := count[DrainEvent](r.events())
	if before != 0 {
		t.Errorf("%d DrainEvents before the peer read; want 0", before)
	}

	flowLargeBuffers(t, s)
	got := flowReadN(peer, sent)
	r.waitFor("drain", func(Event) bool { return count[DrainEvent](r.events()) > before })
	if bs := s.BufferSize(); bs > lwm {
		t.Errorf("BufferSize at the DrainEvent = %d; want <= the low mark %d", bs, lwm)
	}
	if !s.Writable() {
		t.Error("Writable at the DrainEvent = false; want true")
	}
	if !bytes.Equal(flowRecv(t, "peer read", got), data[:sent]) {
		t.Fatal("the peer got different bytes")
	}
	waitUntil(t, "empty queue", func() bool { return s.BufferSize() == 0 })
	if got := s.BytesBeforeUnwritable(); got != hwm {
		t.Errorf("BytesBeforeUnwritable after the drain = %d; want %d", got, hwm)
	}
	// The queue emptying below the low mark owes nothing more: a true Send
	// and the barrier bring no DrainEvent.
	if !send() {
		t.Error("Send of 16 KiB on an empty queue = false; want true")
	}
	got = flowReadN(peer, chunk)
	flowRecv(t, "peer read", got)
	flowBarrier(t, r, peer)
	if n := count[DrainEvent](r.events()); n != before+1 {
		t.Errorf("%d DrainEvents after the first drain and a true Send; want %d", n, before+1)
	}
	// A new false Send owes exactly one more.
	go io.Copy(io.Discard, peer)
	if ok, err := s.Send(data[sent:sent+hwm], nil); ok || err != nil {
		t.Errorf("Send(64 KiB) = %v, %v; want false", ok, err)
	}
	r.waitFor("second drain", func(Event) bool { return count[DrainEvent](r.events()) > before+1 })
	s.Destroy()
	if n := count[DrainEvent](r.wait()); n != before+2 {
		t.Errorf("%d DrainEvents in all; want %d (two false Sends after the filling)", n, before+2)
	}
}

// TestFlowWriteBlocks proves that Write (io.Writer) blocks while the
// socket is unwritable (the goroutine is seen parked on the drain, and
// does not return), returns once the peer has read enough, owes no
// DrainEvent, and that its bytes follow the earlier Send's.
func TestFlowWriteBlocks(t *testing.T) {
	for _, lwm := range []int{0, 8 << 10} {
		t.Run(fmt.Sprintf("LowWaterMark %d", lwm), func(t *testing.T) {
			s, peer := rawPair(t, ConnectOptions{Flow: Flow{LowWaterMark: lwm}})
			r := record(t, s)
			r.waitFor("connect", isKind[ConnectEvent])
			first := flowStall(t, s, peer)
			second := flowPayload(100<<10, 9)
			done := make(chan error, 1)
			go func() {
				n, err := s.Write(second)
				if err == nil && n != len(second) {
					err = fmt.Errorf("Write = %d bytes; want %d", n, len(second))
				}
				done <- err
			}()
			waitUntil(t, "Write to park", func() bool { return flowWriteParked(s) })
			select {
			case err := <-done:
				t.Fatalf("Write returned (%v) while the socket is unwritable", err)
			default:
			}
			flowLargeBuffers(t, s)
			got := flowReadN(peer, len(first)+len(second))
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(testTimeout):
				t.Fatal("Write did not return after the peer read")
			}
			if !bytes.Equal(flowRecv(t, "peer read", got), append(first, second...)) {
				t.Error("the peer got different bytes")
			}
			s.Destroy()
			if n := count[DrainEvent](r.wait()); n != 1 {
				t.Errorf("%d DrainEvents; want 1 (the Send's; a Write owes none)", n)
			}
		})
	}
}

// TestFlowConcurrentWriters proves that Send, Write and End used by many
// goroutines at once (under -race) lose and corrupt nothing: each call is
// queued whole, each goroutine's records arrive in its order, every call
// that succeeded is received and none that failed; calls after End fail
// with ErrWriteAfterEnd (those blocked in Write when End comes included).
// A 4 KiB HighWaterMark with a 1 KiB LowWaterMark, and the Sends piling
// up behind the writer, make the Writes wait on the marks now and then.
func TestFlowConcurrentWriters(t *testing.T) {
	const (
		writers = 8
		records = 300
		recSize = 512
		endAt   = 100 // End once writer 0 has written this many records
	)
	s, peer := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 4096, LowWaterMark: 1024}})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])

	received := make(chan flowRead, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(testTimeout))
		b, err := io.ReadAll(peer)
		received <- flowRead{b, err}
	}()

	rec := func(id, seq int) []byte {
		p := make([]byte, recSize)
		p[0] = byte(id)
		binary.BigEndian.PutUint32(p[1:], uint32(seq))
		for i := 5; i < recSize; i++ {
			p[i] = byte(id*31 + seq*7 + i)
		}
		return p
	}
	var ok [writers]int
	var errs [writers]error
	ended := make(chan struct{})
	var wg sync.WaitGroup
	for id := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range records {
				var err error
				if id%2 == 0 {
					_, err = s.Write(rec(id, seq))
				} else {
					_, err = s.Send(rec(id, seq), nil)
				}
				if err != nil {
					errs[id] = err
					return
				}
				ok[id]++
				if id == 0 && seq == endAt {
					close(ended)
				}
				if id%2 == 1 {
					runtime.Gosched() // let Sends interleave with the blocked Writes
				}
			}
		}()
	}
	endErr := make(chan error, 1)
	go func() {
		<-ended
		endErr <- s.End()
	}()
	wg.Wait()
	if err := <-endErr; err != nil {
		t.Fatalf("End = %v", err)
	}
	got := flowRecv(t, "peer read", received)

	for id, err := range errs {
		if err != nil && !errors.Is(err, ErrWriteAfterEnd) {
			t.Errorf("writer %d: %v; want nil or ErrWriteAfterEnd", id, err)
		}
	}
	if errs[0] != nil && ok[0] <= endAt {
		t.Errorf("writer 0 failed after %d records, before it called for End", ok[0])
	}
	if len(got)%recSize != 0 {
		t.Fatalf("peer got %d bytes, not a whole number of records", len(got))
	}
	var next [writers]int
	for off := 0; off < len(got); off += recSize {
		p := got[off : off+recSize]
		id, seq := int(p[0]), int(binary.BigEndian.Uint32(p[1:]))
		if id >= writers {
			t.Fatalf("record at %d: writer %d", off, id)
		}
		if seq != next[id] {
			t.Fatalf("record at %d: writer %d's #%d; want #%d", off, id, seq, next[id])
		}
		if !bytes.Equal(p, rec(id, seq)) {
			t.Fatalf("record at %d (writer %d #%d) is corrupt", off, id, seq)
		}
		next[id]++
	}
	total := 0
	for id := range writers {
		total += ok[id]
		if next[id] != ok[id] {
			t.Errorf("writer %d: %d records received; %d calls succeeded", id, next[id], ok[id])
		}
	}
	if want := int64(total * recSize); s.BytesWritten() != want {
		t.Errorf("BytesWritten = %d; want %d", s.BytesWritten(), want)
	}
}

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
			dst, dpeer := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: tt.hwm, LowWaterMark: tt.lwm}})
			dr := record(t, dst)
			dr.waitFor("connect", isKind[ConnectEvent])
			flowSmallBuffers(t, dst, dpeer)

			_, port, conns := newServer(t, ServerOptions{Flow: Flow{ReadHighWaterMark: srcRead}})
			client := dialRaw(t, port)
			payload := flowPayload(2<<20, uint64(tt.hwm))
			wrote := make(chan error, 1)
			go func() {
				client.SetWriteDeadline(time.Now().Add(testTimeout))
				_, err := client.Write(payload)
				if err == nil {
					err = client.CloseWrite()
				}
				wrote <- err
			}()
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

// TestFlowReadHighWaterMark proves the read-ahead bound apart from the
// write mark. readLoop reads while the undelivered bytes are under
// ReadHighWaterMark and each read takes at most readBufSize (64 KiB), so
// a paused socket holds at most ReadHighWaterMark - 1 + 64 KiB.
//
// Under the write mark: a paused accepted socket with ReadHighWaterMark
// 4 KiB and HighWaterMark 64 KiB, fed exactly 4 KiB first, stops reading
// at exactly 4 KiB (it reached the bound, so no read may follow), while
// the peer writes up to 2 MiB more until its writes stall; after Resume every
// byte arrives in order.
//
// Over the write mark: a paused socket with HighWaterMark 4 KiB and
// ReadHighWaterMark 256 KiB reads ahead at least 256 KiB, and at most
// 256 KiB - 1 + 64 KiB.
func TestFlowReadHighWaterMark(t *testing.T) {
	t.Run("under the write mark", func(t *testing.T) {
		const rhwm = 4096
		_, port, conns := newServer(t, ServerOptions{Flow: Flow{HighWaterMark: 64 << 10, ReadHighWaterMark: rhwm}})
		peer := dialRaw(t, port)
		s := accept(t, conns)
		s.Pause()
		r := record(t, s)
		payload := flowPayload(2<<20, 11)

		if _, err := peer.Write(payload[:rhwm]); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the first 4 KiB read", func() bool { return s.BytesRead() >= rhwm })
		if err := peer.SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
		// Write until the kernel buffers are full: a write that makes no
		// progress for 100 ms. The socket, at its bound, must read nothing
		// meanwhile.
		sent := rhwm
		for {
			peer.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := peer.Write(payload[sent:])
			sent += n
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("peer write: %v", err)
				}
				if n == 0 {
					break
				}
			}
			if sent == len(payload) {
				t.Fatal("2 MiB went into the kernel buffers: cannot test the bound")
			}
		}
		if got := s.BytesRead(); got != rhwm {
			t.Errorf("BytesRead while paused at the read mark = %d; want %d", got, rhwm)
		}
		if st := s.Stats(); st.Unread != rhwm || !s.IsPaused() {
			t.Errorf("Stats while paused = Unread %d, IsPaused %v; want %d, true", st.Unread, s.IsPaused(), rhwm)
		}
		if got := dataOf(r.events()); len(got) != 0 {
			t.Errorf("%d bytes delivered while paused", len(got))
		}

		peer.SetWriteBuffer(1 << 20)
		s.Resume()
		wrote := make(chan error, 1)
		go func() {
			peer.SetWriteDeadline(time.Now().Add(testTimeout))
			_, err := peer.Write(payload[sent:])
			if err == nil {
				err = peer.CloseWrite()
			}
			wrote <- err
		}()
		if got := r.waitData(len(payload)); !bytes.Equal(got, payload) {
			t.Errorf("data after Resume differs (%d bytes)", len(got))
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("over the write mark", func(t *testing.T) {
		const rhwm = 256 << 10
		s, peer := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 4096, ReadHighWaterMark: rhwm}})
		s.Pause()
		r := record(t, s)
		r.waitFor("connect", isKind[ConnectEvent])
		payload := flowPayload(2<<20, 12)
		wrote := make(chan error, 1)
		go func() {
			peer.SetWriteDeadline(time.Now().Add(testTimeout))
			_, err := peer.Write(payload)
			if err == nil {
				err = peer.CloseWrite()
			}
			wrote <- err
		}()
		waitUntil(t, "the read mark read ahead", func() bool { return s.BytesRead() >= rhwm })
		if got, max := s.Stats().Unread, rhwm-1+readBufSize; got > max {
			t.Errorf("Unread while paused = %d; want <= %d", got, max)
		}
		if got := dataOf(r.events()); len(got) != 0 {
			t.Errorf("%d bytes delivered while paused", len(got))
		}
		s.Resume()
		if got := r.waitData(len(payload)); !bytes.Equal(got, payload) {
			t.Errorf("data after Resume differs (%d bytes)", len(got))
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})
}
