package nodenet

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// A conn is one connection of a Socket and everything that lives and dies
// with it: the net.Conn, its goroutines, its event queue and channel, its
// write queue, its pipes and its counters. Socket.Connect on a closed
// socket makes a new conn; nothing is reset by hand. All fields are
// guarded by the Socket's mu, except the atomic counters.
//
// The lifecycle is three one-way state machines:
//
//	phase:     idle ──Connect──> connecting ──dialled──> open ──close──> closed
//	           (idle and connecting may also go straight to closed)
//	readSide:  open ──FIN read──> eof ──EndEvent received (or unheard)──> ended
//	writeSide: open ──End, or the peer's end without AllowHalfOpen──> ending
//	           ending ──queue flushed, FIN sent──> shut
//
// A conn closes gracefully when readSide is ended and writeSide is shut,
// and at once on Destroy or an error (closeLocked is the one close path).
// Once closed, its goroutine closes the net.Conn, waits for its helpers,
// runs the callbacks of the writes that never went out, queues the
// CloseEvent, delivers what remains and ends.
//
// Goroutines: run (the conn's own: reads, and is the one sender of its
// event channel), the dialer while connecting, and the writer while writes
// wait in the queue. run is started when the conn is and ends after the
// CloseEvent is delivered (or, with no consumer, once closed); the dialer
// and the writer are its helpers, and the CloseEvent waits for them.
type conn struct {
	s *Socket

	phase     phase
	readSide  readSide
	writeSide writeSide
	closedHow closeKind
	endErr    error // what a write gets once writeSide has left open
	closeErr  error // the error the conn was destroyed with, for callbacks

	nc         net.Conn
	rc         syscall.RawConn // nc's descriptor, for the raw path (rawio_unix.go); nil without one (TLS) and on Windows
	stop       chan struct{}   // closed at close; made on first use (stopChan)
	cancelDial context.CancelFunc
	cx         *connContext // Context's; nil until asked for
	wdl        *deadline    // SetWriteDeadline's; nil until set

	// The goroutines.
	alerts      alerts // ShutdownEvents and TimeoutEvents so far: NetConn's blocked Writes watch it
	running     bool   // run is live
	helpers     int32  // dialer and writer goroutines still running
	reading     bool   // run is in a read
	interrupted bool   // and that read has been given a past deadline to wake it
	ncClosed    bool   // run has closed nc

	// Delivery: the queue of events and data, and the consumer's channel.
	q           queue
	out         outlet
	handling    bool // the server's connection handler is running: it may yet subscribe
	holdReads   bool // PauseOnConnect: no read at all until Resume
	closeQueued bool // the CloseEvent is queued (or delivered)
	dec         decoder
	fr          *framer    // the Framing's state; nil without one
	pipes       []*pipeDst // destinations of Pipe; copied on write
	pipeSrcs    []*Socket  // sockets that Pipe into this one; copied on write

	// Write side.
	wq         []writeReq
	pending    int           // bytes queued or in the writer's batch, not yet taken by the kernel
	taken      atomic.Int64  // of the writer's batch, the bytes the kernel has taken so far
	writing    bool          // the writer goroutine runs
	needDrain  bool          // a Send returned false: a DrainEvent is owed
	unwritable bool          // the queue reached the high-water mark, and has not yet fallen to the low one
	writable   chan struct{} // closed when a Write blocked on a full queue may go on
	endWait    chan struct{} // closed when the FIN is sent or the conn closes (EndContext)
	dw         directWrite
	rd         rawRead // run's reads: used by run alone, without the lock

	bytesRead, bytesWritten atomic.Int64
	lastRead, lastWrite     atomic.Int64 // unix ns, for Stats and the idle watches
}

type phase uint8

const (
	phaseIdle       phase = iota // made by NewSocket, never connected
	phaseConnecting              // dialling
	phaseOpen                    // connected (reading and writing as readSide and writeSide say)
	phaseClosed                  // closed, or never opened: only delivery remains
)

type readSide uint8

const (
	readOpen  readSide = iota
	readEOF            // the peer's FIN was read: its EndEvent waits behind the data
	readEnded          // the consumer has the EndEvent, or nobody could hear it
)

type writeSide uint8

const (
	writeOpen   writeSide = iota
	writeEnding           // ended: the queue is flushed, then the FIN sent
	writeShut             // the FIN is sent (or the conn cannot half-close)
)

type closeKind uint8

const (
	closedGracefully closeKind = iota // both sides ended
	closedByDestroy                   // Destroy or DestroyWithError
	closedByError                     // a failed read, write, half-close or connect
)

// closedChan is the stop channel of a conn closed before anyone asked for it.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newConn(s *Socket) *conn {
	c := &conn{s: s}
	if s.encoding != "" {
		c.dec = newDecoder(s.encoding)
	}
	return c
}

// stopChan returns the channel closed when the conn closes.
func (c *conn) stopChan() chan struct{} {
	if c.stop == nil {
		c.stop = make(chan struct{})
	}
	return c.stop
}

// openLocked makes nc the conn's connection.
func (c *conn) openLocked(nc net.Conn) {
	c.nc = nc
	c.phase = phaseOpen
	if f := c.s.frame; f != nil {
		c.fr = &framer{framing: f}
		c.dec = nil // frames are decoded whole
	}
	c.useDescriptorLocked(nc)
	c.s.applyOptionsLocked()
}

// startLocked starts the conn's goroutine; the socket's handle counts for
// Wait while it is connecting or open.
func (c *conn) startLocked() {
	c.running = true
	if c.phase != phaseClosed {
		c.s.ref.set(true, c.s.ref.unref)
	}
	go c.run()
}

// closeLocked is the one close path of a connection. how says why; err,
// when not nil, becomes the ErrorEvent before the CloseEvent (and makes
// its HadError true). A destroy and an error drop what is queued for the
// consumer, but for a failed connect, whose queued events (the attempts, a
// timeout) tell its story. It never blocks: the conn's goroutine closes
// the net.Conn, so Destroy returns at once.
func (c *conn) closeLocked(err error, how closeKind) {
	if c.phase == phaseClosed {
		return
	}
	drop := how == closedByDestroy || how == closedByError && c.phase != phaseConnecting
	c.phase = phaseClosed
	c.closedHow = how
	c.closeErr = err
	s := c.s
	// The server's count goes down before the descriptor closes, so that
	// a peer that sees the close also sees the count without it.
	if s.server != nil {
		s.server.release(s)
	}
	if c.stop == nil {
		c.stop = closedChan
	} else {
		close(c.stop)
	}
	if c.cancelDial != nil {
		c.cancelDial()
		c.cancelDial = nil
	}
	c.cancelContextLocked()
	if !c.interruptLocked() && c.nc != nil {
		// A conn without deadlines cannot be woken from its read: close
		// it now, on a helper, since a conn without a descriptor may
		// block as it closes.
		c.closeAsideLocked()
	}
	// Queued writes never go out: their callbacks get an error (run
	// calls them, from wq), Writes blocked on the queue and EndContext
	// return.
	c.pending = 0
	c.needDrain, c.unwritable = false, false
	c.wakeWritersLocked()
	c.wakeEndWaitersLocked()
	if c.wdl != nil {
		c.wdl.set(time.Time{}) // stops its timer
	}
	s.stopIdleLocked()
	if drop {
		c.q.dropAll()
	}
	if err != nil {
		c.pushLocked(ErrorEvent{Err: err})
	}
	s.ref.set(false, s.ref.unref)
	c.wakeLocked()
	if !c.running && (c.out.ch != nil || c.out.abandoned) {
		c.startLocked() // a conn that never started has a CloseEvent to deliver
	}
}

// closeAsideLocked closes nc on a helper goroutine, for the conns whose
// read cannot be interrupted.
func (c *conn) closeAsideLocked() {
	c.ncClosed = true
	c.helpers++
	go func(nc net.Conn) {
		nc.Close()
		c.s.mu.Lock()
		c.helperDoneLocked()
		c.s.mu.Unlock()
	}(c.nc)
}

// helperDoneLocked is the last act of a helper goroutine.
func (c *conn) helperDoneLocked() {
	c.helpers--
	c.wakeLocked()
}

// maybeCloseLocked closes the conn gracefully once both sides have ended.
func (c *conn) maybeCloseLocked() {
	if c.phase == phaseOpen && c.readSide == readEnded && c.writeSide == writeShut {
		c.closeLocked(nil, closedGracefully)
	}
}

// endLocked ends this side: later writes fail with err, what is queued is
// flushed, then the FIN is sent. While connecting, the writer does it once
// connected.
func (c *conn) endLocked(err error) {
	if c.writeSide != writeOpen {
		return
	}
	c.writeSide = writeEnding
	c.endErr = err
	if c.phase != phaseOpen {
		return
	}
	if len(c.wq) == 0 && !c.writing && c.rc != nil {
		c.shutLocked() // nothing to flush: no writer goroutine for the FIN
	} else {
		c.startWriterLocked()
	}
}

// shutLocked sends the FIN once the queue is flushed. When the read side
// is over too, it closes instead (the close sends the FIN), so that the
// server's count goes down before the peer sees it.
func (c *conn) shutLocked() {
	c.writeSide = writeShut
	if c.readSide == readEnded {
		c.closeLocked(nil, closedGracefully)
		return
	}
	c.shutDoneLocked(closeWrite(c.nc))
}

// shutDoneLocked completes the half-close with its outcome.
func (c *conn) shutDoneLocked(err error) {
	c.wakeEndWaitersLocked()
	if err != nil {
		c.closeLocked(sysError("shutdown", remoteString(c.nc), err), closedByError)
	}
}

// endToldLocked runs when the consumer has received the EndEvent (or when
// nobody can hear it): without AllowHalfOpen this side ends too, and every
// later write fails with EPIPE, as v0.10 swaps write for its EPIPE thrower.
func (c *conn) endToldLocked() {
	if c.readSide != readEOF {
		return
	}
	c.readSide = readEnded
	if !c.s.allowHalfOpen {
		err := errPeerEnded()
		c.endLocked(err)
		c.endErr = err // also after End: v0.10's thrower replaces write for good
	}
	c.maybeCloseLocked()
}

// endIfUnheardLocked tells the end to nobody when nobody can hear it: no
// consumer, no Pipe, no connection handler still running (it may yet
// subscribe, as a Node 'connection' listener runs before any read), and
// nothing unread before it. The EndEvent stays queued for a consumer that
// subscribes later.
func (c *conn) endIfUnheardLocked() {
	if c.readSide == readEOF && !c.out.subscribed() && len(c.pipes) == 0 && !c.handling && c.q.data == 0 {
		c.endToldLocked()
	}
}

// pushLocked queues an event for the consumer and wakes the conn's goroutine.
func (c *conn) pushLocked(ev Event) {
	if c.out.closed {
		return // the CloseEvent is delivered: nothing follows it
	}
	c.q.push(ev, c.out.subscribed())
	c.wakeLocked()
}

// wakeLocked tells the conn's goroutine that something changed. A read in
// progress is interrupted only when there is something to do now: an item
// to deliver, or an idle conn to end in its server's Shutdown.
func (c *conn) wakeLocked() {
	c.out.signal()
	if c.reading && !c.interrupted && (c.nextLocked() >= 0 || c.idleInShutdownLocked()) {
		c.interruptLocked()
	}
}

// interruptLocked wakes the conn's goroutine from a read in progress, the
// way net/http aborts a background read: with a read deadline in the past.
// It reports false if the conn has no deadlines.
func (c *conn) interruptLocked() bool {
	if !c.reading || c.interrupted {
		return true
	}
	if err := c.nc.SetReadDeadline(aLongTimeAgo); err != nil {
		return false
	}
	c.interrupted = true
	return true
}

// aLongTimeAgo is a deadline in the past, which wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// settleLocked, when an item of one of the kinds is on offer to the
// consumer, waits until the offer has ended: received, or withdrawn by the
// conn's goroutine on the wake-up. A method called by the consumer, which
// cannot be receiving meanwhile, so sees the offer withdrawn and acts
// before that item: a write made while handling data before the EndEvent
// still goes out, an error comes before the CloseEvent, and Pause stops
// the DataEvent it has not received. The next offer waits until the
// caller unlocks.
func (c *conn) settleLocked(kinds itemKind) {
	if c.out.settle(&c.s.mu, kinds) {
		c.wakeLocked()
	}
}

// wakeWritersLocked releases the callers blocked in Write.
func (c *conn) wakeWritersLocked() {
	if c.writable != nil {
		close(c.writable)
		c.writable = nil
	}
}

// wakeEndWaitersLocked releases EndContext's waiters: the FIN is sent or
// the conn closed.
func (c *conn) wakeEndWaitersLocked() {
	if c.endWait != nil {
		close(c.endWait)
		c.endWait = nil
	}
}

// flowingLocked reports whether data may be delivered: the socket is not
// paused and no Pipe destination is full.
func (c *conn) flowingLocked() bool {
	if c.s.paused {
		return false
	}
	for _, pd := range c.pipes {
		if pd.waiting {
			return false
		}
	}
	return true
}

func remoteString(c net.Conn) string {
	if c == nil {
		return ""
	}
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
