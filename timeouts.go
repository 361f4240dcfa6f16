package nodenet

import "time"

// ReadIdleEvent tells that no data has been read for the duration set with
// SetReadIdleTimeout (Netty's reader idle state). It comes once per idle
// period and does not close the socket.
type ReadIdleEvent struct{}

// WriteIdleEvent tells that nothing has been handed to the kernel for the
// duration set with SetWriteIdleTimeout (Netty's writer idle state), for
// example to send a heartbeat. It comes once per idle period and does not
// close the socket.
type WriteIdleEvent struct{}

// WriteStallEvent tells that bytes have been waiting in the write queue
// for the duration set with SetWriteStallTimeout without any of them being
// handed to the kernel: the peer does not read. It comes once per stall
// and does not close the socket (Destroy it, or wait).
type WriteStallEvent struct{}

func (ReadIdleEvent) eventName() string   { return "readIdle" }
func (WriteIdleEvent) eventName() string  { return "writeIdle" }
func (WriteStallEvent) eventName() string { return "writeStall" }

// idleKind names one of a socket's idle watches.
type idleKind uint8

const (
	idleAll   idleKind = iota // Node's setTimeout: reads, writes, connect
	idleRead                  // reads
	idleWrite                 // writes handed to the kernel
	idleStall                 // queued bytes, none handed to the kernel
	numIdle
)

// Activities, as sets of the watches they reset.
const (
	onRead    = 1<<idleAll | 1<<idleRead
	onWrite   = 1<<idleAll | 1<<idleWrite | 1<<idleStall
	onConnect = 1<<idleAll | 1<<idleRead | 1<<idleWrite | 1<<idleStall
	onEnd     = 1 << idleAll // the peer's FIN: Node's timer counts it
)

var idleEvents = [numIdle]Event{TimeoutEvent{}, ReadIdleEvent{}, WriteIdleEvent{}, WriteStallEvent{}}

// idleWatch is one idle timeout: after d with no activity of its kind, its
// event is emitted, once, until activity arms it again.
type idleWatch struct {
	d     time.Duration
	last  time.Time
	armed bool
}

// idleTimers are a socket's idle watches, served by one timer that is not
// reset on every activity (that would cost a timer operation per read):
// it fires at the earliest deadline it knew of, and re-arms itself there
// for what is left.
type idleTimers struct {
	watch [numIdle]idleWatch
	on    uint8 // the watches with d > 0
	timer *time.Timer
	due   time.Time // when timer fires; zero while it is stopped
}

// touchLocked records activity of the given kinds (a set of onRead, ...).
func (s *Socket) touchLocked(kinds uint8) {
	if s.idle == nil || s.idle.on&kinds == 0 || s.c.phase == phaseClosed {
		return
	}
	now := time.Now()
	for k := range numIdle {
		if s.idle.on&kinds&(1<<k) == 0 {
			continue
		}
		w := &s.idle.watch[k]
		w.last = now
		if k == idleStall && s.c.pending == 0 {
			w.armed = false // nothing waits: no stall
			continue
		}
		if !w.armed {
			w.armed = true
			s.scheduleLocked(now, now.Add(w.d))
		}
	}
}

// stallStartLocked starts the stall watch when bytes begin to wait in an
// empty queue (it is called before they are counted in pending).
func (s *Socket) stallStartLocked() {
	if s.idle == nil || s.idle.on&(1<<idleStall) == 0 || s.idle.watch[idleStall].armed || s.c.phase == phaseClosed {
		return
	}
	w := &s.idle.watch[idleStall]
	now := time.Now()
	w.last, w.armed = now, true
	s.scheduleLocked(now, now.Add(w.d))
}

// scheduleLocked makes the timer fire by due.
func (s *Socket) scheduleLocked(now, due time.Time) {
	t := s.idle
	if !t.due.IsZero() && !due.Before(t.due) {
		return // it fires earlier and re-arms itself then
	}
	t.due = due
	t.timer.Reset(due.Sub(now))
}

// onIdleTimer runs when the idle timer fires: it emits the events of the
// watches whose period has passed, and re-arms the timer for the others.
func (s *Socket) onIdleTimer() {
	s.lock()
	defer s.mu.Unlock()
	t := s.idle
	t.due = time.Time{}
	c := s.c
	if c.phase == phaseClosed {
		return
	}
	now := time.Now()
	var next time.Time
	for k := range numIdle {
		w := &t.watch[k]
		if !w.armed || w.d <= 0 {
			continue
		}
		if k == idleStall && c.pending == 0 {
			w.armed = false
			continue
		}
		last := w.last
		if k == idleWrite || k == idleStall {
			// The writer records progress within a batch there.
			if lw := c.lastWrite.Load(); lw > last.UnixNano() {
				last = time.Unix(0, lw)
			}
		}
		if due := last.Add(w.d); due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		w.armed = false // once per idle period: activity re-arms it
		c.pushLocked(idleEvents[k])
		if k == idleAll {
			c.alerts.timeouts++
			c.wakeWritersLocked() // a NetConn's blocked Write returns ErrIdleTimeout
		}
	}
	if !next.IsZero() {
		s.scheduleLocked(now, next)
	}
}

// setIdleTimeout sets the watch k's duration; 0 turns it off.
func (s *Socket) setIdleTimeout(k idleKind, d time.Duration, what string) error {
	if d < 0 {
		return argError("%s should be >= 0, got %v", what, d)
	}
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	if s.idle == nil {
		if d == 0 {
			return nil
		}
		s.idle = new(idleTimers) // only sockets with a timeout pay for them
	}
	t := s.idle
	t.watch[k] = idleWatch{d: d}
	if d == 0 {
		t.on &^= 1 << k
		if t.on == 0 && t.timer != nil {
			t.timer.Stop()
			t.due = time.Time{}
		}
		return nil
	}
	t.on |= 1 << k
	if t.timer == nil {
		t.timer = time.AfterFunc(time.Hour, s.onIdleTimer)
		t.timer.Stop()
	}
	s.touchLocked(1 << k)
	return nil
}

// stopIdleLocked stops the timer at close. The durations stay, for a
// reconnect (Socket.Connect), whose connect arms the watches again.
func (s *Socket) stopIdleLocked() {
	if s.idle == nil {
		return
	}
	if s.idle.timer != nil {
		s.idle.timer.Stop()
		s.idle.due = time.Time{}
	}
	for k := range s.idle.watch {
		s.idle.watch[k].armed = false
	}
}

// SetTimeout is Node's setTimeout: after d with no read, no write handed
// to the kernel and no connect activity, a TimeoutEvent is emitted, once
// per idle period. The connection stays open. 0 disables it; a negative d
// is an error. It may be called before Connect (the connecting phase then
// counts as idle time). Safe for concurrent use.
func (s *Socket) SetTimeout(d time.Duration) error {
	return s.setIdleTimeout(idleAll, d, "timeout")
}

// SetReadIdleTimeout emits a ReadIdleEvent after d with no data read (the
// connect counts as a read), once per idle period. 0 disables it; a
// negative d is an error. Safe for concurrent use.
func (s *Socket) SetReadIdleTimeout(d time.Duration) error {
	return s.setIdleTimeout(idleRead, d, "read idle timeout")
}

// SetWriteIdleTimeout emits a WriteIdleEvent after d with nothing handed
// to the kernel (the connect counts as a write), once per idle period. 0
// disables it; a negative d is an error. Safe for concurrent use.
func (s *Socket) SetWriteIdleTimeout(d time.Duration) error {
	return s.setIdleTimeout(idleWrite, d, "write idle timeout")
}

// SetWriteStallTimeout emits a WriteStallEvent when bytes have waited in
// the write queue for d with none handed to the kernel meanwhile (progress
// is counted per write(2) that completes), once per stall. 0 disables it;
// a negative d is an error. Safe for concurrent use.
func (s *Socket) SetWriteStallTimeout(d time.Duration) error {
	return s.setIdleTimeout(idleStall, d, "write stall timeout")
}
