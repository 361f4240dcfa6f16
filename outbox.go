package nodenet

import "sync"

// outbox delivers a server's events in order on one channel. Events wait
// in a queue; a goroutine, started by the first Events call and ended
// after the CloseEvent, sends them. Before anyone subscribes, at most
// maxHeldEvents are kept. All fields are guarded by the owner's mutex.
type outbox struct {
	items       []Event
	ch          chan Event
	subscribed  bool
	closeQueued bool
	wake        chan struct{} // 1-buffered
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1)}
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

// kick wakes the sender after a push.
func (b *outbox) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// subscribe returns the channel, starting the sender on the first call.
func (b *outbox) subscribe(mu *sync.Mutex) <-chan Event {
	if b.ch == nil {
		b.ch = make(chan Event, eventCapacity)
	}
	if !b.subscribed {
		b.subscribed = true
		go b.run(mu)
	}
	return b.ch
}

// run sends the queued events and closes the channel after the CloseEvent.
// Its sends block: a server's consumer reads until the channel closes.
func (b *outbox) run(mu *sync.Mutex) {
	for {
		mu.Lock()
		if len(b.items) == 0 {
			mu.Unlock()
			<-b.wake
			continue
		}
		ev := b.items[0]
		b.items[0] = nil
		b.items = b.items[1:]
		mu.Unlock()
		b.ch <- ev
		if _, last := ev.(CloseEvent); last {
			close(b.ch)
			return
		}
	}
}

// cancelListening takes back a ListeningEvent not yet delivered: a server
// closed right after Listen emits no 'listening', as Node 0.12 and later.
func (b *outbox) cancelListening() {
	for i, ev := range b.items {
		if _, ok := ev.(ListeningEvent); ok {
			b.items = append(b.items[:i], b.items[i+1:]...)
			return
		}
	}
}
