package nodenet

import (
	"context"
	"net"
	"os"
	"syscall"
	"time"
)

// writeReq is one queued write: bytes the socket owns, and the callback
// to run once they are handed to the kernel.
type writeReq struct {
	b   []byte
	cb  func(error)
	buf *[]byte // the read buffer b lies in, lent by a Pipe: back to readBufs once written
}

// Send is Node's socket.write(data, cb): it never blocks. While nothing is
// queued, p goes to the kernel at once and only what the kernel does not
// take is copied into the queue; p may be reused when Send returns. The
// result is Node's: true while the bytes pending, counting p, stay under
// the high-water mark; after a false, exactly one DrainEvent comes when
// the queue has emptied, or fallen to LowWaterMark if set (at once if the
// kernel took everything). cb, when not nil, runs once the bytes are
// handed to the kernel (with nil), or with the error if the write
// fails; it is not called if the socket is destroyed first or Send
// returns an error. cb runs on the socket's writer goroutine: it must not
// block, and may call the socket's methods.
//
// Writes made while connecting are queued and sent once connected. After
// End, Send returns ErrWriteAfterEnd; after the peer's end on a socket
// without AllowHalfOpen, an *Error with Code "EPIPE"; both also come as an
// ErrorEvent and leave the socket open. On a destroyed or never connected
// socket it returns ErrSocketClosed. Safe for concurrent use.
func (s *Socket) Send(p []byte, cb func(error)) (bool, error) {
	ok, _, err := s.send(p, cb, false, nil)
	return ok, err
}

// SendString is Node's socket.write(string, encoding, cb): Send of str
// encoded with encoding ("" means utf8; see SetEncoding for the names).
// An unknown encoding is an error and queues nothing.
func (s *Socket) SendString(str, encoding string, cb func(error)) (bool, error) {
	b, err := encodeArg(str, encoding)
	if err != nil {
		return false, err
	}
	ok, _, err := s.send(b, cb, true, nil)
	return ok, err
}

// Write writes p as Send does and returns len(p), as io.Writer; once the
// queue has reached the high-water mark it blocks until the writer has
// handed the queue down to the low-water mark to the kernel (backpressure
// the Go way), and owes no DrainEvent. It fails as Send does. Safe for concurrent use: each p is
// queued whole, in call order, except that with a MaxBufferSize a p larger
// than it goes in parts that another writer's data may separate.
func (s *Socket) Write(p []byte) (int, error) {
	return s.writeAll(p, nil)
}

// writeGate lets a blocking write give up: it is asked before each wait
// for room, returns the error to end the write with, or two channels
// (either may be nil) whose closing ends the wait so that it is asked
// again. NetConn's deadlines and Close are one.
type writeGate func() (a, b <-chan struct{}, err error)

// writeAll is Write, with gate (nil: wait as long as it takes). It returns
// how much of p it queued.
func (s *Socket) writeAll(p []byte, gate writeGate) (int, error) {
	s.mu.Lock()
	maxBuffer := s.maxBuffer
	s.mu.Unlock()
	n := 0
	for {
		piece := p[n:]
		if maxBuffer > 0 && len(piece) > maxBuffer {
			piece = piece[:maxBuffer] // a write larger than the bound goes in parts
		}
		if err := s.writePiece(piece, gate); err != nil {
			return n, err
		}
		if n += len(piece); n == len(p) {
			return n, nil
		}
	}
}

// writePiece queues p once the socket is writable (its queue under the
// high-water mark, or back down to the low one) and has room for it.
func (s *Socket) writePiece(p []byte, gate writeGate) error {
	for {
		var a, b <-chan struct{}
		if gate != nil {
			var err error
			if a, b, err = gate(); err != nil {
				return err
			}
		}
		s.mu.Lock()
		if err := s.writeErrLocked(); err != nil {
			s.mu.Unlock()
			s.dispatch()
			return err
		}
		if !s.unwritable && s.roomLocked(len(p)) {
			s.enqueueLocked(p, nil, false, nil, false) // Write waits itself: it owes no DrainEvent
			s.mu.Unlock()
			s.afterEnqueue()
			return nil
		}
		if s.writable == nil {
			s.writable = make(chan struct{})
		}
		w := s.writable
		s.mu.Unlock()
		select {
		case <-w: // writable again, or closed
		case <-a:
		case <-b:
		}
	}
}

// roomLocked reports whether n more bytes fit under MaxBufferSize.
func (s *Socket) roomLocked(n int) bool {
	return s.maxBuffer <= 0 || s.pending+n <= s.maxBuffer
}

// End is Node's socket.end(data): it queues data, if any, then, once the
// queue is flushed, half-closes the connection (CloseWrite sends FIN). The
// socket closes when the peer has ended too. A second End does nothing;
// End with data after End returns ErrWriteAfterEnd. On a socket that never
// connected it closes the socket. Safe for concurrent use.
func (s *Socket) End(data ...[]byte) error {
	s.mu.Lock()
	s.settleEndLocked()
	if s.ending || s.peerEnded || s.closed || s.state == stIdle {
		var err error
		if len(data) > 0 {
			err = s.writeErrLocked()
		} else if s.state == stIdle {
			s.ending = true
			s.closeLocked(nil, false)
		}
		s.mu.Unlock()
		s.dispatch()
		return err
	}
	total := 0
	for _, p := range data {
		total += len(p)
	}
	if !s.roomLocked(total) {
		s.mu.Unlock()
		return ErrBufferFull
	}
	for _, p := range data {
		s.enqueueLocked(p, nil, false, nil, true)
	}
	finished := false
	if len(s.wq) == 0 && !s.writing && s.writeErr == nil && s.state == stOpen && !s.closed && s.rawConn != nil {
		// Nothing to flush: send the FIN now rather than start a writer
		// goroutine for it (an echo ends each connection this way).
		s.ending, finished = true, true
		if s.eof && s.st.dataItems == 0 && !s.st.subscribed {
			// The peer has ended, its data is delivered and nobody
			// waits for the EndEvent: the connection is over. Close it
			// as the writer would once the end is told, so that the
			// server's count goes down before the FIN (the close's)
			// reaches the peer.
			s.wfinished = true
			s.closeLocked(nil, false)
		} else {
			s.finishWriteLocked(s.conn)
		}
	} else {
		s.endLocked()
	}
	s.mu.Unlock()
	s.afterEnqueue()
	if finished {
		s.dispatch()
	}
	return nil
}

// EndContext is End, then a wait until the queue has been handed to the
// kernel and the FIN sent, or the socket has closed (nil), or ctx is done
// (ctx.Err(); the socket goes on ending in the background). It returns
// End's error if End fails. Safe for concurrent use.
func (s *Socket) EndContext(ctx context.Context, data ...[]byte) error {
	if err := s.End(data...); err != nil {
		return err
	}
	s.mu.Lock()
	if s.wfinished || s.closed {
		s.mu.Unlock()
		return nil
	}
	if s.endWait == nil {
		s.endWait = make(chan struct{})
	}
	w := s.endWait
	s.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wakeEndWaitersLocked releases EndContext's waiters: the FIN is sent or
// the socket closed.
func (s *Socket) wakeEndWaitersLocked() {
	if s.endWait != nil {
		close(s.endWait)
		s.endWait = nil
	}
}

// EndString is End with str encoded with encoding ("" means utf8).
func (s *Socket) EndString(str, encoding string) error {
	b, err := encodeArg(str, encoding)
	if err != nil {
		return err
	}
	return s.End(b)
}

// BufferSize is Node's bufferSize: the bytes written but not yet handed
// to the kernel. It is 0 when the queue is empty and after close. Safe for
// concurrent use.
func (s *Socket) BufferSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Writable reports whether a write now would be taken without pushing
// back: the socket is open (or connecting) for writing, and its queue has
// not reached the high-water mark, or has since fallen to the low-water
// mark (Netty's isWritable, with its hysteresis). Safe for concurrent use.
func (s *Socket) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canWriteLocked() && !s.unwritable
}

// BytesBeforeUnwritable is Netty's bytesBeforeUnwritable: how many more
// bytes may be queued before Writable turns false (Send would return
// false); 0 when it is false already. Safe for concurrent use.
func (s *Socket) BytesBeforeUnwritable() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.canWriteLocked() || s.unwritable {
		return 0
	}
	return max(s.hwm-s.pending, 0)
}

// canWriteLocked reports whether writes are accepted at all.
func (s *Socket) canWriteLocked() bool {
	s.settleEndLocked()
	return !s.closed && !s.ending && !s.peerEnded && s.state != stIdle
}

// BytesWritten is Node's bytesWritten: the bytes accepted by Send, Write
// and End on this connection, including those still queued. Safe for
// concurrent use.
func (s *Socket) BytesWritten() int64 { return s.bytesWritten.Load() }

func encodeArg(str, encoding string) ([]byte, error) {
	if encoding == "" {
		return []byte(str), nil
	}
	enc, err := normalizeEncoding(encoding)
	if err != nil {
		return nil, err
	}
	return encodeString(str, enc)
}

// send is Send's work. owned says p is the socket's to keep; lent, when
// not nil, is the pooled read buffer p lies in, which the queue may keep
// instead of copying p (kept reports it did: the queue gives it back).
func (s *Socket) send(p []byte, cb func(error), owned bool, lent *[]byte) (ok, kept bool, err error) {
	s.mu.Lock()
	if err := s.writeErrLocked(); err != nil {
		s.mu.Unlock()
		s.dispatch()
		return false, false, err
	}
	if !s.roomLocked(len(p)) {
		s.mu.Unlock()
		return false, false, ErrBufferFull
	}
	ok, kept = s.enqueueLocked(p, cb, owned, lent, true)
	more := s.writeErr != nil || s.drainNow
	s.mu.Unlock()
	if more {
		s.afterEnqueue()
	}
	return ok, kept, nil
}

// writeErrLocked reports why the socket cannot take a write now. The
// errors Node emits (write after end, EPIPE after the peer's end) are also
// queued as an ErrorEvent; they do not close the socket.
func (s *Socket) writeErrLocked() error {
	s.settleEndLocked()
	var err error
	switch {
	case s.peerEnded:
		err = errPeerEnded()
	case s.ending:
		err = ErrWriteAfterEnd
	case s.closed || s.state == stIdle:
		return ErrSocketClosed
	default:
		return nil
	}
	s.st.push(ErrorEvent{Err: err})
	return err
}

// enqueueLocked takes a write and returns Node's result for it. While
// nothing is queued or being written, the bytes go to the kernel at once
// from the caller (as libuv does), without a copy or a goroutine; only what
// the kernel did not take is queued, for a writer goroutine to flush.
//
// owned and lent are as for send; kept reports that the queue keeps lent.
func (s *Socket) enqueueLocked(p []byte, cb func(error), owned bool, lent *[]byte, owesDrain bool) (ok, kept bool) {
	ok = s.pending+len(p) < s.hwm
	if !ok {
		s.unwritable = true
		if owesDrain {
			s.needDrain = true
		}
	}
	s.bytesWritten.Add(int64(len(p)))
	if cb == nil && len(p) > 0 && len(s.wq) == 0 && !s.writing && s.state == stOpen && !s.closed {
		n, err := s.writeNowLocked(p)
		if err != nil {
			s.writeErr = err // the caller destroys the socket once unlocked
			return ok, false
		}
		if n > 0 {
			s.lastWrite.Store(time.Now().UnixNano())
			s.touchLocked(onWrite)
		}
		if p = p[n:]; len(p) == 0 {
			if s.unwritable && s.drainedLocked() {
				s.drainNow = true
			}
			return ok, false
		}
	}
	return ok, s.queueLocked(p, cb, owned, lent)
}

// queueLocked queues what enqueueLocked could not write at once, for the
// writer goroutine. It is kept apart so that the direct write, which runs
// on the reader's stack under a Pipe, stays shallow: a parked reader's
// stack is only as large as its deepest moment.
func (s *Socket) queueLocked(p []byte, cb func(error), owned bool, lent *[]byte) (kept bool) {
	req := writeReq{b: p, cb: cb}
	switch {
	case lent != nil:
		req.buf, kept = lent, true // no copy: the writer gives the buffer back
	case !owned:
		req.b = append([]byte(nil), p...)
	}
	s.wq = append(s.wq, req)
	if s.pending == 0 {
		s.stallStartLocked() // bytes begin to wait
	}
	s.pending += len(p)
	if s.state == stOpen {
		s.startWriterLocked()
	}
	return kept
}

// writeNowLocked writes p without waiting: it returns how much the kernel
// took (0 when its buffer is full).
func (s *Socket) writeNowLocked(p []byte) (int, error) {
	if s.rawConn == nil {
		return 0, nil
	}
	s.dw.p = p
	err := s.rawConn.Write(s.dw.fn)
	n, werr := s.dw.n, s.dw.err
	s.dw = directWrite{fn: s.dw.fn}
	switch {
	case err != nil:
		return 0, s.writeError(err)
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, s.writeError(os.NewSyscallError("write", werr))
	}
	return n, nil
}

// writeError is a failed write's error, made out of the direct write's
// line so as not to deepen its frame.
//
//go:noinline
func (s *Socket) writeError(err error) error {
	return sysError("write", remoteString(s.conn), err)
}

// afterEnqueue finishes a write outside the lock: it destroys the socket
// after a failed direct write, or announces a drain that the direct write
// made.
func (s *Socket) afterEnqueue() {
	s.mu.Lock()
	err, drained := s.writeErr, s.drainNow
	if err == nil && !drained {
		s.mu.Unlock() // the common case: nothing to do
		return
	}
	s.writeErr, s.drainNow = nil, false
	var srcs []*Socket
	if drained {
		srcs = append(srcs, s.pipeSrcs...)
	}
	s.mu.Unlock()
	if err != nil {
		s.destroy(err, false)
		return
	}
	if drained {
		s.dispatch()
		for _, src := range srcs {
			src.onPipeDrain(s)
		}
	}
}

func (s *Socket) endLocked() {
	if s.ending {
		return
	}
	s.ending = true
	if s.state == stOpen && !s.closed {
		s.startWriterLocked()
	}
}

// startWriterLocked starts the writer goroutine unless it runs already;
// a running writer takes what is queued before it returns.
func (s *Socket) startWriterLocked() {
	if s.writing {
		return
	}
	s.writing = true
	s.live++
	go s.writeLoop(s.conn, s.done)
}

// drainedLocked runs when the queue has shrunk. At or under the low-water
// mark the socket is writable again: blocked Writes go on, and the
// DrainEvent a false Send owes is queued; it reports the latter.
func (s *Socket) drainedLocked() bool {
	if s.pending > s.lwm {
		return false
	}
	s.unwritable = false
	s.wakeWritersLocked()
	if !s.needDrain {
		return false
	}
	s.needDrain = false
	s.st.push(DrainEvent{})
	return true
}

// wakeWritersLocked releases the callers blocked in Write.
func (s *Socket) wakeWritersLocked() {
	if s.writable != nil {
		close(s.writable)
		s.writable = nil
	}
}

// writeLoop is the writer goroutine of one connection, running while
// writes wait: it hands the queue to the kernel in batches (one writev
// each, blocking as long as the kernel's buffer is full), runs the
// callbacks, sends the FIN after End, and returns once the queue is empty.
func (s *Socket) writeLoop(conn net.Conn, done chan struct{}) {
	defer s.exitIO()
	var reqs []writeReq
	var bufs net.Buffers
	var bw *batchWriter
	for {
		s.mu.Lock()
		if s.closed || s.done != done {
			s.writing = false
			s.mu.Unlock()
			return
		}
		if len(s.wq) == 0 {
			if s.ending && !s.wfinished {
				if closeWrite := s.finishWriteLocked(conn); closeWrite != nil {
					s.mu.Unlock()
					err := closeWrite()
					s.mu.Lock()
					if s.done == done {
						s.finishedLocked(conn, err)
					}
				}
			}
			s.writing = false
			s.mu.Unlock()
			s.dispatch()
			return
		}
		reqs, s.wq = s.wq, reqs[:0]
		s.touchLocked(1 << idleAll) // Node's timer counts a write begun
		if bw == nil {
			bw = newBatchWriter(s, conn, s.rawConn)
		}
		s.mu.Unlock()

		total := 0
		bufs = bufs[:0]
		for _, r := range reqs {
			if len(r.b) > 0 {
				bufs = append(bufs, r.b)
				total += len(r.b)
			}
		}
		var err error
		if total > 0 {
			err = bw.write(bufs)
		}
		clear(bufs)

		s.mu.Lock()
		if s.closed || s.done != done {
			s.writing = false
			s.mu.Unlock()
			return
		}
		if err != nil {
			// The callbacks get the error first (Node: cb(err), then
			// 'error', then 'close'). writing stays set meanwhile, so no
			// second writer starts and runs callbacks beside these.
			werr := sysError("write", remoteString(conn), err)
			s.mu.Unlock()
			for _, r := range reqs {
				if r.cb != nil {
					r.cb(werr)
				}
			}
			s.destroy(werr, false)
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.pending -= total
		s.lastWrite.Store(time.Now().UnixNano())
		s.touchLocked(onWrite)
		drained := s.unwritable && s.drainedLocked()
		s.wakeWritersLocked() // a Write waiting for MaxBufferSize room looks again
		var srcs []*Socket
		if drained {
			srcs = append(srcs, s.pipeSrcs...)
		}
		s.mu.Unlock()
		s.dispatch()
		for _, src := range srcs {
			src.onPipeDrain(s)
		}
		for i, r := range reqs {
			if r.cb != nil {
				r.cb(nil)
			}
			if r.buf != nil {
				readBufs.Put(r.buf)
			}
			reqs[i] = writeReq{}
		}
	}
}

// finishWriteLocked runs when the queue is flushed after End: it sends the
// FIN, or closes the socket if the peer has already ended. A conn without
// a descriptor (TLS, whose CloseWrite writes close_notify and may wait on
// a peer that does not read) is half-closed by the function it returns,
// to be called unlocked and followed by finishedLocked.
func (s *Socket) finishWriteLocked(conn net.Conn) (unlocked func() error) {
	s.wfinished = true
	if s.readDoneLocked() {
		s.closeLocked(nil, false)
		return nil
	}
	cw, ok := conn.(interface{ CloseWrite() error })
	switch {
	case !ok:
	case s.rawConn == nil:
		return cw.CloseWrite
	default:
		s.finishedLocked(conn, cw.CloseWrite())
		return nil
	}
	s.wakeEndWaitersLocked()
	return nil
}

// finishedLocked completes End's half-close with its outcome.
func (s *Socket) finishedLocked(conn net.Conn, err error) {
	s.wakeEndWaitersLocked()
	if err != nil {
		s.closeLocked(sysError("shutdown", remoteString(conn), err), true)
	}
}

// directWrite is the state of one direct write, kept in the socket with a
// callback made once, so that a direct write allocates nothing. It is
// used under the socket's lock.
type directWrite struct {
	fn  func(fd uintptr) bool
	p   []byte
	n   int
	err error
}

// write is the RawConn callback of a direct write; it never asks to wait.
func (w *directWrite) write(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.p)
		if w.err != syscall.EINTR {
			return true
		}
	}
}
