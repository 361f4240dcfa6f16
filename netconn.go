package nodenet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// NetConn returns a blocking net.Conn view of the socket, for code written
// against Read and Write (bufio, io.Copy, a protocol library, http.Serve
// over one connection). Read takes its data from s.Events(), so the
// caller must not also receive from Events (nor call NetConn twice: each
// view keeps its own unread remainder). The view is for the socket's
// current connection. NetConn of a nil *Socket is nil.
//
// Read returns the bytes of DataEvents (the encoded text's bytes once
// SetEncoding is set; with a Framing, the frames one after another,
// without their delimiters or prefixes), keeping what does not fit in p
// for the next Read; io.EOF at the peer's end (EndEvent) or at the close,
// and again after; the error of an ErrorEvent that destroys the socket
// (a reset is an *Error with errors.Is(err, syscall.ECONNRESET)), and
// again after. The
// errors a write method has already returned (ErrWriteAfterEnd, EPIPE
// after the peer's end) are not repeated by Read. A paused socket's Read
// waits for Resume.
//
// Two events reach blocking code as errors, each once, leaving the
// connection open (a later Read goes on): ErrServerShutdown when the
// socket's server starts shutting down (the ShutdownEvent: finish, then
// Close), and ErrIdleTimeout, a net.Error whose Timeout is true, when the
// socket's idle timeout (SetTimeout) fires (the TimeoutEvent). Read
// returns them, and so does a Write blocked in the view at that moment,
// so a bufio.Scanner's Err, or an io.Copy's error, tells. The other events
// are not seen through the view: Write waits for room itself instead of
// a DrainEvent, and the finer idle watches need Events.
//
// Write is the socket's Write: it returns once p is queued, blocks as
// Write does while the queue is full (backpressure), and fails as Write
// does; after the peer's end it fails with EPIPE unless the socket has
// AllowHalfOpen (Node's rule). The view also has CloseWrite, which is
// the socket's End, for code that half-closes (io.Copy proxies, net/http).
//
// Close stops the view at once: Reads and Writes blocked in it return an
// error wrapping net.ErrClosed, as do later calls. What Write has queued
// still goes out (a Go conn's Write returns only once the kernel has the
// bytes, so a Write followed by Close loses nothing there either); the
// socket is destroyed once its queue is flushed, or when the write
// deadline passes (10 seconds without one), whichever comes first, or at
// once with nothing queued. Close returns nil the first time and an error
// wrapping net.ErrClosed after, like Go's conns.
//
// The deadlines are real: a Read or Write still blocked when its deadline
// passes returns an error for which errors.Is(err, os.ErrDeadlineExceeded)
// holds and which is a net.Error whose Timeout is true; nothing is lost
// (a Write returns how much it queued). A deadline in the past fails the
// next call at once, the zero time clears it, and a new deadline applies
// to a call already blocked. The socket's idle timeout (SetTimeout) is
// separate.
//
// LocalAddr and RemoteAddr are the connection's addresses; before the
// connection is up (or for a conn that reports none) they are an address
// whose Network and String are "".
//
// Safe for concurrent use: the view is a net.Conn, whose methods may be
// called from several goroutines; concurrent Reads (and concurrent
// Writes) are served one at a time.
func (s *Socket) NetConn() net.Conn {
	if s == nil {
		return nil
	}
	return &netConn{
		s:       s,
		closing: make(chan struct{}),
		rdl:     newDeadline(),
		wdl:     newDeadline(),
	}
}

// netConnLinger bounds how long a closed view keeps the socket open to
// flush its queue when no write deadline is set; Socket.Close's too.
const netConnLinger = 10 * time.Second

// netConn is the net.Conn view of a Socket made by NetConn.
type netConn struct {
	s       *Socket
	closed  atomic.Bool
	closing chan struct{} // closed by Close: blocked calls return
	rdl     *deadline
	wdl     *deadline

	rmu    sync.Mutex // serializes Reads; guards the fields below
	events <-chan Event
	rest   []byte // the part of a DataEvent the last Read could not take
	rerr   error  // sticky: io.EOF or the error that destroyed the socket

	wmu    sync.Mutex // serializes Writes, so a split p stays whole on the wire
	alerts alerts     // the socket's alerts when the Write began (under wmu)
}

// Read is described at NetConn.
func (c *netConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed.Load() {
		return 0, c.opError("read", net.ErrClosed)
	}
	if c.rdl.expired() {
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	if c.events == nil {
		c.events = c.s.Events() // subscribe at the first Read: data waits meanwhile
	}
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.events = nil // closed: nothing left to drain
				return 0, c.fail(io.EOF)
			}
			switch ev := ev.(type) {
			case DataEvent:
				b := ev.Data
				if b == nil {
					b = []byte(ev.Text)
				}
				if len(b) == 0 {
					continue
				}
				n := copy(p, b)
				if n < len(b) {
					c.rest = b[n:] // the event owns b: keep it, no copy
				}
				return n, nil
			case EndEvent, CloseEvent:
				return 0, c.fail(io.EOF)
			case ShutdownEvent:
				return 0, c.opError("read", ErrServerShutdown)
			case TimeoutEvent:
				return 0, c.opError("read", ErrIdleTimeout)
			case ErrorEvent:
				if toldToWriter(ev.Err) {
					continue
				}
				return 0, c.fail(ev.Err)
			}
		case <-c.rdl.wait():
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		case <-c.closing:
			return 0, c.opError("read", net.ErrClosed)
		}
	}
}

// fail makes err the answer of every later Read, and tells the socket
// that the view receives no more events, so that the socket does not wait
// for it to deliver the rest. Called with rmu held.
func (c *netConn) fail(err error) error {
	c.rerr = err
	if c.events != nil {
		c.s.abandonEvents()
		c.events = nil
	}
	return err
}

// toldToWriter reports whether err is one that a write method returned
// to its caller and the socket also emitted, without closing: a write
// after End, or after the peer's end. Read does not repeat them.
func toldToWriter(err error) bool {
	if errors.Is(err, ErrWriteAfterEnd) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Code == "EPIPE" && e.Syscall == ""
}

// Write is described at NetConn.
func (c *netConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return 0, c.opError("write", net.ErrClosed)
	}
	if c.wdl.expired() {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.alerts = c.s.alertsNow()
	return c.s.writeAll(p, nil, c.writeGate)
}

// writeGate ends a blocked Write at the view's Close or write deadline.
func (c *netConn) writeGate() (a, b <-chan struct{}, err error) {
	select {
	case <-c.closing:
		return nil, nil, c.opError("write", net.ErrClosed)
	default:
	}
	if c.wdl.expired() {
		return nil, nil, c.opError("write", os.ErrDeadlineExceeded)
	}
	switch a := c.s.alertsNow(); {
	case a.shutdowns != c.alerts.shutdowns:
		return nil, nil, c.opError("write", ErrServerShutdown)
	case a.timeouts != c.alerts.timeouts:
		return nil, nil, c.opError("write", ErrIdleTimeout)
	}
	return c.closing, c.wdl.wait(), nil
}

// alerts counts a connection's ShutdownEvents and TimeoutEvents. A
// NetConn view's Write takes a copy when it begins; a change while it is
// blocked is the event reaching it, as its error. (Equality is all that
// is asked, so wrapping around does no harm short of 65536 at once.)
type alerts struct{ shutdowns, timeouts uint16 }

// alertsNow is the socket's connection's alerts.
func (s *Socket) alertsNow() alerts {
	s.lock()
	defer s.mu.Unlock()
	return s.c.alerts
}

// CloseWrite ends the socket's side, as End: what is queued is flushed,
// then the connection is half-closed (see WrapConn for conns that cannot
// be). Safe for concurrent use.
func (c *netConn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	return c.s.End()
}

// Close is described at NetConn.
func (c *netConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	close(c.closing)
	linger := netConnLinger
	if d := c.wdl.when(); !d.IsZero() {
		linger = time.Until(d)
	}
	c.rdl.set(time.Time{}) // stops the timers
	c.wdl.set(time.Time{})
	c.s.closeFlushed(linger)
	return nil
}

// LocalAddr and RemoteAddr are described at NetConn.
func (c *netConn) LocalAddr() net.Addr  { return c.addr((net.Conn).LocalAddr) }
func (c *netConn) RemoteAddr() net.Addr { return c.addr((net.Conn).RemoteAddr) }

func (c *netConn) addr(of func(net.Conn) net.Addr) net.Addr {
	c.s.lock()
	conn := c.s.c.nc
	c.s.mu.Unlock()
	if conn != nil {
		if a := of(conn); a != nil {
			return a
		}
	}
	return noAddr{}
}

// noAddr is the address of a view whose socket has no connection: not
// nil, so that code which formats it does not panic.
type noAddr struct{}

func (noAddr) Network() string { return "" }
func (noAddr) String() string  { return "" }

// SetDeadline, SetReadDeadline and SetWriteDeadline are described at
// NetConn; on a closed view they return an error wrapping net.ErrClosed.
func (c *netConn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *netConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

func (c *netConn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// opError wraps err as Go's conns do, so that errors.Is(err, net.ErrClosed)
// and the net.Error of a timeout work as on any net.Conn.
func (c *netConn) opError(op string, err error) error {
	local, remote := c.LocalAddr(), c.RemoteAddr()
	return &net.OpError{Op: op, Net: local.Network(), Source: local, Addr: remote, Err: err}
}
