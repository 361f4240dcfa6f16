package nodenet

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Socket is Node's net.Socket: a TCP or Unix stream connection whose
// life is told as events on one channel (see Events), with Node's write
// queue, half-close, pause/resume, idle timeout and encodings.
//
// All methods are safe to call from any goroutine, including from the
// goroutine that reads Events and from write callbacks. None of them waits
// for the consumer of Events.
type Socket struct {
	mu sync.Mutex

	// Configuration.
	flow
	allowHalfOpen bool
	server        *Server // the server that accepted it, or nil

	// Connection lifecycle: one connection at a time; Connect after the
	// CloseEvent starts a new one with a fresh event stream.
	state      sockState
	conn       net.Conn
	rawConn    syscall.RawConn    // conn's descriptor, for direct writes; nil if none
	dw         directWrite        // the direct write in progress, under mu
	done       chan struct{}      // closed when this connection closes: stops its goroutines
	cancelDial context.CancelFunc // aborts a connect in progress
	live       int                // I/O goroutines of this connection still running
	closed     bool               // the close path has run (fd closed or never opened)
	destroyed  bool               // closed by Destroy or an error, not gracefully
	hadError   bool               // an error destroyed the socket
	ref        handleRef

	// Options that wait for a connection: Node applies setNoDelay and
	// setKeepAlive made while connecting once the connection is up.
	noDelay   *bool
	keepAlive *keepAliveSetting

	// Read side.
	st           *stream // event stream of the current connection
	paused       bool
	eof          bool          // the peer's FIN has been read
	endTold      bool          // the consumer has the EndEvent (or, with none, it is as good as told)
	handling     bool          // the server's connection handler is running
	holdReads    bool          // PauseOnConnect: no read at all until Resume
	shutdownTold bool          // the ShutdownEvent was queued
	closeHooked  bool          // ServerOptions.ConnState was told of the close
	readWake     chan struct{} // 1-buffered: the read buffer fell under the high-water mark (made by the first wait)
	dec          decoder       // set by SetEncoding
	encoding     string        // canonical name of dec's encoding
	pipes        []*pipeDst    // destinations of Pipe
	pipeSrcs     []*Socket     // sockets that Pipe into this one
	bytesRead    atomic.Int64
	lastRead     atomic.Int64 // unix ns of the last read, for Stats

	// Write side.
	wq           []writeReq
	writing      bool          // a writer goroutine is flushing the queue
	writeErr     error         // a direct write failed: destroy once unlocked
	drainNow     bool          // a direct write emptied the queue after a false
	pending      int           // bytes queued or in flight, not yet taken by the kernel
	needDrain    bool          // a Send returned false; a DrainEvent is owed
	unwritable   bool          // the queue reached the high-water mark and has not yet fallen to the low one
	ending       bool          // End was called (or the peer's FIN ended this side)
	peerEnded    bool          // writes fail with EPIPE: the peer ended and AllowHalfOpen is false
	endBuffered  bool          // the EndEvent waits in the channel: see settleEndLocked
	wfinished    bool          // the queue is flushed after End, FIN sent
	writable     chan struct{} // closed when pending falls under the high-water mark
	endWait      chan struct{} // closed when the FIN is sent or the socket closes (EndContext)
	bytesWritten atomic.Int64
	lastWrite    atomic.Int64 // unix ns of the last write handed to the kernel, for Stats

	// Idle timeouts (Node's setTimeout and the finer ones): one timer.
	idle *idleTimers // nil until a timeout is set
}

type sockState uint8

const (
	stIdle       sockState = iota // never connected
	stConnecting                  // Connect is dialling
	stOpen                        // connected (possibly half-closed or closed: see closed)
)

type keepAliveSetting struct {
	enable bool
	delay  time.Duration
}

func newSocket(allowHalfOpen bool, hwm int) *Socket {
	return &Socket{
		flow:          flow{hwm: hwm, rhwm: hwm},
		allowHalfOpen: allowHalfOpen,
		st:            newStream(),
	}
}

// startLocked makes conn the socket's open connection and starts its
// reader goroutine; a writer goroutine runs only while writes wait.
func (s *Socket) startLocked(conn net.Conn) {
	s.setConnLocked(conn)
	s.done = make(chan struct{})
	s.live = 1
	s.ref.set(true, s.ref.unref)
	s.touchLocked(onConnect)
	s.applyOptionsLocked() // best effort, as Node's options at creation
	go s.readLoop(conn, s.done, true)
}

// setConnLocked records the open connection and its descriptor, through
// which Send writes directly while nothing is queued.
func (s *Socket) setConnLocked(conn net.Conn) {
	s.conn = conn
	s.state = stOpen
	s.rawConn = nil
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			s.rawConn = rc
			if s.dw.fn == nil {
				s.dw.fn = s.dw.write
			}
		}
	}
}

// exitIO is the last call of each I/O goroutine: the CloseEvent waits for
// all of them, so that after it no goroutine of the connection remains.
func (s *Socket) exitIO() {
	s.mu.Lock()
	s.live--
	s.queueCloseLocked()
	s.mu.Unlock()
	s.dispatch()
}

// handlerReturned runs when the server's connection handler returns: a
// peer's end that waited for it is now told to nobody, if nobody took it.
func (s *Socket) handlerReturned() {
	s.mu.Lock()
	s.handling = false
	s.endIfUnheardLocked()
	s.maybeFinishLocked()
	s.mu.Unlock()
	s.dispatch()
}

// Destroy closes the connection now, as Node's destroy(): queued writes
// are dropped (their callbacks never run), no further DataEvent is
// delivered, and a CloseEvent{HadError: false} ends the event stream.
// Calling it again, or on a closed socket, does nothing. Destroy never
// waits for the consumer of Events.
func (s *Socket) Destroy() {
	s.destroy(nil, true)
}

// DestroyWithError is Node's destroy(err): as Destroy, but an ErrorEvent
// with err comes before a CloseEvent{HadError: true}. On a socket already
// closed it does nothing.
func (s *Socket) DestroyWithError(err error) {
	s.destroy(err, true)
}

func (s *Socket) destroy(err error, byUser bool) {
	s.mu.Lock()
	if byUser {
		// The consumer may have stopped reading: from now on the event
		// stream never blocks, even if the socket had already closed.
		s.st.abandon()
	}
	s.closeLocked(err, true)
	s.mu.Unlock()
	s.dispatch()
}

// closeLocked is the one close path of a connection. destroy drops what
// is queued; err, when not nil, becomes the ErrorEvent before the close.
func (s *Socket) closeLocked(err error, destroy bool) {
	if s.closed {
		return
	}
	s.closed = true
	s.destroyed = destroy
	// The server's count goes down before the descriptor closes, so that
	// a peer that sees the close also sees the count without it.
	if s.server != nil {
		s.server.release(s)
	}
	if s.done != nil {
		close(s.done)
	}
	if s.cancelDial != nil {
		s.cancelDial()
		s.cancelDial = nil
	}
	if s.conn != nil {
		if s.rawConn != nil {
			s.conn.Close()
		} else {
			// A conn without a descriptor (TLS) may write as it closes
			// (close_notify) and wait on the peer: it closes on a
			// goroutine of its own, counted as the connection's I/O,
			// so Destroy does not wait and the CloseEvent still comes
			// after it.
			s.live++
			go func(c net.Conn) {
				c.Close()
				s.exitIO()
			}(s.conn)
		}
	}
	// Queued writes are dropped; writers blocked in Write return.
	s.wq = nil
	s.pending = 0
	s.needDrain, s.unwritable = false, false
	s.wakeWritersLocked()
	s.wakeEndWaitersLocked()
	s.stopIdleLocked()
	if destroy {
		s.st.dropAll()
	}
	if err != nil {
		s.hadError = true
		s.st.push(ErrorEvent{Err: err})
	}
	s.ref.set(false, s.ref.unref)
	s.queueCloseLocked()
}

// queueCloseLocked queues the CloseEvent once the connection is closed and
// its goroutines are gone.
func (s *Socket) queueCloseLocked() {
	if s.closed && s.live == 0 && !s.st.closeQueued {
		s.st.push(CloseEvent{HadError: s.hadError})
		s.st.closeQueued = true
	}
}

// maybeFinishLocked closes the socket gracefully once both sides have
// ended: the peer's FIN has been read and all its data delivered, and
// this side's queue has been flushed after End.
func (s *Socket) maybeFinishLocked() {
	if !s.closed && s.readDoneLocked() && s.wfinished {
		s.closeLocked(nil, false)
	}
}

// readDoneLocked reports whether the read side is over: the peer's end has
// been read and the consumer has had all the data and the EndEvent.
func (s *Socket) readDoneLocked() bool {
	return s.eof && s.st.dataItems == 0 && s.endTold
}
