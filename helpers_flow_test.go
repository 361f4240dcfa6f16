// Test helpers of flow control: socket pairs with small or large kernel buffers,
// stalls, barriers and reads of a given size.
//
// A peer that "does not read" is a raw net.Conn the test does not read from. A 4 KiB SO_SNDBUF
// on the socket's side (and a fixed 128 KiB SO_RCVBUF on a TCP peer) make a queue form after
// little data: the kernel then holds, measured on Linux, about 280 KiB over loopback TCP and 4
// KiB over a Unix socket.

package nodenet

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// flowPair connects a Socket, with opts, to a raw peer over network:
// "tcp4" (127.0.0.1), "tcp6" (::1; skipped where there is none) or "unix"
// (a socket under t.TempDir()). Cleanup closes both.
func flowPair(t testing.TB, network string, opts ConnectOptions) (*Socket, net.Conn) {
	t.Helper()
	ln := listenLoopback(t, network)
	defer ln.Close()
	switch a := ln.Addr().(type) {
	case *net.TCPAddr:
		opts.Host, opts.Port = a.IP.String(), a.Port
	case *net.UnixAddr:
		opts.Path = a.Name
	}
	s := connectSocket(t, opts)
	ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(testTimeout))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
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

// writeUntilBlocked writes 256 KiB chunks to w, a net.Conn of s, on a
// goroutine of its own until a Write fails, and returns once a Write is
// blocked on s's full queue (the peer reads nothing). The counter holds
// what the Writes reported written; the channel gives the failed Write's
// error.
func writeUntilBlocked(t *testing.T, w io.Writer, s *Socket) (*atomic.Int64, <-chan error) {
	t.Helper()
	written := new(atomic.Int64)
	res := make(chan error, 1)
	go func() {
		chunk := make([]byte, 256<<10)
		for {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				res <- err
				return
			}
		}
	}()
	waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
	return written, res
}

// writeThenCloseWrite writes payload to c, then half-closes it, on a
// goroutine of its own, with a write deadline testTimeout away; the
// channel gives the first error, or nil.
func writeThenCloseWrite(c interface {
	net.Conn
	CloseWrite() error
}, payload []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(testTimeout))
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		done <- err
	}()
	return done
}
