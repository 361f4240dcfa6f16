// The shared test helpers: servers and clients, event recorders, waits, raw pairs.

package nodenet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pipeSocket starts a Socket over one end of net.Pipe, the way the
// server starts an accepted one, for the tests that run on the fake clock
// of a synctest bubble; it returns the socket and the other end. It is
// Unref'd first so that it never touches the package's ref count (whose
// channel would otherwise belong to the bubble). Cleanup destroys it.
func pipeSocket(t *testing.T, allowHalfOpen bool) (*Socket, net.Conn) {
	t.Helper()
	conn, peer := net.Pipe()
	s := newSocket(allowHalfOpen, defaultFlow)
	s.Unref()
	s.mu.Lock()
	s.startLocked(conn)
	s.mu.Unlock()
	t.Cleanup(func() {
		s.Destroy()
		peer.Close()
	})
	return s, peer
}

// pattern is the content of the large transfer: byte i is i mod 251.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

// testTimeout bounds every wait of a test, so a bug fails a test rather
// than hanging the suite.
const testTimeout = 20 * time.Second

// defaultFlow is the marks of a socket made with no options.
var defaultFlow = flow{hwm: defaultHighWaterMark, rhwm: defaultHighWaterMark}

// newServer makes a server listening on 127.0.0.1 whose accepted sockets
// come out of the returned channel (nothing else reads the server's
// events). Cleanup closes the server and destroys the sockets.
func newServer(t testing.TB, opts ServerOptions) (*Server, int, <-chan *Socket) {
	t.Helper()
	conns := make(chan *Socket, 64)
	srv := createServer(t, opts, trackSockets(t, func(s *Socket) { conns <- s }))
	return srv, listenTCP(t, srv), conns
}

// socketSet holds sockets for Cleanup to destroy; a socket added after
// Cleanup has run is destroyed at once.
type socketSet struct {
	mu   sync.Mutex
	all  []*Socket
	over bool
}

// newSocketSet makes a socketSet whose sockets Cleanup destroys.
func newSocketSet(t testing.TB) *socketSet {
	set := &socketSet{}
	t.Cleanup(func() {
		set.mu.Lock()
		defer set.mu.Unlock()
		set.over = true
		for _, s := range set.all {
			s.Destroy()
		}
	})
	return set
}

// add adds socks to the set. Once Cleanup has run it destroys them
// instead and reports false.
func (set *socketSet) add(socks ...*Socket) bool {
	set.mu.Lock()
	set.all = append(set.all, socks...)
	late := set.over
	set.mu.Unlock()
	if late {
		for _, s := range socks {
			s.Destroy()
		}
	}
	return !late
}

// trackSockets wraps a connection handler (it may be nil) so that Cleanup
// destroys every socket it is given, including one whose handler starts
// after the test; the handler does not run for that one.
func trackSockets(t testing.TB, handler func(*Socket)) func(*Socket) {
	set := newSocketSet(t)
	return func(s *Socket) {
		if set.add(s) && handler != nil {
			handler(s)
		}
	}
}

func accept(t testing.TB, conns <-chan *Socket) *Socket {
	t.Helper()
	select {
	case s := <-conns:
		return s
	case <-time.After(testTimeout):
		t.Fatal("no connection accepted")
		return nil
	}
}

// eventLog collects the events of one channel until it closes; recorder
// (a socket's) and serverRecorder (a server's) are made of it.
type eventLog struct {
	t    testing.TB
	what string // "events", "server events": for the failure messages
	mu   sync.Mutex
	evs  []Event
	done chan struct{}
	more chan struct{} // closed and replaced on every event
}

// wait blocks until the channel has closed and returns every event.
func (l *eventLog) wait() []Event {
	l.t.Helper()
	select {
	case <-l.done:
	case <-time.After(testTimeout):
		l.t.Fatalf("%s did not end; so far: %s", l.what, names(l.events()))
	}
	return l.events()
}

func (l *eventLog) events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

// waitFor blocks until an event for which match returns true has come.
func (l *eventLog) waitFor(what string, match func(Event) bool) Event {
	l.t.Helper()
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		evs, more := l.evs, l.more
		l.mu.Unlock()
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-more:
		case <-l.done:
			for _, ev := range l.events() {
				if match(ev) {
					return ev
				}
			}
			l.t.Fatalf("%s closed without %s; got %s", l.what, what, names(l.events()))
		case <-timeout.C:
			l.t.Fatalf("no %s; %s so far: %s", what, l.what, names(l.events()))
		}
	}
}

// newEventLog starts reading ch; after logging each event it calls
// onEvent, when not nil, without the lock.
func newEventLog(t testing.TB, what string, ch <-chan Event, onEvent func(Event)) *eventLog {
	l := &eventLog{t: t, what: what, done: make(chan struct{}), more: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ev := range ch {
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			close(l.more)
			l.more = make(chan struct{})
			l.mu.Unlock()
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}()
	return l
}

// recorder reads a socket's events until the channel closes.
type recorder struct {
	*eventLog
	s *Socket
}

// waitData blocks until the data received so far is at least n bytes and
// returns it.
func (r *recorder) waitData(n int) []byte {
	r.t.Helper()
	var got []byte
	r.waitFor(fmt.Sprintf("%d bytes of data", n), func(Event) bool {
		got = dataOf(r.events())
		return len(got) >= n
	})
	return got
}

// record starts reading s.Events(); Cleanup destroys s and waits for the
// reader to finish.
func record(t testing.TB, s *Socket) *recorder {
	t.Helper()
	r := &recorder{eventLog: newEventLog(t, "events", s.Events(), nil), s: s}
	t.Cleanup(func() {
		s.Destroy()
		<-r.done
	})
	return r
}

func isKind[T Event](ev Event) bool { _, ok := ev.(T); return ok }

// names gives the kinds of evs with data merged: TCP chunking is not part
// of the contract.
func names(evs []Event) string {
	var out []string
	for _, ev := range evs {
		n := EventName(ev)
		if n == "data" && len(out) > 0 && out[len(out)-1] == "data" {
			continue
		}
		switch e := ev.(type) {
		case CloseEvent:
			n = fmt.Sprintf("close(%v)", e.HadError)
		case ErrorEvent:
			n = fmt.Sprintf("error(%v)", e.Err)
		}
		out = append(out, n)
	}
	return strings.Join(out, " ")
}

// dataOf joins the payloads of the DataEvents in evs.
func dataOf(evs []Event) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		if d, ok := ev.(DataEvent); ok {
			b.Write(d.Data)
			b.WriteString(d.Text)
		}
	}
	return b.Bytes()
}

// checkEventsAndData checks the events of who, evs: their names (see
// names) and the data they carried.
func checkEventsAndData(t testing.TB, who string, evs []Event, wantNames, wantData string) {
	t.Helper()
	if got := names(evs); got != wantNames {
		t.Errorf("events of %s = %q; want %q", who, got, wantNames)
	}
	if got := string(dataOf(evs)); got != wantData {
		t.Errorf("data of %s = %q; want %q", who, got, wantData)
	}
}

// readAll reads c until EOF, with a deadline.
func readAll(t testing.TB, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	var b bytes.Buffer
	_, err := b.ReadFrom(c)
	if err != nil {
		t.Fatalf("reading the peer: %v", err)
	}
	return b.Bytes()
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil waits until cond, a state of the library that no event
// announces (a counter reaching a value, a Write parked), holds. It looks
// again after a pause that grows from 50 µs to 5 ms, so that it costs
// next to no processor time while it waits.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	pause := 50 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// untilClosed receives from ch until it closes and returns what came; the
// test fails, naming what, if it does not close within testTimeout.
func untilClosed(t testing.TB, what string, ch <-chan Event) []Event {
	t.Helper()
	var evs []Event
	timeout := time.After(testTimeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("%s did not end; got %s", what, names(evs))
			return evs
		}
	}
}

// createServer is CreateServer for options a test knows to be valid: it
// fails the test at once if they are not.
func createServer(t testing.TB, opts ServerOptions, onConnection func(*Socket)) *Server {
	t.Helper()
	srv, err := CreateServer(opts, onConnection)
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	return srv
}

func randomPayload(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitClosed waits until s's connection has closed and reports whether it
// was destroyed (by Destroy or an error) rather than closed gracefully.
func waitClosed(t testing.TB, s *Socket, what string) (destroyed bool) {
	t.Helper()
	s.mu.Lock()
	done := s.c.stopChan()
	s.mu.Unlock()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not close", what)
	}
	return s.wasDestroyed()
}

// recv receives one value from ch within the test timeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// serverRecorder reads a server's events until the channel closes.
type serverRecorder struct {
	*eventLog
	// destroying is set by Cleanup: from then on the reader destroys the
	// socket of every ConnectionEvent it receives.
	destroying atomic.Bool
}

// waitConnection blocks until the n-th (1-based) ConnectionEvent has come
// and returns its socket.
func (r *serverRecorder) waitConnection(n int) *Socket {
	r.t.Helper()
	var s *Socket
	r.waitFor(fmt.Sprintf("connection #%d", n), func(Event) bool {
		s = nil
		k := 0
		for _, ev := range r.events() {
			if ce, ok := ev.(ConnectionEvent); ok {
				if k++; k == n {
					s = ce.Socket
					return true
				}
			}
		}
		return false
	})
	return s
}

// recordServer starts reading srv.Events(). Cleanup closes srv, destroys
// every socket it accepted and waits until the event channel has closed.
func recordServer(t testing.TB, srv *Server) *serverRecorder {
	t.Helper()
	r := &serverRecorder{}
	r.eventLog = newEventLog(t, "server events", srv.Events(), func(ev Event) {
		if ce, ok := ev.(ConnectionEvent); ok && r.destroying.Load() {
			ce.Socket.Destroy()
		}
	})
	t.Cleanup(func() {
		srv.Close()
		// Set under the log's lock: an event logged after the copy
		// below sees it, one logged before is in the copy.
		r.mu.Lock()
		r.destroying.Store(true)
		evs := append([]Event(nil), r.evs...)
		r.mu.Unlock()
		for _, ev := range evs {
			if ce, ok := ev.(ConnectionEvent); ok {
				ce.Socket.Destroy()
			}
		}
		select {
		case <-r.done:
		case <-time.After(testTimeout):
			t.Errorf("server events did not end after Close; got %s", names(r.events()))
		}
	})
	return r
}

// count gives the number of events in evs of the kind T.
func count[T Event](evs []Event) int {
	n := 0
	for _, ev := range evs {
		if isKind[T](ev) {
			n++
		}
	}
	return n
}

// connectSocket is Connect for options a test knows to be valid: it fails
// the test at once if Connect returns an error. The socket may still be
// connecting. Cleanup destroys it and waits for its events to end, which
// they do after its dialer goroutine has returned: that orders the
// dialer's read of net.DefaultResolver before a later test's offlineDNS.
func connectSocket(t testing.TB, opts ConnectOptions) *Socket {
	t.Helper()
	c, err := Connect(opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		c.Destroy()
		untilClosed(t, "the events after Destroy", c.Events())
	})
	return c
}

// recordConnected starts reading s's events (record) and waits for its
// ConnectEvent.
func recordConnected(t testing.TB, s *Socket) *recorder {
	t.Helper()
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	return r
}

// connectClient connects a recorded client to 127.0.0.1:port and waits
// for its ConnectEvent.
func connectClient(t testing.TB, port int) (*Socket, *recorder) {
	t.Helper()
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	return c, recordConnected(t, c)
}

// recordedPair connects a client, made with copts to 127.0.0.1, to a
// server made with sopts (newServer), and records both ends: it returns
// the client and its recorder, the server's socket and its recorder.
func recordedPair(t testing.TB, sopts ServerOptions, copts ConnectOptions) (c *Socket, cr *recorder, s *Socket, sr *recorder) {
	t.Helper()
	_, port, conns := newServer(t, sopts)
	copts.Port, copts.Host = port, "127.0.0.1"
	c = connectSocket(t, copts)
	cr = record(t, c)
	s = accept(t, conns)
	return c, cr, s, record(t, s)
}

// recordedServer makes a server with no connection handler, starts
// reading its events (recordServer) and listens it on 127.0.0.1 and a
// free port. Cleanup closes it and destroys the sockets it accepted.
func recordedServer(t testing.TB, opts ServerOptions) (*Server, *serverRecorder, int) {
	t.Helper()
	srv := createServer(t, opts, nil)
	r := recordServer(t, srv)
	return srv, r, listenTCP(t, srv)
}

// checkTimeoutWhileConnecting connects a socket with an idle timeout of d
// to host:port, where a connect hangs, and checks that the TimeoutEvent
// comes while the socket is still opening (the timeout covers the
// connecting phase and aborts nothing) and that Destroy then closes it
// without error.
func checkTimeoutWhileConnecting(t testing.TB, host string, port int, d time.Duration) {
	t.Helper()
	s, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTimeout(d); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ConnectOptions{Port: port, Host: host}); err != nil {
		t.Fatal(err)
	}
	r := record(t, s)
	r.waitFor("timeout", isKind[TimeoutEvent])
	if got := s.ReadyState(); got != "opening" {
		t.Errorf("ReadyState() at the TimeoutEvent = %v; want opening", got)
	}
	s.Destroy()
	if got, want := names(r.wait()), "timeout close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// refusedConnect checks that a connection attempt to 127.0.0.1:port is
// refused: ECONNREFUSED on the client's events.
func refusedConnect(t testing.TB, port int) {
	t.Helper()
	evs := record(t, connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})).wait()
	if got, want := names(evs), "error(connect ECONNREFUSED) close(true)"; got != want {
		t.Errorf("events of a client of a closed server = %q; want %q", got, want)
	}
}

// eventsWithout returns evs without the events of kind T.
func eventsWithout[T Event](evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if !isKind[T](ev) {
			out = append(out, ev)
		}
	}
	return out
}

// destroyAfterTimeout destroys s if the test still runs after testTimeout, so that a
// loop over its events ends instead of hanging; it reports whether it
// fired.
func destroyAfterTimeout(t *testing.T, s *Socket) *atomic.Bool {
	fired := new(atomic.Bool)
	tm := time.AfterFunc(testTimeout, func() {
		fired.Store(true)
		s.Destroy()
	})
	t.Cleanup(func() { tm.Stop() })
	return fired
}

// callGuarded runs f, the call named what, on its own goroutine and
// returns its error; a panic comes back as an error, and a call that does
// not return fails the test.
func callGuarded(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

func indexOf(evs []Event, match func(Event) bool) int {
	for i, ev := range evs {
		if match(ev) {
			return i
		}
	}
	return -1
}
