package nodenet

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// run is the conn's goroutine. It reads from the connection and is the
// one sender of the consumer's channel: each turn it delivers the next
// deliverable item (to the Pipe destinations, then to the consumer), or
// reads, or waits for a wake-up. Events born on other goroutines (a drain
// or an error from the writer, a timeout, a shutdown notice, a Resume)
// reach it through the queue and a wake-up; a read in progress is woken
// with a past deadline when there is something to deliver. Once the conn
// is closed it closes the net.Conn, finishes (finishLocked), delivers
// what remains and the CloseEvent, and returns; without a consumer it
// returns once closed, leaving the queue to one that subscribes later.
func (c *conn) run() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		// One turn. The loop is one function, and the read and its Pipe
		// writes below it are shallow, so that a parked goroutine's stack
		// stays at its smallest size.
		waiting := c.phase == phaseClosed && c.closeNetConnLocked()
		if c.out.holds == 0 {
			if i := c.nextLocked(); i >= 0 {
				// Data and the end go to the Pipe destinations first,
				// then (next turn) to the consumer.
				if it := &c.q.items[i]; it.kind()&(kindData|kindEnd) != 0 && len(c.pipes) > 0 && !it.piped {
					c.pipeItemLocked(i)
				} else {
					c.offerLocked(i)
				}
				continue
			}
		}
		switch {
		case c.phase == phaseClosed:
			switch {
			case waiting:
			case !c.closeQueued:
				c.finishLocked()
				continue
			case c.out.closed || !c.out.subscribed():
				c.running = false
				return
			}
		case c.endIfIdleLocked(), c.brokenLocked():
			continue
		case c.mayReadLocked():
			c.readLocked()
			continue
		}
		c.waitLocked()
	}
}

// nextLocked returns the index of the item to deliver next, or -1. With a
// consumer: data while flowing, the EndEvent after the last data, the
// CloseEvent last, and any other event at once, passing data that waits.
// Without one, the Pipe destinations take the data and the end; the other
// events wait (capped) for a consumer that may subscribe later.
func (c *conn) nextLocked() int {
	sub := c.out.subscribed()
	if !sub && len(c.pipes) == 0 {
		return -1
	}
	flowing := c.flowingLocked()
	for i := range c.q.items {
		it := &c.q.items[i]
		switch it.kind() {
		case kindData:
			if flowing {
				return i
			}
		case kindEnd:
			if c.q.data == 0 && (sub || !it.piped) {
				return i
			}
		case kindClose:
			if sub && i == 0 {
				return i
			}
		default:
			if sub {
				return i
			}
		}
	}
	return -1
}

// offerLocked offers item i to the consumer. A received EndEvent ends
// this side (without AllowHalfOpen); a received CloseEvent closes the
// channel.
func (c *conn) offerLocked(i int) {
	it := &c.q.items[i]
	k := it.kind()
	it.own()
	epoch := c.q.epoch
	var stop chan struct{}
	if c.phase != phaseClosed {
		stop = c.stopChan() // Destroy withdraws the offer: no data after it
	}
	if !c.out.offer(&c.s.mu, it.event(), k, stop) || c.q.epoch != epoch {
		return
	}
	c.q.remove(i)
	switch k {
	case kindEnd:
		c.endToldLocked()
	case kindClose:
		c.out.finish()
	}
}

// pipeItemLocked gives item i, data or the end, to the Pipe destinations.
// Without a consumer the data is theirs alone: it leaves the queue, and a
// single destination may keep the pooled buffer it lies in; the end stays
// queued for a consumer that subscribes later, and counts as told.
func (c *conn) pipeItemLocked(i int) {
	s := c.s
	it := &c.q.items[i]
	it.piped = true
	if it.kind() == kindEnd {
		c.pipeEndLocked()
		return
	}
	pipes := c.pipes
	sub := c.out.subscribed()
	if sub {
		it.own() // the consumer gets these bytes too
	}
	b, buf := it.data, it.buf
	if it.isText {
		b = []byte(it.text)
	}
	if !sub {
		c.q.remove(i)
	} else {
		buf = nil
	}
	s.mu.Unlock()
	if buf != nil && len(pipes) == 1 { // the common case, on a shallow stack
		if !s.pipeWrite(pipes[0], b, buf) {
			readBufs.Put(buf)
		}
	} else {
		s.pipeData(pipes, b, buf)
	}
	s.mu.Lock()
}

// pipeEndLocked ends the Pipe destinations. Without a consumer, the end
// counts as told.
//
//go:noinline
func (c *conn) pipeEndLocked() {
	if !c.out.subscribed() {
		c.endToldLocked()
	}
	pipes := c.pipes
	c.s.mu.Unlock()
	for _, pd := range pipes {
		pd.dst.End()
	}
	c.s.mu.Lock()
}

// mayReadLocked reports whether run may read: the conn is open, the peer
// has not ended, and less than the read high-water mark is held.
func (c *conn) mayReadLocked() bool {
	return c.phase == phaseOpen && c.readSide == readOpen && !c.holdReads && c.q.held < c.s.rhwm &&
		(c.fr == nil || c.fr.err == nil)
}

// readLocked reads once, with the lock released while it waits, and
// takes what it read: straight to the Pipe destinations when they alone
// take it, otherwise into the queue.
func (c *conn) readLocked() {
	c.reading = true
	c.s.mu.Unlock()
	buf, n, err := c.rd.read(c.nc, c.rc)
	c.s.mu.Lock()
	c.reading = false
	woken := c.interrupted
	if woken {
		c.interrupted = false
		if c.phase != phaseClosed {
			c.nc.SetReadDeadline(time.Time{})
		}
	}
	if c.phase == phaseClosed {
		putReadBuf(buf)
		return
	}
	if n > 0 {
		c.gotLocked(n)
		p := (*buf)[:n]
		if c.pipeOnlyLocked() {
			pipes := c.pipes
			c.s.mu.Unlock()
			if len(pipes) == 1 {
				if !c.s.pipeWrite(pipes[0], p, buf) {
					readBufs.Put(buf)
				}
			} else {
				c.s.pipeData(pipes, p, buf)
			}
			c.s.mu.Lock()
			if c.phase == phaseClosed {
				return
			}
		} else if !c.queueReadLocked(p, buf) {
			readBufs.Put(buf)
		}
	} else {
		putReadBuf(buf)
	}
	switch {
	case err == nil:
	case woken && errors.Is(err, os.ErrDeadlineExceeded):
	case errors.Is(err, io.EOF):
		c.eofLocked()
	default:
		c.closeLocked(sysError("read", remoteString(c.nc), err), closedByError)
	}
}

// waitLocked waits for a wake-up (the close is one: closeLocked wakes).
func (c *conn) waitLocked() {
	wake := c.out.wakeChan()
	c.s.mu.Unlock()
	<-wake
	c.s.mu.Lock()
}

// closeNetConnLocked is the first work of a closed conn: it closes the
// net.Conn, which makes its helpers leave. It reports true while one of
// them is still running.
func (c *conn) closeNetConnLocked() bool {
	if c.nc != nil && !c.ncClosed {
		c.ncClosed = true
		nc := c.nc
		c.s.mu.Unlock()
		nc.Close() // a conn without a descriptor (TLS) may write as it closes
		c.s.mu.Lock()
	}
	return c.helpers > 0
}

// finishLocked is the last work of a closed conn, once its helpers have
// left and the events queued before (an ErrorEvent) are delivered: it
// calls the callbacks of the writes that never went out, tells ConnState
// and the sources that Pipe into this socket, and queues the CloseEvent.
func (c *conn) finishLocked() {
	s := c.s
	c.closeQueued = true
	orphans := c.wq
	c.wq = nil
	cbErr := c.closeErr
	if cbErr == nil {
		cbErr = ErrDestroyed
	}
	srcs := c.pipeSrcs
	c.pipes, c.pipeSrcs = nil, nil
	var hook func(*Socket, bool)
	if s.server != nil {
		hook = s.server.opts.ConnState
	}
	s.mu.Unlock()
	s.runCallbacks(orphans, cbErr)
	for _, src := range srcs {
		src.Unpipe(s)
	}
	if hook != nil {
		s.callConnState(hook, false)
	}
	s.mu.Lock()
	c.q.push(CloseEvent{HadError: c.closeErr != nil}, true)
}

// endIfIdleLocked ends the conn during its server's Shutdown when nobody
// consumes it and it has nothing to write or deliver: ending it loses
// nothing, and the peer learns that the server is going away. It reports
// whether it did.
func (c *conn) endIfIdleLocked() bool {
	if !c.idleInShutdownLocked() {
		return false
	}
	c.endLocked(ErrWriteAfterEnd)
	return true
}

// idleInShutdownLocked reports whether endIfIdleLocked would end the conn.
func (c *conn) idleInShutdownLocked() bool {
	srv := c.s.server
	return srv != nil && srv.shuttingDown.Load() && c.phase == phaseOpen && c.writeSide == writeOpen &&
		!c.out.subscribed() && !c.handling && c.pending == 0 && c.q.data == 0
}

// dialer is the conn's helper while connecting: it dials, then opens the
// conn (or closes it with the failure) and wakes run.
func (c *conn) dialer(ctx context.Context, opts ConnectOptions) {
	nc, err := c.dial(ctx, opts)
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	defer c.helperDoneLocked()
	if c.phase == phaseClosed {
		// Destroyed while connecting: Node ignores the outcome.
		if nc != nil {
			nc.Close()
		}
		return
	}
	c.cancelDial()
	c.cancelDial = nil
	if err != nil {
		c.closeLocked(err, closedByError)
		return
	}
	c.openLocked(nc)
	c.pushLocked(ConnectEvent{})
	s.touchLocked(onConnect)
	if len(c.wq) > 0 || c.writeSide == writeEnding {
		c.startWriterLocked() // writes and End made while connecting
	}
}

// tell queues an event of the connecting phase.
func (c *conn) tell(ev Event) {
	c.s.mu.Lock()
	c.pushLocked(ev)
	c.s.mu.Unlock()
}
