// Test helpers of the ports of Node's tests (node_*_test.go).
//
// The ports of Node v0.10.18's own tests of the net module (CONFORMANCE.md §3.1 and §3.2) are
// one Go test per Node test, named after it: test/simple/test-net-X.js is TestNode_net_X,
// test/simple/test-Y.js is TestNode_Y, test/pummel/test-net-X.js is TestNode_pummel_net_X and
// test/internet/test-net-X.js is TestNode_internet_net_X. Each checks the assertions of the
// Node test through nodenet's API; CONFORMANCE.md maps every Node test to its port and file.
// Where a pummel test needs minutes or thousands of connections it is scaled down; the comment
// of each test says how. Tests about time run on the fake clock of a synctest bubble, over
// net.Pipe, with Node's own durations.

package nodenet

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// nodeLoopErr is nodeLoop for a goroutine other than the test's: on
// timeout it destroys s and returns an error instead of failing the test.
func nodeLoopErr(s *Socket, on func(Event)) ([]Event, error) {
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	ch := s.Events()
	var evs []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs, nil
			}
			evs = append(evs, ev)
			if on != nil {
				on(ev)
			}
		case <-timeout.C:
			s.Destroy()
			for range ch {
			}
			return evs, fmt.Errorf("events did not end; got %s", names(evs))
		}
	}
}

// nodeErrs collects failures found on goroutines that must not call t (a
// connection handler, a write callback, a timer); report hands them to t.
type nodeErrs struct {
	mu   sync.Mutex
	msgs []string
}

func (e *nodeErrs) add(format string, args ...any) {
	e.mu.Lock()
	e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

func (e *nodeErrs) report(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.msgs {
		t.Error(m)
	}
}

// nodeLoop receives s's events until the channel closes, calling on (when
// not nil) for each, and returns them all. After testTimeout it destroys s
// and fails the test, so a bug cannot hang the suite.
func nodeLoop(t testing.TB, s *Socket, on func(Event)) []Event {
	t.Helper()
	evs, err := nodeLoopErr(s, on)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// nodeServer starts a server on 127.0.0.1 whose handler is handler (it may
// be nil); Cleanup closes the server and destroys every socket it accepted,
// including one whose handler starts after the test.
func nodeServer(t testing.TB, opts ServerOptions, handler func(*Socket)) (*Server, int) {
	t.Helper()
	srv := createServer(t, opts, trackSockets(t, handler))
	return srv, listenTCP(t, srv)
}

// nodeSysErr returns err as an *Error, failing the test if it is not one.
func nodeSysErr(t testing.TB, what string, err error) *Error {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) {
		t.Fatalf("%s = %v (%T); want an *Error", what, err, err)
	}
	return ne
}

// nodeFirstError returns the Err of the first ErrorEvent in evs, or nil.
func nodeFirstError(evs []Event) error {
	for _, ev := range evs {
		if e, ok := ev.(ErrorEvent); ok {
			return e.Err
		}
	}
	return nil
}
