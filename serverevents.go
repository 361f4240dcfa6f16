package nodenet

// A serverStream is the event stream of one listening cycle of a server,
// with the same queue and outlet as a socket's. One goroutine, deliver, is
// its sender: it runs while a subscriber has events waiting and ends when
// none wait, so a server whose events are all delivered holds no goroutine
// for them. Guarded by the server's mu.
type serverStream struct {
	q           queue
	out         outlet
	delivering  bool // the sender goroutine runs
	closeQueued bool // the CloseEvent is queued: a new Listen starts a new stream
}

// pushLocked queues a server event and starts the sender if needed.
// Before anyone subscribes, at most maxHeldEvents are kept.
func (srv *Server) pushLocked(ev Event) {
	st := srv.ev
	if st.closeQueued {
		return
	}
	if _, last := ev.(CloseEvent); last {
		st.closeQueued = true
	}
	st.q.push(ev, st.out.subscribed())
	srv.kickLocked(st)
}

// kickLocked starts the sender if a subscriber has events waiting, or
// wakes it.
func (srv *Server) kickLocked(st *serverStream) {
	st.out.signal()
	if st.out.subscribed() && !st.delivering && len(st.q.items) > 0 {
		st.delivering = true
		go srv.deliver(st)
	}
}

// deliver is the sender of a stream's channel: it offers the queued
// events in order, closes the channel after the CloseEvent, and returns
// when none wait. A consumer of a server's events receives until the
// channel closes.
func (srv *Server) deliver(st *serverStream) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for len(st.q.items) > 0 && !st.out.closed {
		if st.out.holds > 0 {
			wake := st.out.wakeChan()
			srv.mu.Unlock()
			<-wake
			srv.mu.Lock()
			continue
		}
		ev := st.q.items[0].ev
		if !st.out.offer(&srv.mu, ev, kindOther, nil) {
			continue // woken: look again
		}
		st.q.remove(0)
		if _, last := ev.(CloseEvent); last {
			st.out.finish()
		}
	}
	st.delivering = false
}

// cancelListeningLocked takes back a ListeningEvent not yet received: a
// server closed right after Listen emits no 'listening', as in Node 0.12
// and later. An offer in flight is settled first: if the consumer has it,
// it stays delivered.
func (srv *Server) cancelListeningLocked() {
	st := srv.ev
	st.out.settle(&srv.mu, kindAny)
	for i := range st.q.items {
		if _, ok := st.q.items[i].ev.(ListeningEvent); ok {
			st.q.remove(i)
			return
		}
	}
}
