package nodenet

// A stream is the ordered queue of one connection's events on their way to
// the consumer of Events (and to Pipe destinations). Data is kept in the
// same queue as the other events, so a chunk, the EndEvent after it and
// the CloseEvent after that stay in order; a paused socket lets the other
// events pass its data. All fields are guarded by the owning Socket's mu.
type stream struct {
	items     []item
	dataItems int // data items in items
	rbytes    int // bytes read and held in data items
	events    int // other items, for the cap before a consumer comes

	ch          chan Event
	subscribed  bool          // Events was called
	emitting    bool          // an emitter goroutine runs
	pumping     bool          // a goroutine is dispatching; others leave it the work
	pumpAgain   bool          // state changed while pumping
	wake        chan struct{} // 1-buffered: wakes the emitter (made with the first emitter)
	stop        chan struct{} // closed by Destroy: never block on the consumer again (idem)
	stopped     bool
	closeQueued bool // the CloseEvent is in items (or delivered)
	closeInChan bool // the CloseEvent is in ch, not yet received; ch still open
	endPiped    bool // the Pipe destinations have been given the end
	chClosed    bool // the CloseEvent was dispatched and ch closed

	// sent counts the events put in ch; sent - len(ch) of them have been
	// received. endSeq is the EndEvent's place in that count, so whether
	// the consumer has received the EndEvent is known exactly.
	sent   int
	endSeq int
}

// item is one queued event; a data item has ev == nil.
type item struct {
	ev     Event
	data   []byte // raw data, when no encoding is set
	text   string // decoded data, when an encoding is set
	isText bool
	n      int     // bytes read for this item
	buf    *[]byte // the pooled read buffer data lies in, to give back once piped
}

// eventCapacity is the capacity of an event channel. Two slots let the
// terminal ErrorEvent and CloseEvent of a destroyed socket be left in the
// channel without a goroutine waiting for a consumer that stopped.
const eventCapacity = 2

// maxHeldEvents bounds the events (other than data, end and close) kept for
// a consumer that has not called Events yet; Node keeps none.
const maxHeldEvents = 16

func newStream() *stream { return &stream{} }

// push queues a non-data event. Before anyone subscribes, repeats of edge
// events are coalesced and other events are capped, so a socket whose
// events nobody reads holds a bounded amount.
func (st *stream) push(ev Event) {
	if st.closeQueued {
		st.pushBeforeClose(ev)
		return
	}
	switch ev.(type) {
	case EndEvent, CloseEvent:
	default:
		if !st.subscribed {
			if st.events >= maxHeldEvents {
				return
			}
			if n := len(st.items); n > 0 && isEdge(ev) && st.items[n-1].ev == ev {
				return // TimeoutEvent or DrainEvent twice in a row
			}
		}
	}
	st.events++
	st.items = append(st.items, item{ev: ev})
}

// pushBeforeClose queues ev after the CloseEvent was queued. Nothing comes
// after the CloseEvent, but an ErrorEvent reported by a method called
// before the consumer had the close goes before it. (Kept out of push so
// that push's frame stays small: it runs on the reader's stack.)
func (st *stream) pushBeforeClose(ev Event) {
	if _, isErr := ev.(ErrorEvent); !isErr || st.chClosed || st.stopped {
		return
	}
	if st.closeInChan && !st.takeBackClose() {
		return // the consumer has the CloseEvent: too late
	}
	st.events++
	if n := len(st.items); n > 0 {
		if _, last := st.items[n-1].ev.(CloseEvent); last {
			st.items = append(st.items, st.items[n-1])
			st.items[n-1] = item{ev: ev}
			return
		}
	}
	st.items = append(st.items, item{ev: ev}) // the CloseEvent is being sent: it is put back after
}

// pushData queues read data, joining it to a data item still queued at the
// tail, as Node joins buffered chunks.
func (st *stream) pushData(it item) {
	if !it.isText && st.joinData(it.data) {
		return
	}
	st.rbytes += it.n
	if n := len(st.items); n > 0 {
		last := &st.items[n-1]
		if last.ev == nil && last.isText && it.isText {
			last.text += it.text
			last.n += it.n
			return
		}
	}
	st.dataItems++
	st.items = append(st.items, it)
}

// joinData appends p to the raw data item at the tail, if there is one,
// and reports whether it did; p is not retained.
func (st *stream) joinData(p []byte) bool {
	n := len(st.items)
	if n == 0 {
		return false
	}
	last := &st.items[n-1]
	if last.ev != nil || last.isText {
		return false
	}
	last.data = append(last.data, p...)
	last.n += len(p)
	st.rbytes += len(p)
	return true
}

// dropAll forgets everything queued: after a destroy only the terminal
// events remain to be delivered.
func (st *stream) dropAll() {
	clear(st.items)
	st.items = st.items[:0]
	st.dataItems, st.rbytes, st.events = 0, 0, 0
}

// abandon is Destroy's promise to the consumer: nothing but the terminal
// events is delivered any more, and the emitter stops blocking on sends.
func (st *stream) abandon() {
	if st.stopped {
		return
	}
	st.stopped = true
	if st.stop != nil {
		close(st.stop)
	}
	kept := st.items[:0]
	for _, it := range st.items {
		switch it.ev.(type) {
		case ErrorEvent, CloseEvent:
			kept = append(kept, it)
		}
	}
	clear(st.items[len(kept):])
	st.items = kept
	st.dataItems, st.rbytes, st.events = 0, 0, len(kept)
}

func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// isEdge reports whether ev is an edge signal whose repeats carry nothing.
func isEdge(ev Event) bool {
	switch ev.(type) {
	case TimeoutEvent, DrainEvent, ReadIdleEvent, WriteIdleEvent, WriteStallEvent:
		return true
	}
	return false
}

// unshift puts back at the head an item that nextLocked took.
func (st *stream) unshift(it item) {
	st.items = append(st.items, item{})
	copy(st.items[1:], st.items)
	st.items[0] = it
	if it.ev == nil {
		st.dataItems++
		st.rbytes += it.n
	} else {
		st.events++
	}
}

// takeBackClose takes the CloseEvent out of the channel's buffer, where it
// waits unreceived as the only event; it reports false if the consumer has
// received it (or other events still wait before it: then the ErrorEvent
// comes too late to pass them). The emitter, waiting in awaitClose, sends
// nothing meanwhile.
func (st *stream) takeBackClose() bool {
	if len(st.ch) != 1 {
		return false
	}
	select {
	case ev := <-st.ch:
		st.sent--
		st.closeInChan = false
		st.items = append(st.items, item{ev: ev})
		st.events++
		st.signal()
		return true
	default:
		return false // the consumer took it just now
	}
}
