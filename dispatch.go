package nodenet

import "time"

// Events returns the channel on which the socket delivers its events in
// Node's order (see the package documentation); it is closed right after
// the CloseEvent, so a range loop over it ends by itself. Every call
// returns the same channel until the socket reconnects with Connect.
//
// Receive from it until it is closed, or call Destroy: after Destroy no
// further DataEvent is delivered and the channel closes promptly, even for
// a consumer that has stopped receiving.
//
// Until the first call, the socket keeps what it reads (up to the
// high-water mark, then it stops reading) and a few other events, so a
// consumer that subscribes just after Connect or in its connection handler
// misses nothing. A socket whose events are never asked for costs no
// goroutine for them, nor does one whose consumer keeps up.
func (s *Socket) Events() <-chan Event {
	s.mu.Lock()
	st := s.st
	if st.ch == nil {
		st.ch = make(chan Event, eventCapacity)
	}
	if !st.subscribed {
		st.subscribed = true
		s.deliverLocked(st)
	}
	s.mu.Unlock()
	return st.ch
}

// dispatch moves deliverable items on: to a subscriber (see
// deliverLocked), or without one to the Pipe destinations (see
// pumpLocked). Call it, without the lock, after any change that can make
// an item deliverable.
func (s *Socket) dispatch() {
	s.mu.Lock()
	st := s.st
	if st.subscribed {
		s.deliverLocked(st)
	} else {
		s.pumpLocked(st)
	}
	var srcs []*Socket
	if s.closed && len(s.pipeSrcs) > 0 {
		srcs, s.pipeSrcs = s.pipeSrcs, nil
	}
	var hook func(*Socket, ReadyState)
	if s.closed && s.server != nil && !s.closeHooked {
		s.closeHooked = true // this goroutine tells ConnState, once
		hook = s.server.opts.ConnState
	}
	s.mu.Unlock()
	for _, src := range srcs {
		src.unpipe(s)
	}
	if hook != nil {
		hook(s, StateClosed)
	}
}

// pumpLocked delivers items while nobody subscribes: the data and the end
// go to the Pipe destinations; the other events wait, within the cap, for
// a consumer that may subscribe later (one that does joins a flowing
// stream, as in Node: it misses the data already piped). Only one
// goroutine pumps at a time, so items keep their order.
func (s *Socket) pumpLocked(st *stream) {
	if st.pumping {
		st.pumpAgain = true
		return
	}
	st.pumping = true
	for !st.subscribed {
		it, ok := s.nextLocked(st)
		if !ok {
			if st.pumpAgain {
				st.pumpAgain = false
				continue
			}
			break
		}
		s.mu.Unlock()
		s.deliverToPipes(st, it, true)
		s.mu.Lock()
		s.afterDispatchLocked(st, it, false)
	}
	if len(st.items) == 0 && !st.subscribed {
		// Without a subscriber the queue is used only now and then
		// (data read before a Pipe is attached, or while it waits):
		// an idle piped socket keeps no room for it.
		st.items = nil
	}
	st.pumping = false
	if st.subscribed {
		s.deliverLocked(st) // someone subscribed meanwhile
	}
}

// deliverLocked delivers to a subscriber what can go without waiting:
// each event is put in the channel's spare room at once, by whichever
// goroutine made it deliverable, so a consumer that keeps up costs no
// goroutine. What must wait (a full channel, Pipe writes, the receipt of
// the end, the close, a destroyed stream) is left to the emitter
// goroutine, started on demand; it returns when nothing waits.
func (s *Socket) deliverLocked(st *stream) {
	switch {
	case st.emitting:
		st.signal()
		return
	case st.pumping || st.chClosed:
		return
	}
	for !st.stopped && !st.closeInChan && !(s.endBuffered && st == s.st) && len(s.pipes) == 0 {
		it, ok := s.nextLocked(st)
		if !ok {
			return
		}
		if _, last := it.ev.(CloseEvent); last || !s.placeLocked(st, it) {
			st.unshift(it)
			break
		}
	}
	if len(st.items) == 0 && !st.stopped && !(s.endBuffered && st == s.st) {
		return
	}
	s.startEmitterLocked(st)
}

// startEmitterLocked starts the emitter goroutine. Its wake and stop channels
// are made here, the first time, before the goroutine reads them: a
// socket whose events go only to a Pipe, or whose consumer keeps up,
// never needs them.
func (s *Socket) startEmitterLocked(st *stream) {
	if st.wake == nil {
		st.wake = make(chan struct{}, 1)
		st.stop = make(chan struct{})
		if st.stopped {
			close(st.stop)
		}
	}
	st.emitting = true
	go s.emit(st)
}

// emit is the emitter goroutine of a subscribed stream, started by
// deliverLocked: it delivers items in order, and returns when nothing
// waits or after the CloseEvent. Its sends select on the stream's stop
// signal, which Destroy closes; from then on it only leaves the terminal
// events in the channel's spare capacity and never blocks.
//
// While an EndEvent that ends this side waits in the channel's buffer
// (see settleEndLocked), events are put in the channel only under the lock
// and only when there is room, so that the count of events received,
// sent - len(ch), is exact whenever the socket looks at it; when the
// buffer is full the emitter polls, as it does for the EndEvent's receipt.
func (s *Socket) emit(st *stream) {
	stop := st.stop
	var poll *time.Timer
	pollDelay := endPollMin
	for {
		s.mu.Lock()
		var it item
		ok := false
		if !st.pumping {
			it, ok = s.nextLocked(st)
		}
		if ok && stop != nil && s.countsEndLocked(st, it) {
			if s.placeLocked(st, it) {
				_, last := it.ev.(CloseEvent)
				if last {
					st.emitting = false
				}
				s.mu.Unlock()
				s.deliverToPipes(st, it, false)
				if last {
					return
				}
				pollDelay = endPollMin
				continue
			}
			st.unshift(it) // the buffer is full: wait for room
			ok = false
		}
		poll4End := s.endBuffered && st == s.st || !ok && s.countsEndHeadLocked(st)
		if !ok && !poll4End && !st.pumping {
			// Nothing to deliver and nothing to wait for: the next change
			// delivers inline or starts an emitter again.
			st.emitting = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !ok {
			var tick <-chan time.Time
			if poll4End && stop != nil {
				// Go tells no one when a buffered value is received, so
				// the receipt of the EndEvent (or room for the next event)
				// is polled, with backoff, while nothing else wakes the
				// emitter.
				if poll == nil {
					poll = time.NewTimer(pollDelay)
					defer poll.Stop()
				} else {
					poll.Reset(pollDelay)
				}
				tick = poll.C
				pollDelay = min(2*pollDelay, endPollMax)
			}
			select {
			case <-st.wake:
			case <-tick:
				s.mu.Lock()
				s.settleEndLocked()
				s.mu.Unlock()
				s.dispatch()
			case <-stop:
				stop = nil
			}
			if stop == nil {
				select {
				case <-st.wake:
				default:
				}
			}
			continue
		}
		pollDelay = endPollMin
		s.deliverToPipes(st, it, false)
		ev := it.event()
		sent := true
		_, closing := ev.(CloseEvent)
		var rewake chan struct{}
		if closing {
			// An ErrorEvent from a method called before the consumer has
			// the close (a write after the peer's end) still goes first.
			rewake = st.wake
		}
		if closing && stop != nil && !s.channelDrained(st, stop) {
			// Something was queued meanwhile (an ErrorEvent): it goes
			// first, then the CloseEvent.
			s.mu.Lock()
			st.items = append(st.items, it)
			st.events++
			s.mu.Unlock()
			continue
		}
		if stop != nil {
			select {
			case st.ch <- ev:
			case <-rewake:
				s.mu.Lock()
				st.items = append(st.items, it) // behind what was queued meanwhile
				st.events++
				s.mu.Unlock()
				continue
			case <-stop:
				stop = nil
				sent = forceTerminal(st.ch, ev)
			}
		} else {
			sent = forceTerminal(st.ch, ev)
		}
		s.mu.Lock()
		if sent {
			st.sent++
		}
		if closing && stop != nil {
			// The channel stays open until the consumer has the
			// CloseEvent, so an ErrorEvent from a call it makes before
			// that can still be put in front of it (see stream.push).
			st.closeInChan = true
			s.mu.Unlock()
			if s.awaitClose(st, stop) {
				return
			}
			continue
		}
		s.afterDispatchLocked(st, it, sent)
		if closing {
			st.emitting = false
		}
		s.mu.Unlock()
		if closing {
			return
		}
	}
}

// channelDrained waits until the consumer has received every event in the
// channel, so that the CloseEvent goes in alone and can still be taken back
// (see stream.takeBackClose). It returns false if an event was queued
// meanwhile; Destroy ends the wait.
func (s *Socket) channelDrained(st *stream, stop chan struct{}) bool {
	var p poller
	defer p.done()
	for {
		s.mu.Lock()
		queued, empty := len(st.items) > 0, len(st.ch) == 0
		s.mu.Unlock()
		switch {
		case queued:
			return false
		case empty:
			return true
		}
		if p.wait(st.wake, stop) {
			return true
		}
	}
}

// awaitClose waits for the consumer to receive the CloseEvent, then closes
// the channel and returns true. It returns false if an ErrorEvent took the
// CloseEvent back, to be sent after it. Destroy ends the wait at once.
func (s *Socket) awaitClose(st *stream, stop chan struct{}) bool {
	var p poller
	defer p.done()
	for {
		s.mu.Lock()
		if !st.closeInChan {
			s.mu.Unlock()
			return false
		}
		if len(st.ch) == 0 || st.stopped {
			st.closeInChan = false
			st.chClosed = true
			st.emitting = false
			close(st.ch)
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		p.wait(st.wake, stop)
	}
}

// poller waits for what Go does not announce, a buffered value being
// received: each wait ends at the next poll (endPollMin, doubling up to
// endPollMax), or earlier on a wake-up or on stop, and reports stop.
type poller struct {
	t     *time.Timer
	delay time.Duration
}

func (p *poller) wait(wake, stop <-chan struct{}) (stopped bool) {
	p.delay = min(max(2*p.delay, endPollMin), endPollMax)
	if p.t == nil {
		p.t = time.NewTimer(p.delay)
	} else {
		p.t.Reset(p.delay)
	}
	select {
	case <-p.t.C:
	case <-wake:
	case <-stop:
		return true
	}
	return false
}

func (p *poller) done() {
	if p.t != nil {
		p.t.Stop()
	}
}

// countsEndLocked reports whether it must be put in the channel under the
// lock: it is the EndEvent, whose receipt changes the socket (its ready
// state; without half-open, its write side), or one that follows it while
// its receipt is unknown.
func (s *Socket) countsEndLocked(st *stream, it item) bool {
	if st != s.st {
		return false
	}
	if s.endBuffered {
		return true
	}
	_, end := it.ev.(EndEvent)
	return end && !s.endTold
}

// countsEndHeadLocked is countsEndLocked for the item at the head of the
// queue, which waits for room in the channel.
func (s *Socket) countsEndHeadLocked(st *stream) bool {
	return len(st.items) > 0 && s.countsEndLocked(st, st.items[0])
}

// placeLocked puts it in the channel if there is room, without blocking.
func (s *Socket) placeLocked(st *stream, it item) bool {
	select {
	case st.ch <- it.event():
		st.sent++
		s.afterDispatchLocked(st, it, true)
		return true
	default:
		return false
	}
}

// forceTerminal leaves an ErrorEvent or CloseEvent in ch without blocking,
// taking the oldest undelivered events out of the buffer to make room;
// any other event is dropped. The emitter is the only sender, and the
// channel's capacity holds both terminal events.
func forceTerminal(ch chan Event, ev Event) bool {
	switch ev.(type) {
	case ErrorEvent, CloseEvent:
	default:
		return false
	}
	for {
		select {
		case ch <- ev:
			return true
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// nextLocked takes the next deliverable item off the queue. Data waits
// while the socket is paused or a Pipe destination is full, and the end
// and close wait behind it; other events pass it. Without a subscriber
// only the Pipe destinations take anything: the data, and the end, which
// stays queued for a later subscriber.
func (s *Socket) nextLocked(st *stream) (item, bool) {
	flowing := !s.paused && !s.pipeWaitingLocked()
	if !st.subscribed {
		if len(s.pipes) == 0 {
			return item{}, false
		}
		for i, it := range st.items {
			switch it.ev.(type) {
			case nil:
				if !flowing {
					return item{}, false
				}
				st.remove(i)
				return it, true
			case EndEvent:
				if st.endPiped {
					return item{}, false
				}
				return it, true
			}
		}
		return item{}, false
	}
	for i, it := range st.items {
		if it.ev == nil {
			if !flowing {
				continue
			}
		} else if i > 0 {
			switch it.ev.(type) {
			case EndEvent, CloseEvent:
				return item{}, false // stays behind the data before it
			}
		}
		st.remove(i)
		return it.own(), true
	}
	return item{}, false
}

// own gives a data item that lies in a pooled read buffer bytes of its
// own, for a DataEvent, and gives the buffer back.
func (it item) own() item {
	if it.buf != nil {
		it.data = append([]byte(nil), it.data...)
		readBufs.Put(it.buf)
		it.buf = nil
	}
	return it
}

func (st *stream) remove(i int) {
	it := st.items[i]
	if it.ev == nil {
		st.dataItems--
		st.rbytes -= it.n
	} else {
		st.events--
	}
	// Shift down rather than reslice from the front, so the slice's room
	// is reused and a steady flow of events allocates nothing.
	n := copy(st.items[i:], st.items[i+1:])
	st.items[i+n] = item{}
	st.items = st.items[:i+n]
}

// afterDispatchLocked applies what delivering it means for the socket;
// inChannel tells that it was put in the event channel.
func (s *Socket) afterDispatchLocked(st *stream, it item, inChannel bool) {
	switch it.ev.(type) {
	case nil:
		if st.rbytes < s.rhwm {
			s.wakeReaderLocked()
		}
		if st == s.st {
			s.maybeFinishLocked()
		}
	case EndEvent:
		// Without half-open, this side ends when the reader has received
		// the EndEvent: a reply written while handling the data before it
		// still goes out. In the channel, the EndEvent may wait unreceived
		// in the buffer; settleEndLocked finds out when it is received.
		if st == s.st && !s.endTold {
			if inChannel {
				st.endSeq = st.sent - 1
				s.endBuffered = true
				s.settleEndLocked()
			} else {
				s.tellEndLocked()
			}
		}
	case CloseEvent:
		if st.ch == nil {
			st.ch = make(chan Event, eventCapacity)
		}
		if !st.chClosed {
			st.chClosed = true
			close(st.ch)
		}
	}
}

// endPollMin and endPollMax bound the interval at which the emitter
// checks whether the consumer has received the EndEvent. Most consumers
// tell it sooner by calling a method (a write, End, ReadyState), which
// checks at once; the first poll waits long enough for such a call made
// while handling the EndEvent to come first, so that its error (EPIPE)
// precedes the CloseEvent.
const (
	endPollMin = time.Millisecond
	endPollMax = 20 * time.Millisecond
)

// settleEndLocked ends this side once the consumer has received the
// EndEvent that waits in the channel's buffer.
func (s *Socket) settleEndLocked() {
	st := s.st
	if s.endBuffered && st.sent-len(st.ch) > st.endSeq {
		s.endBuffered = false
		s.tellEndLocked()
	}
}

// event turns a queued item into the Event a consumer receives.
func (it item) event() Event {
	switch {
	case it.ev != nil:
		return it.ev
	case it.isText:
		return DataEvent{Text: it.text}
	}
	return DataEvent{Data: it.data}
}

// Pause stops the delivery of DataEvents (other events still come). The
// socket keeps reading until it holds the high-water mark, then stops
// reading from the kernel, so TCP flow control reaches the peer; nothing
// is lost. DataEvents already in the channel are still received. It may be
// called before Connect. Safe for concurrent use.
func (s *Socket) Pause() {
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
}

// Resume restarts the delivery of DataEvents after Pause; data held while
// paused comes first, joined into as few events as possible. Safe for
// concurrent use.
func (s *Socket) Resume() {
	s.mu.Lock()
	s.paused = false
	if s.holdReads { // PauseOnConnect: the first Resume starts reading
		s.holdReads = false
		s.wakeReaderLocked()
	}
	s.mu.Unlock()
	s.dispatch()
}

// wakeReaderLocked tells a reader waiting for room that it may read again.
func (s *Socket) wakeReaderLocked() {
	if s.readWake != nil {
		select {
		case s.readWake <- struct{}{}:
		default:
		}
	}
}

// IsPaused reports whether Pause is in effect. Safe for concurrent use.
func (s *Socket) IsPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}
