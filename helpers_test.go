package nodenet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait of a test, so a bug fails a test rather
// than hanging the suite.
const testTimeout = 20 * time.Second

// defaultFlow is the marks of a socket made with no options.
var defaultFlow = flow{hwm: DefaultHighWaterMark, rhwm: DefaultHighWaterMark}

// listenTCP starts srv on 127.0.0.1 and a free port; Cleanup closes it.
func listenTCP(t testing.TB, srv *Server) int {
	t.Helper()
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Address().Port
}

// newServer makes a server listening on 127.0.0.1 whose accepted sockets
// come out of the returned channel (nothing else reads the server's
// events). Cleanup closes the server and destroys the sockets.
func newServer(t testing.TB, opts ServerOptions) (*Server, int, <-chan *Socket) {
	t.Helper()
	conns := make(chan *Socket, 64)
	var mu sync.Mutex
	var all []*Socket
	srv := createServer(t, opts, func(s *Socket) {
		mu.Lock()
		all = append(all, s)
		mu.Unlock()
		conns <- s
	})
	port := listenTCP(t, srv)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range all {
			s.Destroy()
		}
	})
	return srv, port, conns
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

// dialRaw connects a plain net.Conn to the server, for a peer whose
// behaviour the test controls byte by byte.
func dialRaw(t testing.TB, port int) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// rawPair gives a Socket connected to a raw peer over loopback TCP.
func rawPair(t testing.TB, opts ConnectOptions) (*Socket, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts.Port = ln.Addr().(*net.TCPAddr).Port
	opts.Host = "127.0.0.1"
	s, err := Connect(opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Destroy() })
	return s, c.(*net.TCPConn)
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

func sockPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "s.sock")
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

// offlineDNS makes every DNS query of the test fail at once, so that no
// packet leaves the machine: tests of name lookups that fail (ENOTFOUND)
// must never ask a real resolver. /etc/hosts still answers localhost.
func offlineDNS(t testing.TB) {
	t.Helper()
	old := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no DNS in tests")
		},
	}
	t.Cleanup(func() { net.DefaultResolver = old })
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
