package nodenet

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// readBufSize is the most one read takes from the kernel: Node's 64 KiB.
const readBufSize = 64 << 10

// readBufs lends read buffers: a socket borrows one only for the moment of
// a read, so an idle socket holds none.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// putReadBuf gives a borrowed read buffer back; nil is allowed.
func putReadBuf(b *[]byte) {
	if b != nil {
		readBufs.Put(b)
	}
}

// connReader reads a connection without holding a buffer while it waits:
// it waits for readability through the connection's RawConn, and reads
// into a borrowed buffer only once there is something to read. Its state
// lives in the struct, and its callback is made once, so a read allocates
// nothing.
type connReader struct {
	conn   net.Conn
	rc     syscall.RawConn // nil: the connection has no descriptor; use Read
	readFn func(fd uintptr) bool
	buf    *[]byte
	n      int
	err    error
}

func newConnReader(conn net.Conn) *connReader {
	r := &connReader{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
			r.readFn = r.readFD
		}
	}
	return r
}

// readFD is the RawConn callback: false asks to wait for readability.
func (r *connReader) readFD(fd uintptr) bool {
	r.buf = readBufs.Get().(*[]byte)
	for {
		r.n, r.err = syscall.Read(int(fd), *r.buf)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		readBufs.Put(r.buf) // nothing to read yet: wait without the buffer
		r.buf = nil
		return false
	}
	return true
}

// read returns a borrowed buffer holding n bytes (give it back to
// readBufs), io.EOF at the peer's end, or the error.
func (r *connReader) read() (*[]byte, int, error) {
	if r.rc == nil {
		b := readBufs.Get().(*[]byte)
		n, err := r.conn.Read(*b)
		return b, n, err
	}
	r.buf, r.n, r.err = nil, 0, nil
	err := r.rc.Read(r.readFn)
	n := r.n
	switch {
	case err != nil:
	case r.err != nil:
		err = os.NewSyscallError("read", r.err)
	case n == 0:
		err = io.EOF
	}
	if err != nil {
		n = 0
	}
	return r.buf, n, err
}

// gotLocked takes p, just read into the borrowed buffer buf: straight to
// the Pipe destinations when they alone take it, otherwise into the queue.
func (c *conn) gotLocked(p []byte, buf *[]byte) {
	c.bytesRead.Add(int64(len(p)))
	c.lastRead.Store(time.Now().UnixNano())
	c.s.touchLocked(onRead)
	if c.pipeOnlyLocked() {
		pipes := c.pipes
		c.s.mu.Unlock()
		c.s.pipeData(pipes, p, buf)
		c.s.mu.Lock()
		return
	}
	if !c.queueReadLocked(p, buf) {
		readBufs.Put(buf)
	}
}

// pipeOnlyLocked reports whether data just read can go straight to the
// Pipe destinations from the read buffer: nobody else takes it, nothing
// read earlier waits, and the data flows.
func (c *conn) pipeOnlyLocked() bool {
	return !c.out.subscribed() && len(c.pipes) > 0 && c.q.data == 0 && c.dec == nil && c.flowingLocked()
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
	c.readSide = readEOF
	c.s.touchLocked(onEnd)
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
