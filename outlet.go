package nodenet

import "sync"

// An outlet is the consumer's end of an event stream, a socket's or a
// server's: an unbuffered channel with exactly one sender, the stream's
// goroutine, which also closes it after the CloseEvent. Because the
// channel is unbuffered, a send that completes means the consumer has the
// event; the sender decides the order before it offers, and it never
// takes an event back or drops one to make room. Guarded by the owner's
// lock.
type outlet struct {
	ch        chan Event    // nil until Events is called
	wake      chan struct{} // 1-buffered: something changed; made on first use
	resolved  *sync.Cond    // broadcast when the offer in flight ends; made by the first waiter
	offering  bool          // an offer is in flight, the lock released
	offered   itemKind      // the kind of the item on offer
	holds     int32         // methods acting before the next offer (settle)
	abandoned bool          // nobody will receive any more: every offer counts as received
	closed    bool          // the CloseEvent is delivered and ch closed
}

// subscribed reports whether there is a consumer to deliver to.
func (o *outlet) subscribed() bool { return o.ch != nil || o.abandoned }

// subscribe returns the channel, made by the first call.
func (o *outlet) subscribe() <-chan Event {
	if o.ch == nil {
		o.ch = make(chan Event)
		if o.closed {
			close(o.ch) // the stream is over: a range over it ends at once
		}
	}
	return o.ch
}

// signal wakes the sender if it waits.
func (o *outlet) signal() {
	if o.wake != nil {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
}

// wakeChan returns the channel the sender waits on.
func (o *outlet) wakeChan() chan struct{} {
	if o.wake == nil {
		o.wake = make(chan struct{}, 1)
	}
	return o.wake
}

// offer gives ev, an item of kind k, to the consumer, and reports whether
// it was received. It is called by the sender with mu held, and returns
// with mu held. A consumer already waiting takes ev at once, under the
// lock, so that what its receipt implies is in force before the consumer
// can call a method. Otherwise the lock is released while the offer
// waits, and the offer is withdrawn (false) on a wake-up or when stop is
// closed; the sender then decides again what to offer.
func (o *outlet) offer(mu *sync.Mutex, ev Event, k itemKind, stop <-chan struct{}) bool {
	if o.abandoned {
		return true
	}
	select {
	case o.ch <- ev:
		return true
	default:
	}
	wake := o.wakeChan()
	o.offering, o.offered = true, k
	mu.Unlock()
	received := false
	select {
	case o.ch <- ev:
		received = true
	case <-wake:
	case <-stop:
	}
	mu.Lock()
	o.offering = false
	if o.resolved != nil {
		o.resolved.Broadcast()
	}
	return received
}

// settle waits, with mu held, while an item of one of the kinds is on
// offer: it wakes the sender, which withdraws the offer unless the
// consumer takes it first, and holds the next offer back until the caller
// unlocks (the sender does not offer while holds is above 0, and is woken
// again once it is 0). It reports whether it waited.
func (o *outlet) settle(mu *sync.Mutex, kinds itemKind) bool {
	if !o.offering || o.offered&kinds == 0 {
		return false
	}
	o.holds++
	if o.resolved == nil {
		o.resolved = sync.NewCond(mu)
	}
	for o.offering {
		o.signal()
		o.resolved.Wait()
	}
	o.holds--
	o.signal()
	return true
}

// finish closes the channel after the CloseEvent has been delivered.
func (o *outlet) finish() {
	o.closed = true
	if o.ch != nil {
		close(o.ch)
	}
}
