package nodenet

import "sync"

// outbox delivers a server's events in order on one unbuffered channel.
// Events wait in a queue; a sender goroutine runs only while a subscriber
// has events waiting, so a server whose events are all delivered holds no
// goroutine for them. Before anyone subscribes, at most maxHeldEvents are
// kept. All fields are guarded by the owner's mutex.
type outbox struct {
	items       []Event
	ch          chan Event
	subscribed  bool
	running     bool          // a sender goroutine is running
	closeQueued bool          // the CloseEvent is queued or delivered
	inFlight    Event         // the event the sender is offering
	retracted   bool          // cancelListening took back inFlight
	retract     chan struct{} // 1-buffered: wakes the sender to take it back
}

func newOutbox() *outbox {
	return &outbox{retract: make(chan struct{}, 1)}
}

func (b *outbox) push(ev Event) {
	if b.closeQueued {
		return
	}
	if _, last := ev.(CloseEvent); last {
		b.closeQueued = true
	} else if !b.subscribed && len(b.items) >= maxHeldEvents {
		return
	}
	b.items = append(b.items, ev)
}

// kick starts the sender if a subscriber has events waiting.
func (b *outbox) kick(mu *sync.Mutex) {
	if b.subscribed && !b.running && len(b.items) > 0 {
		b.running = true
		go b.run(mu)
	}
}

// subscribe returns the channel and starts delivering what waits.
func (b *outbox) subscribe(mu *sync.Mutex) <-chan Event {
	if b.ch == nil {
		b.ch = make(chan Event)
	}
	b.subscribed = true
	b.kick(mu)
	return b.ch
}

// run sends the queued events, closes the channel after the CloseEvent,
// and returns when the queue is empty. Its sends block: a server's
// consumer receives until the channel closes. The channel is unbuffered,
// so an event is delivered exactly when it is received, and a
// ListeningEvent can still be taken back until then.
func (b *outbox) run(mu *sync.Mutex) {
	for {
		mu.Lock()
		if len(b.items) == 0 {
			b.running = false
			mu.Unlock()
			return
		}
		ev := b.items[0]
		b.items[0] = nil
		b.items = b.items[1:]
		b.inFlight, b.retracted = ev, false
		mu.Unlock()

		// A take-back that is already signalled wins over a receiver that
		// is already waiting: check for it first, as select would pick
		// between two ready cases at random.
		sent := true
		select {
		case <-b.retract:
			sent = false
		default:
			select {
			case b.ch <- ev:
			case <-b.retract:
				sent = false
			}
		}

		mu.Lock()
		if !sent && !b.retracted {
			b.items = append([]Event{ev}, b.items...) // a stale signal: offer it again
		}
		b.inFlight, b.retracted = nil, false
		mu.Unlock()
		if _, last := ev.(CloseEvent); last && sent {
			close(b.ch)
			mu.Lock()
			b.running = false
			mu.Unlock()
			return
		}
	}
}

// cancelListening takes back a ListeningEvent not yet received: a server
// closed right after Listen emits no 'listening', as in Node 0.12 and
// later.
func (b *outbox) cancelListening() {
	for i, ev := range b.items {
		if _, ok := ev.(ListeningEvent); ok {
			b.items = append(b.items[:i], b.items[i+1:]...)
			return
		}
	}
	if _, ok := b.inFlight.(ListeningEvent); ok && !b.retracted {
		b.retracted = true
		select {
		case b.retract <- struct{}{}:
		default:
		}
	}
}
