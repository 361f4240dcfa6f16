package nodenet

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// readBufSize is the most one read takes from the kernel: a little under
// Node's 64 KiB. A socket often writes back what it read (an echo, a
// Pipe, a proxy), and on loopback, whose TCP segments hold at most 65,483
// bytes (65,464 over IPv6), a 65,536-byte write goes out as a full segment
// and one of 53 bytes: each chunk then costs the peer two reads. With 60
// KiB, measured on the echo benchmark, an echo streams 1.6 times faster.
const readBufSize = 60 << 10

// readBufs lends read buffers: a socket borrows one only for the moment of
// a read, so an idle socket holds none.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// putReadBuf gives a borrowed read buffer back; nil is allowed.
func putReadBuf(b *[]byte) {
	if b != nil {
		readBufs.Put(b)
	}
}

// rawRead is the state of run's reads. Through the connection's RawConn
// it waits for readability without holding a buffer, and reads into a
// borrowed one only once there is something to read. Its state lives in
// the conn, and its callback is made once, so a read allocates nothing.
type rawRead struct {
	fn  func(fd uintptr) bool // readFD (rawio_unix.go), made once
	buf *[]byte
	n   int
	err error
}

// read returns a borrowed buffer holding n bytes (give it back to
// readBufs), io.EOF at the peer's end, or the error. A connection without
// a descriptor, or on Windows (rc nil), is read with its Read method,
// which holds the buffer while it waits.
func (r *rawRead) read(nc net.Conn, rc syscall.RawConn) (*[]byte, int, error) {
	if rc == nil {
		b := readBufs.Get().(*[]byte)
		n, err := nc.Read(*b)
		if tc, ok := nc.(*tls.Conn); ok && n > 0 && err == nil {
			n, err = readHeldRecords(tc, *b, n)
		}
		return b, n, err
	}
	r.buf, r.n, r.err = nil, 0, nil
	err := rc.Read(r.fn)
	buf, n := r.buf, r.n
	switch {
	case err != nil:
	case r.err != nil:
		err = os.NewSyscallError("read", r.err)
	case n == 0:
		err = io.EOF
	}
	r.buf, r.err = nil, nil
	if err != nil {
		n = 0
	}
	return buf, n, err
}

// readHeldRecords adds to buf[:n], just read from tc, what tc can give
// without waiting. A *tls.Conn's Read returns one record at most (16 KiB
// of plaintext), while its last read from the connection often brought
// more: with a read deadline in the past, Read returns the records
// already held whole, and fails at once, with no system call, when it
// would have to wait. So a chunk of a TLS socket is as large as a plain
// one's, and a Pipe or a Proxy behind it writes it with one system call
// instead of one per record. A read deadline error is not sticky in
// crypto/tls (the part of a record read so far is kept), as the wake-up
// of a blocked read (conn.interruptLocked) relies on too.
func readHeldRecords(tc *tls.Conn, buf []byte, n int) (int, error) {
	if tc.SetReadDeadline(aLongTimeAgo) != nil {
		return n, nil
	}
	var err error
	for n < len(buf) {
		var m int
		m, err = tc.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil // nothing more held
	}
	tc.SetReadDeadline(time.Time{})
	return n, err
}

// gotLocked counts n bytes just read.
func (c *conn) gotLocked(n int) {
	c.bytesRead.Add(int64(n))
	c.lastRead.Store(time.Now().UnixNano())
	c.s.touchLocked(onRead)
}

// pipeOnlyLocked reports whether data just read can go straight to the
// Pipe destinations from the read buffer: nobody else takes it, nothing
// read earlier waits, and the data flows.
func (c *conn) pipeOnlyLocked() bool {
	return !c.out.subscribed() && len(c.pipes) > 0 && c.q.data == 0 && c.dec == nil && c.fr == nil && c.flowingLocked()
}

// queueReadLocked queues p, read into the pooled buffer buf, decoded when
// an encoding is set. Each DataEvent owns its bytes, so p is copied and
// buf reused; but while nobody has subscribed, the first data item keeps
// buf itself (kept reports it), and later reads are appended in its spare
// room. A Pipe then writes from it and gives it back, so data read before
// the connection handler attaches its Pipe, or while the Pipe waits for
// its destination's drain, costs no allocation; a subscriber gets a copy
// (item.own), and buf goes back then.
func (c *conn) queueReadLocked(p []byte, buf *[]byte) (kept bool) {
	q := &c.q
	if c.fr != nil {
		c.frameLocked(p, false)
		return false
	}
	if c.dec != nil {
		// The few bytes of a split character that the decoder holds are
		// not counted as held: they belong to no event yet.
		if t := c.dec.write(p); t != "" {
			q.pushData(item{text: t, isText: true, n: len(p)})
		}
		return false
	}
	if q.joinData(p) {
		return false
	}
	it := item{data: p, n: len(p), buf: buf}
	if c.out.subscribed() || q.data > 0 {
		it.data, it.buf = append([]byte(nil), p...), nil
	}
	q.pushData(it)
	return it.buf != nil
}

// eofLocked handles the peer's FIN: flush the decoder, queue the EndEvent
// behind the data, and tell it at once when nobody can hear it.
func (c *conn) eofLocked() {
	c.s.touchLocked(onEnd)
	if c.fr != nil && !c.frameLocked(nil, true) {
		return // brokenLocked tells the error, then the end
	}
	c.queueEndLocked()
}

// queueEndLocked queues the EndEvent behind the data: no more data comes.
func (c *conn) queueEndLocked() {
	c.readSide = readEOF
	if c.dec != nil {
		if t := c.dec.end(); t != "" {
			c.q.pushData(item{text: t, isText: true})
		}
	}
	c.q.push(EndEvent{}, true)
	// With nothing unread and nobody to tell, the end is as good as
	// delivered: end this side now, so a socket whose events are never
	// read still closes. With data unread, this side ends when the
	// EndEvent is delivered after it, so a consumer that subscribes late
	// (a connection handler) can still reply to a request followed by FIN.
	c.endIfUnheardLocked()
}
