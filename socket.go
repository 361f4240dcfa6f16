package nodenet

import (
	"net"
	"sync"
	"time"
)

// Socket is Node's net.Socket: a TCP or Unix stream connection whose
// life is told as events on one channel (see Events), with Node's write
// queue, half-close, pause/resume, idle timeout and encodings.
//
// All methods are safe to call from any goroutine, including from the
// goroutine that reads Events and from write callbacks. None of them waits
// for the consumer of Events.
//
// The zero Socket is ready to use: it is what NewSocket(SocketOptions{})
// makes, an unconnected socket for Connect. A nil *Socket acts as a closed
// socket that cannot be used: its methods that return an error return one
// wrapping ErrInvalidArgument, Events gives a closed channel, Context a
// cancelled context and NetConn nil, the other getters report a closed
// socket (ReadyState() "closed", zero counts), and the
// other methods do nothing.
type Socket struct {
	mu sync.Mutex

	// Settings: they outlive a connection.
	flow
	allowHalfOpen bool
	paused        bool
	server        *Server // the server that accepted it, or nil
	encoding      string  // canonical name set by SetEncoding
	noDelay       *bool   // SetNoDelay; applied once connected, as Node does
	keepAlive     *keepAliveSetting
	idle          *idleTimers // nil until a timeout is set
	ref           handleRef

	c *conn // the current connection: never nil once lock has made it
}

type keepAliveSetting struct {
	enable bool
	delay  time.Duration
}

func newSocket(allowHalfOpen bool, f flow) *Socket {
	s := &Socket{flow: f, allowHalfOpen: allowHalfOpen}
	s.c = newConn(s)
	return s
}

// lock takes the socket's lock; it reports false, taking nothing, for a
// nil s. A zero Socket is first made what NewSocket(SocketOptions{})
// makes, so that c is never nil while the lock is held: every method that
// a zero Socket may meet first locks with it.
func (s *Socket) lock() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	if s.c == nil {
		s.flow, _ = SocketOptions{}.flow() // the zero options are valid
		s.c = newConn(s)
	}
	return true
}

// closedEvents is the event channel of a nil *Socket or *Server: closed,
// so that a range loop over it ends at once.
var closedEvents = func() chan Event { c := make(chan Event); close(c); return c }()

// startLocked makes nc the socket's open connection and starts its
// goroutine.
func (s *Socket) startLocked(nc net.Conn) {
	c := s.c
	c.openLocked(nc)
	s.touchLocked(onConnect)
	c.startLocked()
}

// Events returns the channel on which the socket delivers its events in
// Node's order (see the package documentation); it is closed right after
// the CloseEvent, so a range loop over it ends by itself. Every call
// returns the same channel until the socket reconnects with Connect.
//
// The channel is unbuffered and the socket's goroutine is its only
// sender: when an event is received, the socket knows it, so the EndEvent
// ends this side only once you have it, and a method you call while
// handling an event acts before the next one. Receive until the channel
// is closed; after Destroy the rest (an ErrorEvent, the CloseEvent) comes
// at once, and no more data. To leave the loop early, call Close (defer
// s.Close()): it ends the stream, so nothing waits for you.
//
// Until the first call, the socket keeps what it reads (up to the
// high-water mark, then it stops reading) and a few other events, so a
// consumer that subscribes just after Connect or in its connection handler
// misses nothing.
func (s *Socket) Events() <-chan Event {
	if !s.lock() {
		return closedEvents
	}
	defer s.mu.Unlock()
	c := s.c
	ch := c.out.subscribe()
	if !c.running && c.phase == phaseClosed {
		c.startLocked() // a closed conn delivers what it holds
	}
	c.wakeLocked()
	return ch
}

// Destroy closes the connection now, as Node's destroy(): queued writes
// are dropped (their callbacks get ErrDestroyed), no further DataEvent is
// delivered, and a CloseEvent{HadError: false} ends the event stream.
// Calling it again, or on a closed socket, does nothing. Destroy never
// waits: the socket's goroutine closes the descriptor.
func (s *Socket) Destroy() {
	if !s.lock() {
		return
	}
	s.c.closeLocked(nil, closedByDestroy)
	s.mu.Unlock()
}

// DestroyWithError is Node's destroy(err): as Destroy, but an ErrorEvent
// with err comes before a CloseEvent{HadError: true}, and the callbacks of
// dropped writes get err. On a socket already closed it does nothing.
func (s *Socket) DestroyWithError(err error) {
	if !s.lock() {
		return
	}
	s.c.closeLocked(err, closedByDestroy)
	s.mu.Unlock()
}

// Close is the Go way to be done with a socket (io.Closer; defer
// s.Close()): what is queued still goes out, then the connection closes,
// without waiting for the peer's end; at once when nothing is queued. A
// flush that goes on past the write deadline (SetWriteDeadline), or 10
// seconds without one (a peer that does not read), is cut short by
// Destroy. Close also ends the event stream: no event is
// delivered after it and Events' channel closes, so a consumer that has
// left its loop need not receive anything more (the callbacks of queued
// writes still run). End and Destroy are Node's ways: End half-closes and
// waits for the peer, Destroy drops the queue. Close returns nil,
// also on a socket already closed. Safe for concurrent use.
func (s *Socket) Close() error {
	linger := netConnLinger
	if !s.lock() {
		return errNilSocket
	}
	if dl := s.c.wdl; dl != nil {
		if t := dl.when(); !t.IsZero() {
			linger = time.Until(t)
		}
	}
	s.mu.Unlock()
	s.closeFlushed(linger)
	return nil
}

// closeFlushed ends the event stream and closes the connection once its
// queue is handed to the kernel, or destroys it after linger (at once with
// nothing queued or linger <= 0).
func (s *Socket) closeFlushed(linger time.Duration) {
	s.abandonEvents()
	s.lock()
	defer s.mu.Unlock()
	c := s.c
	if c.pending == 0 || c.phase == phaseClosed || c.phase == phaseIdle || linger <= 0 {
		c.closeLocked(nil, closedByDestroy)
		return
	}
	// A marker behind the queued bytes: its callback runs once they are
	// all handed to the kernel (or the connection closes first). It goes
	// in under the lock, past the checks of Send, so that it is queued
	// after End too.
	t := time.AfterFunc(linger, s.Destroy)
	c.queueLocked(nil, func(error) {
		t.Stop()
		s.Destroy()
	}, true, nil)
}

// handlerReturned runs when the server's connection handler returns: a
// peer's end that waited for it is now told to nobody, if nobody took it.
func (s *Socket) handlerReturned() {
	s.mu.Lock()
	c := s.c
	c.handling = false
	c.endIfUnheardLocked()
	c.wakeLocked()
	s.mu.Unlock()
}

// abandonEvents tells the socket that its consumer will receive nothing
// more (NetConn's reader after the end): from now on every event counts
// as received and the channel closes after the CloseEvent.
func (s *Socket) abandonEvents() {
	s.lock()
	c := s.c
	c.out.abandoned = true
	c.out.signal()
	c.wakeLocked()
	s.mu.Unlock()
}

// Pause stops the delivery of DataEvents; every other event still comes,
// in order, passing the data held and an EndEvent behind it. The socket
// keeps reading until it holds the high-water mark, then stops reading
// from the kernel, so TCP flow control reaches the peer; nothing is lost.
// Called while handling an event, it stops the next DataEvent too. It may
// be called before Connect. Safe for concurrent use.
func (s *Socket) Pause() {
	if !s.lock() {
		return
	}
	s.paused = true
	s.c.settleLocked(kindData)
	s.mu.Unlock()
}

// Resume restarts the delivery of DataEvents after Pause; data held while
// paused comes first, joined into as few events as possible. Safe for
// concurrent use.
func (s *Socket) Resume() {
	if !s.lock() {
		return
	}
	s.paused = false
	c := s.c
	c.holdReads = false // PauseOnConnect: the first Resume starts reading
	c.wakeLocked()
	s.mu.Unlock()
}

// IsPaused reports whether Pause is in effect. Safe for concurrent use.
func (s *Socket) IsPaused() bool {
	if !s.lock() {
		return false
	}
	defer s.mu.Unlock()
	return s.paused
}

// wasDestroyed reports whether the socket closed by Destroy or an error
// rather than gracefully.
func (s *Socket) wasDestroyed() bool {
	s.lock()
	defer s.mu.Unlock()
	return s.c.phase == phaseClosed && s.c.closedHow != closedGracefully
}
