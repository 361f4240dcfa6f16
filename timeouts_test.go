// Timeouts: SetTimeout and the idle events, on reads, writes and while connecting.
//
// The four idle watches are served by one timer: SetTimeout (all idle: TimeoutEvent),
// SetReadIdleTimeout (ReadIdleEvent), SetWriteIdleTimeout (WriteIdleEvent) and
// SetWriteStallTimeout (bytes queued, none handed to the kernel: WriteStallEvent). The
// TestIdle* timeouts are short real durations over real loopback sockets. No assertion depends
// on how promptly the timer runs: events are checked for presence, order and count, and times
// only as lower bounds ("not before d", measured with time.Since from a moment before the
// activity that armed the watch). Absence ("no second event", "no event when disabled") is
// checked against a clock that is itself an event: another watch, set after the first event
// with three or four times the duration; the same timer serves both, so by the time the
// clock's event is queued, any due event of the watch under test has been queued too. A
// barrier (the peer sends a byte, the test waits for its DataEvent) then makes sure everything
// queued before has reached the recorder. Two tests assume more, and say so:
// TestIdleActivityResets, that a loopback round trip driven by the test takes well under
// idleLong (100 ms); TestIdleProgressWithinBatch, that a 10 ms ticker pacing the peer's reads
// is not late by 100 ms.

package nodenet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestSilentPeerTimeout: a peer that goes silent is noticed through the
// idle timeout, and the program closes the connection.
func TestSilentPeerTimeout(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{})
	if err := s.SetTimeout(30 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for ev := range s.Events() {
		evs = append(evs, ev)
		if _, ok := ev.(TimeoutEvent); ok {
			s.Destroy()
		}
	}
	if got, want := names(evs), "connect timeout close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if got := readAll(t, raw); len(got) != 0 {
		t.Errorf("peer read %q", got)
	}
}

// sleepUntil sleeps on the bubble's fake clock until d after start, then lets
// every goroutine of the bubble settle.
func sleepUntil(start time.Time, d time.Duration) {
	time.Sleep(d - time.Since(start))
	synctest.Wait()
}

// TestIdleTimeoutFakeClock is Node's idle timeout on a fake clock: a timeout
// once per idle period, re-armed by the peer's data and by the socket's
// own writes; a negative value is an error that changes nothing; 0
// disables; the socket stays open; nothing after Destroy.
func TestIdleTimeoutFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ms = time.Millisecond
		s, peer := pipeSocket(t, false)
		r := record(t, s)
		go io.Copy(io.Discard, peer) // the peer reads what the socket sends; ends when the pipe closes

		start := time.Now()
		if err := s.SetTimeout(100 * ms); err != nil {
			t.Fatalf("SetTimeout(100ms) = %v; want nil", err)
		}
		check := func(at time.Duration, want int) {
			t.Helper()
			sleepUntil(start, at)
			if got := count[TimeoutEvent](r.events()); got != want {
				t.Errorf("TimeoutEvents at %v = %d; want %d", at, got, want)
			}
			if got := s.ReadyState(); got != "open" {
				t.Errorf("ReadyState at %v = %v; want open", at, got)
			}
		}
		send := func(at time.Duration, p string) {
			t.Helper()
			sleepUntil(start, at)
			if _, err := s.SendString(p, "", nil); err != nil {
				t.Fatalf("SendString at %v = %v; want nil", at, err)
			}
			synctest.Wait()
		}

		check(99*ms, 0)
		check(100*ms, 1)
		check(249*ms, 1) // idle: no second timeout

		// The peer's data re-arms it.
		sleepUntil(start, 250*ms)
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		check(349*ms, 1)
		check(350*ms, 2)

		// A write of the socket re-arms it.
		send(500*ms, "y")
		check(599*ms, 2)
		check(600*ms, 3)

		// A negative timeout is an error and leaves the timeout in force.
		send(650*ms, "z")
		sleepUntil(start, 700*ms)
		if err := s.SetTimeout(-1); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetTimeout(-1) = %v; want an error wrapping ErrInvalidArgument", err)
		}
		check(749*ms, 3)
		check(800*ms, 4)

		// 0 disables it, even when armed.
		send(900*ms, "w")
		sleepUntil(start, 950*ms)
		if err := s.SetTimeout(0); err != nil {
			t.Errorf("SetTimeout(0) = %v; want nil", err)
		}
		check(2000*ms, 4)

		// Destroy cancels an armed timeout.
		if err := s.SetTimeout(100 * ms); err != nil {
			t.Fatal(err)
		}
		sleepUntil(start, 2050*ms)
		s.Destroy()
		sleepUntil(start, 3000*ms)
		evs := r.wait()
		if got, want := names(evs), "timeout data timeout timeout timeout close(false)"; got != want {
			t.Errorf("events = %q; want %q", got, want)
		}
	})
}

// TestTimeoutHandlerWriteRearms ports test-net-can-reset-timeout: a
// consumer that writes on every TimeoutEvent re-arms the timeout with
// that write, so it gets one TimeoutEvent per idle period until the peer
// ends; with a peer that ends at once, exactly one.
func TestTimeoutHandlerWriteRearms(t *testing.T) {
	tests := []struct {
		name string
		give time.Duration // how long the peer stays after the first reply
		want int
	}{
		{name: "peer ends at once", give: 0, want: 1},
		{name: "peer stays 250ms", give: 250 * time.Millisecond, want: 3},
		{name: "peer stays 450ms", give: 450 * time.Millisecond, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := pipeSocket(t, false)
				if err := s.SetTimeout(100 * time.Millisecond); err != nil {
					t.Fatal(err)
				}
				timeouts := 0
				done := make(chan []Event, 1)
				go func() {
					var evs []Event
					for ev := range s.Events() {
						evs = append(evs, ev)
						switch ev.(type) {
						case TimeoutEvent:
							timeouts++
							if _, err := s.SendString("WHAT.", "", nil); err != nil {
								t.Errorf("SendString in the timeout handler = %v; want nil", err)
							}
						case EndEvent:
							s.End()
						}
					}
					done <- evs
				}()

				buf := make([]byte, len("WHAT."))
				if _, err := io.ReadFull(peer, buf); err != nil {
					t.Fatalf("peer read: %v", err)
				}
				copied := make(chan struct{})
				go func() {
					io.Copy(io.Discard, peer)
					close(copied)
				}()
				time.Sleep(tt.give)
				peer.Close() // EOF for the socket: net.Pipe has no CloseWrite
				recv(t, copied, "the peer's reader to end")
				evs := recv(t, done, "the events to end")
				if timeouts != tt.want {
					t.Errorf("TimeoutEvents = %d; want %d (events %s)", timeouts, tt.want, names(evs))
				}
				if got := evs[len(evs)-1]; got != (CloseEvent{}) {
					t.Errorf("last event = %v; want close(false) (events %s)", got, names(evs))
				}
			})
		})
	}
}

// TestTimeoutWhileConnecting: the idle timeout covers the connecting
// phase (Node v0.10's net.js): a connect that hangs gives a TimeoutEvent while
// the socket is still opening, and nothing is aborted.
func TestTimeoutWhileConnecting(t *testing.T) {
	checkTimeoutWhileConnecting(t, "127.0.0.1", blackHolePort(t), 20*time.Millisecond)
}

const (
	idleShort = 30 * time.Millisecond  // a watch expected to fire
	idleLong  = 100 * time.Millisecond // a watch that activity must keep from firing
)

// idleWatchCase describes one of the four watches.
type idleWatchCase struct {
	name  string
	set   func(*Socket, time.Duration) error
	is    func(Event) bool
	stall bool // fires only with bytes queued that the peer does not take
	clock int  // index of another watch that fires in the same state, to serve as a clock
}

var idleWatchCases = []idleWatchCase{
	{"timeout", (*Socket).SetTimeout, isKind[TimeoutEvent], false, 1},
	{"read idle", (*Socket).SetReadIdleTimeout, isKind[ReadIdleEvent], false, 2},
	{"write idle", (*Socket).SetWriteIdleTimeout, isKind[WriteIdleEvent], false, 0},
	{"write stall", (*Socket).SetWriteStallTimeout, isKind[WriteStallEvent], true, 0},
}

// idlePair gives a connected, recorded Socket and its raw TCP peer; with
// stall, 1 MiB waits in its queue that the peer does not read.
func idlePair(t *testing.T, stall bool) (*Socket, *recorder, net.Conn) {
	t.Helper()
	s, peer, r := connectedRawPair(t, ConnectOptions{})
	if stall {
		flowStall(t, s, peer)
	}
	return s, r, peer
}

func idleCount(evs []Event, is func(Event) bool) int {
	n := 0
	for _, ev := range evs {
		if is(ev) {
			n++
		}
	}
	return n
}

// idleWaitN waits until n events matching is have come.
func idleWaitN(r *recorder, what string, n int, is func(Event) bool) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%s #%d", what, n), func(Event) bool { return idleCount(r.events(), is) >= n })
}

// idleArmed reports the state of the timer: whether it is scheduled, and
// which watches are armed.
func idleArmed(s *Socket) (scheduled bool, armed [numIdle]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle == nil { // no timeout was ever set
		return false, armed
	}
	for k := range numIdle {
		armed[k] = s.idle.watch[k].armed
	}
	return !s.idle.due.IsZero(), armed
}

// TestIdleEachWatchFires proves that each watch, alone, fires with its
// own event on a connection idle in its sense (the stall watch: with
// bytes queued that the peer does not read), not before its duration,
// and leaves the socket open.
func TestIdleEachWatchFires(t *testing.T) {
	for _, w := range idleWatchCases {
		t.Run(w.name, func(t *testing.T) {
			s, r, _ := idlePair(t, w.stall)
			start := time.Now()
			if err := w.set(s, idleShort); err != nil {
				t.Fatalf("set(%v) = %v", idleShort, err)
			}
			r.waitFor(w.name, w.is)
			if el := time.Since(start); el < idleShort {
				t.Errorf("%s came after %v; want not before %v", w.name, el, idleShort)
			}
			evs := r.events()
			for _, o := range idleWatchCases {
				if o.name != w.name && idleCount(evs, o.is) != 0 {
					t.Errorf("a %s event, with only %s set: %s", o.name, w.name, names(evs))
				}
			}
			if got := s.ReadyState(); got != "open" {
				t.Errorf("ReadyState after the event = %v; want open", got)
			}
		})
	}
}

// TestIdleOncePerPeriod proves that a watch fires once per idle period:
// after its first event, with no activity, no second one comes within
// three more periods (another watch, set at the first event with three
// times the duration, is the clock).
func TestIdleOncePerPeriod(t *testing.T) {
	for _, w := range idleWatchCases {
		t.Run(w.name, func(t *testing.T) {
			s, r, peer := idlePair(t, w.stall)
			if err := w.set(s, idleShort); err != nil {
				t.Fatal(err)
			}
			r.waitFor(w.name, w.is)
			clock := idleWatchCases[w.clock]
			if err := clock.set(s, 3*idleShort); err != nil {
				t.Fatal(err)
			}
			r.waitFor(clock.name+" (the clock)", clock.is)
			flowBarrier(t, r, peer)
			if n := idleCount(r.events(), w.is); n != 1 {
				t.Errorf("%d %s events in four periods without activity; want 1: %s", n, w.name, names(r.events()))
			}
		})
	}
}

// TestIdleZeroDisables proves that 0 turns a watch off, even right after
// it was armed: no event comes within four of its former periods (another
// watch is the clock); and that with every watch off the timer is not
// scheduled.
func TestIdleZeroDisables(t *testing.T) {
	for _, w := range idleWatchCases {
		t.Run(w.name, func(t *testing.T) {
			s, r, peer := idlePair(t, w.stall)
			if err := w.set(s, idleShort); err != nil {
				t.Fatal(err)
			}
			if err := w.set(s, 0); err != nil {
				t.Fatalf("set(0) = %v; want nil", err)
			}
			if scheduled, _ := idleArmed(s); scheduled {
				t.Error("timer still scheduled with every watch off")
			}
			clock := idleWatchCases[w.clock]
			if err := clock.set(s, 4*idleShort); err != nil {
				t.Fatal(err)
			}
			r.waitFor(clock.name+" (the clock)", clock.is)
			flowBarrier(t, r, peer)
			if n := idleCount(r.events(), w.is); n != 0 {
				t.Errorf("%d %s events after set(0); want 0: %s", n, w.name, names(r.events()))
			}
		})
	}
	t.Run("all off", func(t *testing.T) {
		s, _, _ := idlePair(t, false)
		for _, w := range idleWatchCases {
			if err := w.set(s, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range idleWatchCases {
			if err := w.set(s, 0); err != nil {
				t.Fatal(err)
			}
		}
		if scheduled, _ := idleArmed(s); scheduled {
			t.Error("timer still scheduled with every watch off")
		}
	})
}

// TestIdleNegative proves that a negative duration is an error wrapping
// ErrInvalidArgument, on a connected socket and on one never connected,
// and that it leaves the watch as it was: an armed watch still fires.
func TestIdleNegative(t *testing.T) {
	for _, w := range idleWatchCases {
		t.Run(w.name, func(t *testing.T) {
			fresh, err := NewSocket(SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Destroy()
			if err := w.set(fresh, -time.Nanosecond); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("set(-1ns) on a socket never connected = %v; want an error wrapping ErrInvalidArgument", err)
			}

			s, r, _ := idlePair(t, w.stall)
			start := time.Now()
			if err := w.set(s, idleShort); err != nil {
				t.Fatal(err)
			}
			if err := w.set(s, -idleShort); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("set(%v) = %v; want an error wrapping ErrInvalidArgument", -idleShort, err)
			}
			r.waitFor(w.name+" still set", w.is)
			if el := time.Since(start); el < idleShort {
				t.Errorf("%s came after %v; want not before %v", w.name, el, idleShort)
			}
		})
	}
}

// TestIdleActivityResets proves which activity resets which watch, with
// activity driven by the test as fast as a round trip allows, for three
// periods of the long watches:
//
//   - reads (the peer sends, the socket never writes) keep the read idle
//     and all-idle watches from firing, but not the write idle one, which
//     fires once; once the peer stops, the other two fire, not before
//     their period after the last byte sent;
//   - writes handed to the kernel (the socket sends, the peer reads and
//     never sends) keep the write idle and all-idle watches from firing,
//     but not the read idle one, which fires once; the stall watch never
//     fires, the queue being empty; once the socket stops, the other two
//     fire, not before their period after the last Send.
func TestIdleActivityResets(t *testing.T) {
	tests := []struct {
		name  string
		fires int   // the watch that fires during the activity
		kept  []int // the watches the activity keeps from firing
		never []int // watches that never fire
		reads bool  // the peer sends; otherwise the socket sends
	}{
		{"reads", 2, []int{0, 1}, nil, true},
		{"writes", 1, []int{0, 2}, []int{3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r, peer := idlePair(t, false)
			fires := idleWatchCases[tt.fires]
			start := time.Now()
			for _, k := range tt.kept {
				if err := idleWatchCases[k].set(s, idleLong); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range append([]int{tt.fires}, tt.never...) {
				if err := idleWatchCases[k].set(s, idleShort); err != nil {
					t.Fatal(err)
				}
			}
			one := make([]byte, 1)
			var last time.Time
			for i := int64(1); ; i++ {
				last = time.Now()
				if tt.reads {
					if _, err := peer.Write(one); err != nil {
						t.Fatal(err)
					}
					waitUntil(t, "the byte read", func() bool { return s.BytesRead() >= i })
				} else {
					if _, err := s.Send(one, nil); err != nil {
						t.Fatal(err)
					}
					peer.SetReadDeadline(time.Now().Add(testTimeout))
					if _, err := io.ReadFull(peer, one); err != nil {
						t.Fatal(err)
					}
				}
				if time.Since(start) >= 3*idleLong && idleCount(r.events(), fires.is) > 0 {
					break
				}
			}
			evs := r.events()
			if n := idleCount(evs, fires.is); n != 1 {
				t.Errorf("%d %s events during the activity; want 1", n, fires.name)
			}
			for _, k := range append(tt.kept, tt.never...) {
				if n := idleCount(evs, idleWatchCases[k].is); n != 0 {
					t.Errorf("%d %s events during the activity; want 0", n, idleWatchCases[k].name)
				}
			}
			// Activity stops: the kept watches fire, once their period has
			// passed since the last activity.
			for _, k := range tt.kept {
				w := idleWatchCases[k]
				r.waitFor(w.name+" after the activity", w.is)
				if el := time.Since(last); el < idleLong {
					t.Errorf("%s %v after the last activity; want not before %v", w.name, el, idleLong)
				}
			}
			flowBarrier(t, r, peer)
			for _, k := range tt.never {
				if n := idleCount(r.events(), idleWatchCases[k].is); n != 0 {
					t.Errorf("%d %s events; want 0", n, idleWatchCases[k].name)
				}
			}
		})
	}
}

// TestIdleWriteStall follows the stall watch through a connection's life:
// with an empty queue (a Send the kernel takes whole) it does not fire
// (the all-idle watch, four periods long, is the clock); with 1 MiB queued
// that the peer does not read it fires, not before its period; it does
// not fire again while nothing moves (three periods, the all-idle watch as
// clock); once the peer has read everything (progress, the queue empty)
// and a new 1 MiB stalls, it fires a second time, not before its period
// after that Send.
func TestIdleWriteStall(t *testing.T) {
	s, r, peer := idlePair(t, false)
	if err := s.SetWriteStallTimeout(idleShort); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SendString("hello", "", nil); !ok || err != nil {
		t.Fatalf("SendString = %v, %v", ok, err)
	}
	if err := s.SetTimeout(4 * idleShort); err != nil {
		t.Fatal(err)
	}
	r.waitFor("timeout (the clock)", isKind[TimeoutEvent])
	flowBarrier(t, r, peer)
	if n := count[WriteStallEvent](r.events()); n != 0 {
		t.Fatalf("%d WriteStallEvents with an empty queue; want 0", n)
	}

	start := time.Now()
	flowStall(t, s, peer)
	r.waitFor("stall", isKind[WriteStallEvent])
	if el := time.Since(start); el < idleShort {
		t.Errorf("WriteStallEvent %v after the Send; want not before %v", el, idleShort)
	}

	if err := s.SetTimeout(3 * idleShort); err != nil {
		t.Fatal(err)
	}
	idleWaitN(r, "timeout (the clock)", 2, isKind[TimeoutEvent])
	flowBarrier(t, r, peer)
	if n := count[WriteStallEvent](r.events()); n != 1 {
		t.Fatalf("%d WriteStallEvents in one stall; want 1", n)
	}

	flowLargeBuffers(t, s)
	flowRecv(t, "peer read", flowReadN(peer, int(s.BytesWritten())))
	waitUntil(t, "the queue to empty", func() bool { return s.BufferSize() == 0 })
	if n := count[WriteStallEvent](r.events()); n != 1 {
		t.Errorf("%d WriteStallEvents after the peer read; want 1", n)
	}
	start = time.Now()
	flowStall(t, s, peer)
	idleWaitN(r, "stall", 2, isKind[WriteStallEvent])
	if el := time.Since(start); el < idleShort {
		t.Errorf("second WriteStallEvent %v after the Send; want not before %v", el, idleShort)
	}
}

// TestIdleWriteStallNotRearmedBySend proves "once per stall" against more
// writes: after the WriteStallEvent, a further Send (queued behind the
// stuck batch: still no progress) does not bring a second one within four
// periods (the all-idle watch, set after that Send, is the clock).
func TestIdleWriteStallNotRearmedBySend(t *testing.T) {
	s, r, peer := idlePair(t, true)
	if err := s.SetWriteStallTimeout(idleShort); err != nil {
		t.Fatal(err)
	}
	r.waitFor("stall", isKind[WriteStallEvent])
	if _, err := s.Send(make([]byte, 64<<10), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTimeout(4 * idleShort); err != nil {
		t.Fatal(err)
	}
	r.waitFor("timeout (the clock)", isKind[TimeoutEvent])
	flowBarrier(t, r, peer)
	if n := count[WriteStallEvent](r.events()); n != 1 {
		t.Errorf("%d WriteStallEvents in one stall (no byte handed to the kernel since the first); want 1. "+
			"queueLocked (write.go, the stallStartLocked call) runs on every queued write, and stallStartLocked "+
			"(timeouts.go) re-arms the watch the event disarmed: each Send during a stall starts a new one", n)
	}
}

// TestIdleProgressWithinBatch proves that progress inside one writer
// batch counts: 1 MiB queued in one batch, read by the peer 16 KiB every
// 10 ms (a pace set by a ticker, ten times faster than the watches), is
// handed to the kernel steadily for about 0.6 s; neither the stall watch
// nor the write idle watch (100 ms) may fire before the queue has
// drained.
//
// The pace is the one assumption, and the test checks it rather than
// trusting it: on a loaded machine the peer's reads may pause for as long
// as a watch, and then a WriteStallEvent is right. A run whose longest
// pause between reads reached half a watch proves nothing and is made
// again; after three such runs the test skips, saying so.
func TestIdleProgressWithinBatch(t *testing.T) {
	for range 3 {
		stalls, idles, gap := idleProgressRun(t)
		if gap >= idleLong/2 {
			t.Logf("the peer's reads paused for %v (the machine is busy): run again", gap)
			continue
		}
		if stalls != 0 || idles != 0 {
			t.Errorf("%d WriteStallEvents and %d WriteIdleEvents while the peer read 16 KiB every 10 ms "+
				"(no pause over %v); want 0: progress within a batch (each writev) must count", stalls, idles, gap)
		}
		return
	}
	t.Skipf("the peer's reads paused for %v or more in three runs: too busy a machine to hold the pace", idleLong/2)
}

// idleProgressRun is one run of TestIdleProgressWithinBatch: it returns
// the watches' events and the longest pause between two of the peer's
// reads.
func idleProgressRun(t *testing.T) (stalls, idles int, gap time.Duration) {
	s, r, peer := idlePair(t, false)
	defer s.Destroy()
	flowSmallBuffers(t, s, peer)
	payload := flowPayload(1<<20, 21)
	last := time.Now() // from the watches' start: a pause before the first read counts too
	if err := s.SetWriteStallTimeout(idleLong); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWriteIdleTimeout(idleLong); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(payload, nil); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	buf := make([]byte, 16<<10)
	got := 0
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	for got < len(payload) {
		<-tick.C
		n, err := io.ReadFull(peer, buf[:min(len(buf), len(payload)-got)])
		got += n
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		gap = max(gap, now.Sub(last))
		last = now
	}
	flowBarrier(t, r, peer)
	// Only the events before the DrainEvent count: once the queue is
	// empty, a write idle watch may rightly fire before the barrier.
	evs := r.events()
	drain := indexOf(evs, isKind[DrainEvent])
	if drain < 0 {
		t.Fatalf("events = %q; want a DrainEvent once the 1 MiB is written", names(evs))
	}
	return count[WriteStallEvent](evs[:drain]), count[WriteIdleEvent](evs[:drain]), gap
}

// TestIdleAfterClose proves that closing (Destroy, or the peer's end)
// stops the timer with every watch armed, and that setting watches on a
// closed socket afterwards is harmless: nil for valid durations (still
// ErrInvalidArgument for a negative one), no timer scheduled, no event,
// no goroutine (goleak checks that in TestMain).
func TestIdleAfterClose(t *testing.T) {
	for _, how := range []string{"Destroy", "peer's end"} {
		t.Run(how, func(t *testing.T) {
			s, r, peer := idlePair(t, false)
			for _, w := range idleWatchCases {
				if err := w.set(s, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if scheduled, _ := idleArmed(s); !scheduled {
				t.Fatal("timer not scheduled with every watch set")
			}
			if how == "Destroy" {
				s.Destroy()
			} else {
				peer.(*net.TCPConn).CloseWrite()
			}
			evs := r.wait()
			if scheduled, _ := idleArmed(s); scheduled {
				t.Error("timer still scheduled after close")
			}
			s.mu.Lock()
			timer := s.idle.timer
			s.mu.Unlock()
			if timer.Stop() {
				t.Error("the idle timer was still pending after close")
			}
			for _, w := range idleWatchCases {
				if err := w.set(s, idleShort); err != nil {
					t.Errorf("%s set(%v) on a closed socket = %v; want nil", w.name, idleShort, err)
				}
				if err := w.set(s, -idleShort); !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("%s set(%v) on a closed socket = %v; want ErrInvalidArgument", w.name, -idleShort, err)
				}
			}
			if scheduled, _ := idleArmed(s); scheduled {
				t.Error("setting watches on a closed socket scheduled the timer")
			}
			for _, w := range idleWatchCases {
				if err := w.set(s, 0); err != nil {
					t.Errorf("%s set(0) on a closed socket = %v; want nil", w.name, err)
				}
			}
			for _, w := range idleWatchCases {
				if n := idleCount(evs, w.is); n != 0 {
					t.Errorf("%d %s events; want 0", n, w.name)
				}
			}
		})
	}
}

// TestIdleSetBeforeConnect proves that watches set on a socket before
// Connect count from the connect: the read and write idle watches fire
// after the ConnectEvent on an idle connection, not before their period
// from the Connect call.
func TestIdleSetBeforeConnect(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetReadIdleTimeout(idleShort); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWriteIdleTimeout(idleShort); err != nil {
		t.Fatal(err)
	}
	r := record(t, s)
	start := time.Now()
	if err := s.Connect(ConnectOptions{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, w := range []idleWatchCase{idleWatchCases[1], idleWatchCases[2]} {
		r.waitFor(w.name+" after connect", func(Event) bool {
			evs := r.events()
			i := indexOf(evs, isKind[ConnectEvent])
			return i >= 0 && idleCount(evs[i:], w.is) > 0
		})
	}
	if el := time.Since(start); el < idleShort {
		t.Errorf("idle events %v after Connect; want not before %v", el, idleShort)
	}
}

// TestIdleReconnect proves that the watches survive a reconnect (the
// socket keeps its durations, as it keeps its other settings) whatever
// their state at the close: whether the watch had fired before the
// close, or was still armed when the socket closed, the new connection
// gets its TimeoutEvent.
func TestIdleReconnect(t *testing.T) {
	for _, firedFirst := range []bool{true, false} {
		name := "armed at close"
		if firedFirst {
			name = "fired before close"
		}
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			opts := ConnectOptions{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d := idleShort
			if !firedFirst {
				d = 300 * time.Millisecond // long enough to close the first connection before it fires
			}
			if err := s.SetTimeout(d); err != nil {
				t.Fatal(err)
			}
			r := record(t, s)
			if err := s.Connect(opts); err != nil {
				t.Fatal(err)
			}
			c1, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			r.waitFor("connect", isKind[ConnectEvent])
			if firedFirst {
				r.waitFor("timeout", isKind[TimeoutEvent])
			}
			s.Destroy()
			evs := r.wait()
			if !firedFirst && count[TimeoutEvent](evs) != 0 {
				t.Skip("the timeout fired before the close: the case was not exercised")
			}

			if err := s.Connect(opts); err != nil {
				t.Fatalf("reconnect: %v", err)
			}
			r2 := record(t, s)
			c2, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			r2.waitFor("connect", isKind[ConnectEvent])
			if scheduled, armed := idleArmed(s); armed[idleAll] && !scheduled {
				t.Fatal("after a close with the all-idle watch armed, a reconnect never fires it: " +
					"stopIdleLocked (timeouts.go) stops the timer but leaves the watches' armed flags set, " +
					"so touchLocked (timeouts.go, if !w.armed) never schedules the timer again")
			}
			r2.waitFor("timeout on the new connection", isKind[TimeoutEvent])
		})
	}
}
