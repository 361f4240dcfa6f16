package nodenet

import (
	"context"
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
// kernel took everything). cb, when not nil, runs exactly once: with nil
// once the bytes are handed to the kernel, or with an error if the write
// fails or the socket closes first (ErrDestroyed after Destroy, or the
// error that destroyed it); it is not called when Send returns an error.
// cb runs on a goroutine of the socket: it must not block, and may call
// the socket's methods.
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

// Write writes p as Send does and returns len(p), as io.Writer, with
// backpressure the Go way: it queues up to the high-water mark (or
// MaxBufferSize, if lower) and blocks only while the queue is at it,
// until the writer has handed enough to the kernel. It owes no DrainEvent
// and fails as Send does. A Write still blocked when the write deadline
// (SetWriteDeadline) passes returns os.ErrDeadlineExceeded; Destroy, an
// error or the close return ErrSocketClosed. In every case it returns how
// much of p it queued, all of which goes out. Safe for concurrent use:
// concurrent Writes are queued in turn, but the pieces of a p larger than
// the mark may interleave with another writer's.
func (s *Socket) Write(p []byte) (int, error) {
	return s.writeAll(p, nil, nil)
}

// WriteContext is Write that also gives up when ctx is done, returning
// ctx.Err() and how much of p it queued. Safe for concurrent use.
func (s *Socket) WriteContext(ctx context.Context, p []byte) (int, error) {
	if ctx == nil {
		return 0, argError("WriteContext: nil context")
	}
	return s.writeAll(p, ctx, nil)
}

// WriteString is Write of s's bytes (io.StringWriter).
func (s *Socket) WriteString(str string) (int, error) {
	return s.Write([]byte(str))
}

// SetWriteDeadline sets the time after which a Write (WriteString,
// WriteContext) blocked on a full queue gives up with
// os.ErrDeadlineExceeded, as net.Conn's; a deadline in the past fails the
// next one at once, the zero time clears it, and a new deadline applies to
// a Write already blocked. It also bounds Close's flush. It belongs to the
// current connection (a reconnect starts without one). Send never blocks
// and ignores it. Safe for concurrent use.
func (s *Socket) SetWriteDeadline(t time.Time) error {
	if !s.lock() {
		return errNilSocket
	}
	c := s.c
	if c.wdl == nil {
		if t.IsZero() {
			s.mu.Unlock()
			return nil
		}
		c.wdl = newDeadline()
	}
	dl := c.wdl
	s.mu.Unlock()
	dl.set(t)
	s.mu.Lock()
	c.wakeWritersLocked() // a Write already blocked looks at the new deadline
	s.mu.Unlock()
	return nil
}

// writeGate lets a blocking write give up: it is asked before each wait
// for room, returns the error to end the write with, or two channels
// (either may be nil) whose closing ends the wait so that it is asked
// again. NetConn's deadlines and Close are one.
type writeGate func() (a, b <-chan struct{}, err error)

// writeAll is Write: it waits for room until the write deadline of the
// socket's connection, ctx (when not nil) or gate (a NetConn view's, when
// not nil) says to give up. It returns how much of p it queued.
func (s *Socket) writeAll(p []byte, ctx context.Context, gate writeGate) (int, error) {
	n := 0
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for {
		var a, b <-chan struct{}
		if gate != nil {
			var err error
			if a, b, err = gate(); err != nil {
				return n, err
			}
		}
		if ctx != nil && ctx.Err() != nil {
			return n, ctx.Err()
		}
		if !s.lock() {
			return n, errNilSocket
		}
		c := s.c
		if err := c.writeErrLocked(); err != nil {
			s.mu.Unlock()
			return n, err
		}
		var dl <-chan struct{}
		if c.wdl != nil && gate == nil { // a view has deadlines of its own
			if dl = c.wdl.wait(); isClosed(dl) {
				s.mu.Unlock()
				return n, os.ErrDeadlineExceeded
			}
		}
		if n == len(p) {
			s.mu.Unlock()
			return n, nil // an empty p
		}
		if room := c.writeRoomLocked(); room > 0 && (room >= len(p)-n || len(p)-n > c.writeBoundLocked()) {
			// What fits under the bound goes in whole, once there is
			// room for all of it, so that concurrent Writes never
			// interleave inside it; only a larger p goes in pieces.
			n += c.writeSomeLocked(p[n:], room)
			s.mu.Unlock()
			if n == len(p) {
				return n, nil
			}
			continue
		}
		if c.writable == nil {
			c.writable = make(chan struct{})
		}
		w := c.writable
		s.mu.Unlock()
		select {
		case <-w: // room again, or closed
		case <-a:
		case <-b:
		case <-done:
		case <-dl:
		}
	}
}

// writeRoomLocked is how much Write may queue now: the queue goes up to
// writeBoundLocked.
func (c *conn) writeRoomLocked() int {
	return c.writeBoundLocked() - c.pending
}

// writeBoundLocked is the most Write queues: the high-water mark, or
// MaxBufferSize if that is lower.
func (c *conn) writeBoundLocked() int {
	bound := c.s.hwm
	if mb := c.s.maxBuffer; mb > 0 && mb < bound {
		bound = mb
	}
	return bound
}

// writeSomeLocked is Write's enqueue: what the kernel takes at once, then
// at most room bytes into the queue. It returns how much of p it took.
func (c *conn) writeSomeLocked(p []byte, room int) int {
	took := 0
	if c.directLocked(nil) {
		took = c.writeNowLocked(p)
		if c.phase == phaseClosed {
			return 0
		}
	}
	q := min(len(p)-took, room)
	c.queueLocked(p[took:took+q], nil, false, nil)
	c.bytesWritten.Add(int64(took + q))
	if c.pending >= c.s.hwm {
		c.unwritable = true
	}
	return took + q
}

// roomLocked reports whether n more bytes fit under MaxBufferSize.
func (c *conn) roomLocked(n int) bool {
	return c.s.maxBuffer <= 0 || c.pending+n <= c.s.maxBuffer
}

// End is Node's socket.end(data): it queues data, if any, then, once the
// queue is flushed, half-closes the connection (CloseWrite sends FIN). The
// socket closes when the peer has ended too. A second End does nothing;
// End with data after End returns ErrWriteAfterEnd. On a socket that never
// connected it closes the socket. Safe for concurrent use.
func (s *Socket) End(data ...[]byte) error {
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	c := s.c
	c.settleLocked(kindEnd | kindClose)
	if c.phase == phaseIdle {
		if len(data) > 0 {
			return ErrSocketClosed
		}
		c.writeSide, c.endErr = writeShut, ErrWriteAfterEnd
		c.closeLocked(nil, closedGracefully)
		return nil
	}
	if c.writeSide != writeOpen || c.phase == phaseClosed {
		if len(data) > 0 {
			return c.writeErrLocked()
		}
		return nil
	}
	total := 0
	for _, p := range data {
		total += len(p)
	}
	if !c.roomLocked(total) {
		return ErrBufferFull
	}
	for _, p := range data {
		c.enqueueLocked(p, nil, false, nil, true)
	}
	c.endLocked(ErrWriteAfterEnd)
	return nil
}

// EndContext is End, then a wait until the queue has been handed to the
// kernel and the FIN sent, or the socket has closed (nil), or ctx is done
// (ctx.Err(); the socket goes on ending in the background). It returns
// End's error if End fails, and for a nil ctx an error wrapping
// ErrInvalidArgument (then it does nothing). Safe for concurrent use.
func (s *Socket) EndContext(ctx context.Context, data ...[]byte) error {
	if ctx == nil {
		return argError("EndContext: nil context")
	}
	if err := s.End(data...); err != nil {
		return err
	}
	s.lock()
	c := s.c
	if c.writeSide == writeShut || c.phase == phaseClosed {
		s.mu.Unlock()
		return nil
	}
	if c.endWait == nil {
		c.endWait = make(chan struct{})
	}
	w := c.endWait
	s.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
// to the kernel. It falls as the kernel takes them, also within one batch
// of the writer. It is 0 when the queue is empty and after close. Safe
// for concurrent use.
func (s *Socket) BufferSize() int {
	if !s.lock() {
		return 0
	}
	defer s.mu.Unlock()
	return s.c.bufferSizeLocked()
}

func (c *conn) bufferSizeLocked() int {
	return max(c.pending-int(c.taken.Load()), 0)
}

// Writable reports whether a write now would be taken without pushing
// back: the socket is open (or connecting) for writing, and its queue has
// not reached the high-water mark, or has since fallen to the low-water
// mark (Netty's isWritable, with its hysteresis). Safe for concurrent use.
func (s *Socket) Writable() bool {
	if !s.lock() {
		return false
	}
	defer s.mu.Unlock()
	return s.c.canWriteLocked() && !s.c.unwritable
}

// BytesBeforeUnwritable is Netty's bytesBeforeUnwritable: how many more
// bytes may be queued before Writable turns false (Send would return
// false); 0 when it is false already. Safe for concurrent use.
func (s *Socket) BytesBeforeUnwritable() int {
	if !s.lock() {
		return 0
	}
	defer s.mu.Unlock()
	c := s.c
	if !c.canWriteLocked() || c.unwritable {
		return 0
	}
	return max(s.hwm-c.bufferSizeLocked(), 0)
}

// canWriteLocked reports whether writes are accepted at all.
func (c *conn) canWriteLocked() bool {
	c.settleLocked(kindEnd | kindClose)
	return c.writeSide == writeOpen && (c.phase == phaseConnecting || c.phase == phaseOpen)
}

// BytesWritten is Node's bytesWritten: the bytes accepted by Send, Write
// and End on this connection, including those still queued. Safe for
// concurrent use.
func (s *Socket) BytesWritten() int64 {
	if !s.lock() {
		return 0
	}
	c := s.c
	s.mu.Unlock()
	return c.bytesWritten.Load()
}

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
	if !s.lock() {
		return false, false, errNilSocket
	}
	c := s.c
	if err := c.writeErrLocked(); err != nil {
		s.mu.Unlock()
		return false, false, err
	}
	if !c.roomLocked(len(p)) {
		s.mu.Unlock()
		return false, false, ErrBufferFull
	}
	ok, kept, drained := c.enqueueLocked(p, cb, owned, lent, true)
	s.mu.Unlock()
	if drained {
		s.drained(c)
	}
	return ok, kept, nil
}

// drained tells the sockets that Pipe into s that c, s's connection, has
// drained. (Apart from send, whose frame is on a piped reader's stack.)
//
//go:noinline
func (s *Socket) drained(c *conn) {
	s.mu.Lock()
	srcs := c.pipeSrcs
	s.mu.Unlock()
	s.tellPipeSources(srcs)
}

// writeErrLocked reports why the conn cannot take a write now. The errors
// Node emits (write after end, EPIPE after the peer's end) are also queued
// as an ErrorEvent; they do not close the socket. A write made by the
// consumer while it handles an event acts before the next one: before an
// EndEvent it has not received (it goes out), before the CloseEvent (its
// error comes first).
func (c *conn) writeErrLocked() error {
	c.settleLocked(kindEnd | kindClose)
	switch {
	case c.endErr != nil:
		c.pushLocked(ErrorEvent{Err: c.endErr})
		return c.endErr
	case c.phase == phaseClosed || c.phase == phaseIdle:
		return ErrSocketClosed
	}
	return nil
}

// enqueueLocked takes a write and returns Node's result for it. While
// nothing is queued or being written, the bytes go to the kernel at once
// from the caller (as libuv does), without a copy or a goroutine; only what
// the kernel did not take is queued, for the writer goroutine. drained
// reports that the kernel took it all after a false and a DrainEvent was
// queued.
//
// owned and lent are as for send; kept reports that the queue keeps lent.
func (c *conn) enqueueLocked(p []byte, cb func(error), owned bool, lent *[]byte, owesDrain bool) (ok, kept, drained bool) {
	ok = c.pending+len(p) < c.s.hwm
	if !ok {
		c.unwritable = true
		if owesDrain {
			c.needDrain = true
		}
	}
	c.bytesWritten.Add(int64(len(p)))
	if len(p) > 0 && c.directLocked(cb) {
		n := c.writeNowLocked(p)
		if p = p[n:]; len(p) == 0 || c.phase == phaseClosed {
			return ok, false, c.unwritable && c.drainedLocked()
		}
	}
	return ok, c.queueLocked(p, cb, owned, lent), false
}

// directLocked reports whether a write may go to the kernel from the
// caller: the conn is open with a descriptor, nothing is queued or being
// written, and there is no callback (callbacks run on the writer).
func (c *conn) directLocked(cb func(error)) bool {
	return cb == nil && len(c.wq) == 0 && !c.writing && c.phase == phaseOpen && c.rc != nil
}

// queueLocked queues what enqueueLocked could not write at once, for the
// writer goroutine. It is kept apart so that the direct write, which runs
// on the reader's stack under a Pipe, stays shallow: a parked reader's
// stack is only as large as its deepest moment.
func (c *conn) queueLocked(p []byte, cb func(error), owned bool, lent *[]byte) (kept bool) {
	if len(p) == 0 && cb == nil {
		return false
	}
	req := writeReq{b: p, cb: cb}
	switch {
	case lent != nil:
		req.buf, kept = lent, true // no copy: the writer gives the buffer back
	case !owned:
		req.b = append([]byte(nil), p...)
	}
	c.wq = append(c.wq, req)
	if c.pending == 0 {
		c.s.stallStartLocked() // bytes begin to wait
	}
	c.pending += len(p)
	c.startWriterLocked()
	return kept
}

// writeNowLocked writes p without waiting and returns how much the kernel
// took (0 when its buffer is full). A failed write destroys the conn.
func (c *conn) writeNowLocked(p []byte) int {
	c.dw.p = p
	err := c.rc.Write(c.dw.fn)
	n, werr := c.dw.n, c.dw.err
	c.dw.p, c.dw.n, c.dw.err = nil, 0, nil
	switch {
	case err == nil && werr == syscall.EAGAIN:
		return 0
	case err == nil && werr != nil:
		err = os.NewSyscallError("write", werr)
	case err == nil:
		if n > 0 {
			c.lastWrite.Store(time.Now().UnixNano())
			c.s.touchLocked(onWrite)
		}
		return n
	}
	c.writeFailedLocked(err)
	return 0
}

// writeFailedLocked destroys the conn after a failed write. It is kept out
// of the direct write's line so as not to deepen its frame.
//
//go:noinline
func (c *conn) writeFailedLocked(err error) {
	c.closeLocked(sysError("write", remoteString(c.nc), err), closedByError)
}

// startWriterLocked starts the writer goroutine unless it runs already;
// a running writer takes what is queued before it returns. While
// connecting, the dialer starts it once connected.
func (c *conn) startWriterLocked() {
	if c.writing || c.phase != phaseOpen {
		return
	}
	c.writing = true
	c.helpers++
	go c.writeLoop()
}

// drainedLocked runs when the queue has shrunk. At or under the low-water
// mark the socket is writable again: blocked Writes go on, and the
// DrainEvent a false Send owes is queued; it reports the latter.
func (c *conn) drainedLocked() bool {
	if c.pending > c.s.lwm {
		return false
	}
	c.unwritable = false
	c.wakeWritersLocked()
	if !c.needDrain {
		return false
	}
	c.needDrain = false
	c.pushLocked(DrainEvent{})
	return true
}

// tellPipeSources tells the sockets that Pipe into s that s has drained.
func (s *Socket) tellPipeSources(srcs []*Socket) {
	for _, src := range srcs {
		src.onPipeDrain(s)
	}
}

// directWrite is the state of one direct write, kept in the conn with a
// callback made once, so that a direct write allocates nothing. It is
// used under the socket's lock.
type directWrite struct {
	fn  func(fd uintptr) bool // write (rawio_unix.go), made once
	p   []byte
	n   int
	err error
}
