package nodenet

import (
	"errors"
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

// readLoop is the reader goroutine of one connection. It reads while the
// socket holds less than the high-water mark of undelivered data, so a
// paused socket, or one whose events nobody reads, stops reading and TCP
// pushes back on the peer. When owned is set it is the goroutine's whole
// life and it reports its exit.
func (s *Socket) readLoop(conn net.Conn, done chan struct{}, owned bool) {
	if owned {
		defer s.exitIO()
	}
	r := newConnReader(conn)
	for {
		s.mu.Lock()
		for (s.st.rbytes >= s.rhwm || s.holdReads) && s.done == done && !s.closed {
			if s.readWake == nil {
				s.readWake = make(chan struct{}, 1)
			}
			wake := s.readWake
			s.mu.Unlock()
			select {
			case <-wake:
			case <-done:
				return
			}
			s.mu.Lock()
		}
		if s.closed || s.done != done {
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		buf, n, err := r.read()

		s.mu.Lock()
		if s.closed || s.done != done {
			s.mu.Unlock()
			if buf != nil {
				readBufs.Put(buf)
			}
			return
		}
		piped, kept := false, false
		if n > 0 {
			s.bytesRead.Add(int64(n))
			s.lastRead.Store(time.Now().UnixNano())
			s.touchLocked(onRead)
			if piped = s.pipeOnlyLocked(); piped {
				kept = s.pipeRead((*buf)[:n], buf) // unlocks and locks again
			} else {
				kept = s.pushReadLocked((*buf)[:n], buf)
			}
		}
		if buf != nil && !kept {
			readBufs.Put(buf)
		}
		switch {
		case err == nil:
			s.mu.Unlock()
			if !piped { // piped data queued nothing to dispatch
				s.dispatch()
			}
			continue
		case errors.Is(err, io.EOF):
			s.onEOFLocked()
			s.mu.Unlock()
			s.dispatch()
			return
		}
		s.mu.Unlock()
		s.destroy(sysError("read", remoteString(conn), err), false)
		return
	}
}

// pushReadLocked queues p, read into the pooled buffer buf, decoded when
// an encoding is set. Each DataEvent owns its bytes, so p is copied and
// buf reused; but while nobody has subscribed, the first data item keeps
// buf itself (kept reports it), and later reads are appended in its spare
// room. A Pipe then writes from it and gives it back, so data read before
// the connection handler attaches its Pipe, or while the Pipe waits for
// its destination's drain, costs no allocation; a subscriber gets a copy
// (item.own), and buf goes back then.
func (s *Socket) pushReadLocked(p []byte, buf *[]byte) (kept bool) {
	st := s.st
	if s.dec != nil {
		// The few bytes of a split character that the decoder holds are
		// not counted as buffered: they belong to no event yet.
		if t := s.dec.write(p); t != "" {
			st.pushData(item{text: t, isText: true, n: len(p)})
		}
		return false
	}
	if st.joinData(p) {
		return false
	}
	it := item{data: p, n: len(p), buf: buf}
	if st.subscribed || st.dataItems > 0 {
		it.data, it.buf = append([]byte(nil), p...), nil
	}
	st.pushData(it)
	return it.buf != nil
}

// onEOFLocked handles the peer's FIN: flush the decoder, queue the
// EndEvent behind the data, and end this side when it may.
func (s *Socket) onEOFLocked() {
	s.eof = true
	s.touchLocked(onEnd)
	if s.dec != nil {
		if t := s.dec.end(); t != "" {
			s.st.pushData(item{text: t, isText: true})
		}
	}
	s.st.push(EndEvent{})
	// With nothing unread and nobody to tell, the end is as good as
	// delivered: end this side now, so a socket whose events are never
	// read still closes. With data unread, this side ends when the
	// EndEvent is delivered after it, so a consumer that subscribes late
	// (a connection handler) can still reply to a request followed by FIN.
	s.endIfUnheardLocked()
	s.maybeFinishLocked()
}

// endIfUnheardLocked tells the end to nobody when nobody can hear it: no
// subscriber, no Pipe, no connection handler still running (it may yet
// subscribe, as a Node 'connection' listener runs before any read), and
// nothing unread before it.
func (s *Socket) endIfUnheardLocked() {
	if s.eof && !s.endTold && !s.st.subscribed && len(s.pipes) == 0 && !s.handling && s.st.dataItems == 0 {
		s.tellEndLocked()
	}
}

// tellEndLocked records that the consumer has the EndEvent; without
// half-open, this side then ends.
func (s *Socket) tellEndLocked() {
	s.endTold = true
	if !s.allowHalfOpen && !s.peerEnded {
		s.peerEndLocked()
	}
	s.maybeFinishLocked()
}

// peerEndLocked ends this side after the peer's end (allowHalfOpen false):
// later writes fail with EPIPE, queued ones are still flushed.
func (s *Socket) peerEndLocked() {
	s.peerEnded = true
	s.endLocked()
}

func remoteString(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// pipeOnlyLocked reports whether data just read can go straight to the
// Pipe destinations from the read buffer: nobody else takes it, nothing
// read earlier waits, and the data flows.
func (s *Socket) pipeOnlyLocked() bool {
	st := s.st
	return !st.subscribed && len(s.pipes) > 0 && st.dataItems == 0 && !st.pumping &&
		s.dec == nil && !s.paused && !s.pipeWaitingLocked()
}

// pipeRead writes p, still in the borrowed read buffer buf, to the Pipe
// destinations. A single destination keeps buf if it must queue p (kept
// reports it: buf is then the destination's to give back), so a full
// kernel buffer costs no copy; with several, each copies what it queues.
// It holds the pump's place meanwhile, so items keep their order.
func (s *Socket) pipeRead(p []byte, buf *[]byte) (kept bool) {
	st := s.st
	st.pumping = true
	pipes := s.pipes
	s.mu.Unlock()
	if len(pipes) == 1 {
		kept = s.pipeWrite(pipes[0], p, false, buf)
	} else {
		for _, pd := range pipes {
			s.pipeWrite(pd, p, false, nil)
		}
	}
	s.mu.Lock()
	st.pumping = false
	if st.pumpAgain {
		st.pumpAgain = false
		s.pumpLocked(st)
	}
	return kept
}
