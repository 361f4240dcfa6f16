package nodenet

// A queue holds a connection's events and data, in order, on their way to
// the consumer of Events and to the Pipe destinations; a server's events
// use it too. Data is kept in the same queue as the events, so a chunk,
// the EndEvent after it and the CloseEvent after that stay in order, while
// other events may pass data that waits (see conn.nextLocked). Guarded by
// the owner's lock.
type queue struct {
	items  []item
	held   int   // bytes read and held in data items
	data   int32 // data items in items
	events int32 // other items, for the cap before a consumer comes
	epoch  int32 // counts dropAll: an offer made before it is void
}

// item is one queued event; a data item has ev == nil.
type item struct {
	ev     Event
	data   []byte // raw data, when no encoding is set
	text   string // decoded data, when an encoding is set
	isText bool
	frame  bool    // one whole frame (Framing): never joined to another
	piped  bool    // given to the Pipe destinations already
	n      int     // bytes read for this item
	buf    *[]byte // the pooled read buffer data lies in (see conn.queueReadLocked)
}

// itemKind sorts items by how they are delivered.
type itemKind uint8

const (
	kindData  itemKind = 1 << iota // held while paused
	kindEnd                        // waits behind the data
	kindClose                      // last
	kindOther                      // passes data that waits

	kindAny = kindData | kindEnd | kindClose | kindOther
)

func (it *item) kind() itemKind {
	switch it.ev.(type) {
	case nil:
		return kindData
	case EndEvent:
		return kindEnd
	case CloseEvent:
		return kindClose
	}
	return kindOther
}

// maxHeldEvents bounds the events (other than data, end and close) kept for
// a consumer that has not called Events yet; Node keeps none.
const maxHeldEvents = 16

// push queues a non-data event. Before anyone subscribes, repeats of edge
// events are coalesced and other events are capped, so a socket whose
// events nobody reads holds a bounded amount. Nothing is queued after the
// CloseEvent but an ErrorEvent, which goes before it: a write made before
// the consumer had the CloseEvent reports its error first.
func (q *queue) push(ev Event, subscribed bool) {
	n := len(q.items)
	if n > 0 && q.items[n-1].kind() == kindClose {
		if _, isErr := ev.(ErrorEvent); isErr {
			q.items = append(q.items, q.items[n-1])
			q.items[n-1] = item{ev: ev}
			q.events++
		}
		return
	}
	switch ev.(type) {
	case EndEvent, CloseEvent:
	default:
		if !subscribed {
			if q.events >= maxHeldEvents {
				return
			}
			if n > 0 && isEdge(ev) && q.items[n-1].ev == ev {
				return // TimeoutEvent or DrainEvent twice in a row
			}
		}
	}
	q.events++
	q.items = append(q.items, item{ev: ev})
}

// isEdge reports whether ev is an edge signal whose repeats carry nothing.
func isEdge(ev Event) bool {
	switch ev.(type) {
	case TimeoutEvent, DrainEvent, ReadIdleEvent, WriteIdleEvent, WriteStallEvent:
		return true
	}
	return false
}

// pushData queues read data, joining it to a data item still queued at the
// tail, as Node joins buffered chunks.
func (q *queue) pushData(it item) {
	if !it.isText && q.joinData(it.data) {
		return
	}
	q.held += it.n
	if n := len(q.items); n > 0 {
		last := &q.items[n-1]
		if last.ev == nil && last.isText && it.isText && !last.piped && !last.frame {
			last.text += it.text
			last.n += it.n
			return
		}
	}
	q.data++
	q.items = append(q.items, it)
}

// pushFrame queues one frame (see Framing), as an item of its own.
func (q *queue) pushFrame(it item) {
	q.held += it.n
	q.data++
	q.items = append(q.items, it)
}

// joinData appends p to the raw data item at the tail, if there is one,
// and reports whether it did; p is not retained.
func (q *queue) joinData(p []byte) bool {
	n := len(q.items)
	if n == 0 {
		return false
	}
	last := &q.items[n-1]
	if last.ev != nil || last.isText || last.piped || last.frame {
		return false
	}
	last.data = append(last.data, p...)
	last.n += len(p)
	q.held += len(p)
	return true
}

// remove takes item i out of the queue.
func (q *queue) remove(i int) {
	it := &q.items[i]
	if it.ev == nil {
		q.data--
		q.held -= it.n
	} else {
		q.events--
	}
	// Shift down rather than reslice from the front, so the slice's room
	// is reused and a steady flow of events allocates nothing.
	n := copy(q.items[i:], q.items[i+1:])
	q.items[i+n] = item{}
	q.items = q.items[:i+n]
	if len(q.items) == 0 && cap(q.items) > 8 {
		q.items = nil // an idle connection keeps no room
	}
}

// dropAll forgets everything queued: after a destroy only the terminal
// events remain to be delivered.
func (q *queue) dropAll() {
	for _, it := range q.items {
		if it.buf != nil {
			readBufs.Put(it.buf)
		}
	}
	q.items = nil
	q.data, q.held, q.events = 0, 0, 0
	q.epoch++
}

// event turns a queued item into the Event a consumer receives.
func (it *item) event() Event {
	switch {
	case it.ev != nil:
		return it.ev
	case it.isText:
		return DataEvent{Text: it.text}
	}
	return DataEvent{Data: it.data}
}

// own gives a data item that lies in a pooled read buffer bytes of its
// own, for a DataEvent, and gives the buffer back.
func (it *item) own() {
	if it.buf != nil {
		it.data = append([]byte(nil), it.data...)
		readBufs.Put(it.buf)
		it.buf = nil
	}
}
