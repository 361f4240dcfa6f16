// Flow control of writes: the high- and low-water marks, Writable, drain.

package nodenet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestFlowOptionValidation proves that the marks are checked by every
// entry point that takes them (Connect, NewSocket, Server.Listen and
// ListenUnix): a negative LowWaterMark, a LowWaterMark at or over the
// HighWaterMark (the explicit one, or the default 16 KiB), and a negative
// ReadHighWaterMark are errors wrapping ErrInvalidArgument, while valid
// combinations (including a read mark above the write mark) are taken.
func TestFlowOptionValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		high, low, rhw int
		ok             bool
	}{
		{"negative LowWaterMark", 0, -1, 0, false},
		{"LowWaterMark at the default HighWaterMark", 0, defaultHighWaterMark, 0, false},
		{"LowWaterMark over the default HighWaterMark", 0, 64 << 10, 0, false},
		{"LowWaterMark at HighWaterMark", 4096, 4096, 0, false},
		{"LowWaterMark over HighWaterMark", 4096, 8192, 0, false},
		{"negative ReadHighWaterMark", 0, 0, -1, false},
		{"negative ReadHighWaterMark with valid marks", 64 << 10, 32 << 10, -4096, false},
		{"LowWaterMark just under the default", 0, defaultHighWaterMark - 1, 0, true},
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
	t.Parallel()
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
			defer func() {
				// Destroy, then wait for the close, which comes after the
				// dialer goroutine has returned: that orders its read of
				// net.DefaultResolver before a later test's offlineDNS.
				s.Destroy()
				untilClosed(t, "the events after Destroy", s.Events())
			}()
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
			r := recordConnected(t, s)
			if !s.Writable() {
				t.Error("Writable on a fresh connected socket = false; want true")
			}
			if got := s.BytesBeforeUnwritable(); got != defaultHighWaterMark {
				t.Errorf("BytesBeforeUnwritable on a fresh socket = %d; want %d", got, defaultHighWaterMark)
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
			if got := s.BytesBeforeUnwritable(); got != defaultHighWaterMark {
				t.Errorf("BytesBeforeUnwritable after the drain = %d; want %d", got, defaultHighWaterMark)
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
			s := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
			return s
		}, true},
		{"after End", func(t *testing.T) *Socket {
			s, _ := flowPair(t, "tcp4", ConnectOptions{})
			recordConnected(t, s)
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"after End with data queued", func(t *testing.T) *Socket {
			s, peer := flowPair(t, "tcp4", ConnectOptions{})
			recordConnected(t, s)
			flowStall(t, s, peer)
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"after Destroy", func(t *testing.T) *Socket {
			s, _ := flowPair(t, "unix", ConnectOptions{})
			r := recordConnected(t, s)
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
				want = defaultHighWaterMark
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
		s, peer, r := connectedRawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 8192}})
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
		s, peer, _ := connectedRawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: hwm}})
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
	r := recordConnected(t, s)
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
			s, peer, r := connectedRawPair(t, ConnectOptions{Flow: Flow{LowWaterMark: lwm}})
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
			// The peer can read the last bytes before the writer goroutine,
			// back from its write, has queued the Send's drain: wait for it
			// before Destroy, which would cut it off.
			r.waitFor("the Send's drain", isKind[DrainEvent])
			s.Destroy()
			if n := count[DrainEvent](r.wait()); n != 1 {
				t.Errorf("%d DrainEvents; want 1 (the Send's; a Write owes none)", n)
			}
		})
	}
}
