// Tests of panics in the program's code that the library calls on its own
// goroutines (write callbacks, the ConnState hook, a Framing's Split, a
// tls.Config's callbacks): each is stopped, logged with its stack, and made
// an error of its connection; the process and the other connections go on.
// The handler's panic is TestHandlerPanicIsRecovered.

package nodenet

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// checkPanicError checks that err is the recovered panic of what, wrapping
// errBoom, and that the log has it with the stack of the test's code.
func checkPanicError(t *testing.T, err error, what string, errBoom error, logged *logBuffer, frame string) {
	t.Helper()
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), what+" ") || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("error = %v; want %s's panic, wrapping %v", err, what, errBoom)
	}
	if out := logged.String(); !strings.Contains(out, "nodenet: panic in "+what) || !strings.Contains(out, frame) {
		t.Errorf("log = %q; want the panic of %s and its stack (%s)", out, what, frame)
	}
}

// TestWriteCallbackPanicIsRecovered: a write callback that panics, on a
// server's socket and on a client's, destroys that socket with the error
// (the server also gets it as an ErrorEvent), and the server goes on
// serving.
func TestWriteCallbackPanicIsRecovered(t *testing.T) {
	logged := captureLog(t)
	errBoom := errors.New("boom")
	srv := createServer(t, ServerOptions{Flow: Flow{Framing: Lines(64)}}, func(c *Socket) {
		for ev := range c.Events() {
			if ev, ok := ev.(DataEvent); ok {
				line := string(ev.Data)
				c.Send(append(ev.Data, '\n'), func(error) {
					if line == "panic" {
						panic(errBoom)
					}
				})
			}
		}
	})
	sevs := newEventLog(t, "server events", srv.Events(), nil)
	port := listenTCP(t, srv)

	bad := dialRaw(t, port)
	bad.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(bad, "panic\n"); err != nil {
		t.Fatal(err)
	}
	// The reply went out before its callback ran; then the socket closed.
	if got, err := io.ReadAll(bad); string(got) != "panic\n" {
		t.Errorf("the client read %q, %v; want the reply, then the end", got, err)
	}
	ev := sevs.waitFor("the callback's panic", isKind[ErrorEvent]).(ErrorEvent)
	checkPanicError(t, ev.Err, "a write callback", errBoom, logged, "TestWriteCallbackPanicIsRecovered")

	good := dialRaw(t, port)
	good.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(good, "fine\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := bufio.NewReader(good).ReadString('\n'); got != "fine\n" {
		t.Errorf("a new connection's echo = %q, %v; want fine", got, err)
	}

	c, r := connectClient(t, port)
	c.Send([]byte("x\n"), func(error) { panic(errBoom) })
	evs := r.wait()
	if err := onlyError(t, evs); err != nil {
		checkPanicError(t, err, "a write callback", errBoom, logged, "TestWriteCallbackPanicIsRecovered")
		if got, want := names(eventsWithout[DataEvent](evs)), "connect error("+err.Error()+") close(true)"; got != want {
			t.Errorf("the client's events, data aside = %q; want %q", got, want)
		}
	}
}

// TestConnStatePanicIsRecovered: a ConnState hook that panics when told
// that a connection opened destroys that connection, one that panics when
// told that it closed only reports; both are ErrorEvents on the server,
// which goes on serving.
func TestConnStatePanicIsRecovered(t *testing.T) {
	logged := captureLog(t)
	errBoom := errors.New("boom")
	var opened, closed atomic.Int32
	hook := func(s *Socket, open bool) {
		if open {
			if opened.Add(1) == 1 {
				panic(errBoom)
			}
			return
		}
		if closed.Add(1) == 1 {
			panic(errBoom)
		}
	}
	srv := createServer(t, ServerOptions{ConnState: hook}, func(c *Socket) { c.Pipe(c) })
	sevs := newEventLog(t, "server events", srv.Events(), nil)
	port := listenTCP(t, srv)

	first := dialRaw(t, port)
	first.SetDeadline(time.Now().Add(testTimeout))
	if got, err := io.ReadAll(first); len(got) > 0 {
		t.Errorf("the refused client read %q, %v; want the end", got, err)
	}
	ev := sevs.waitFor("the hook's panic at open", isKind[ErrorEvent]).(ErrorEvent)
	checkPanicError(t, ev.Err, "the ConnState hook", errBoom, logged, "TestConnStatePanicIsRecovered")
	if got := count[ConnectionEvent](sevs.events()); got != 0 {
		t.Errorf("%d ConnectionEvents; want none for the connection the hook refused", got)
	}

	// The refused connection is told closed too: that first close panics.
	for range 2 {
		c, r := connectClient(t, port)
		c.End()
		if got, want := names(r.wait()), "connect end close(false)"; got != want {
			t.Errorf("a client's events = %q; want %q", got, want)
		}
	}
	// The server's events reach the log on their own goroutine: wait for
	// what the three closes bring, then check that nothing else came.
	waitUntil(t, "the hook's panic at close", func() bool {
		evs := sevs.events()
		return closed.Load() == 3 && count[ErrorEvent](evs) >= 2 && count[ConnectionEvent](evs) >= 2
	})
	if got := count[ErrorEvent](sevs.events()); got != 2 {
		t.Errorf("%d ErrorEvents; want 2, one per panic", got)
	}
	if got := count[ConnectionEvent](sevs.events()); got != 2 {
		t.Errorf("%d ConnectionEvents; want 2", got)
	}
}

// TestSplitPanicIsRecovered: a Framing's Split that panics breaks the
// stream as an error of Split does: the frames before it are delivered,
// then the ErrorEvent (the socket is not destroyed), then the EndEvent.
func TestSplitPanicIsRecovered(t *testing.T) {
	logged := captureLog(t)
	errBoom := errors.New("boom")
	split := func(data []byte, atEOF bool) (int, []byte, error) {
		if len(data) > 0 && data[0] == '!' {
			panic(errBoom)
		}
		if len(data) == 0 {
			return 0, nil, nil
		}
		return 1, data[:1], nil
	}
	_, port, conns := newServer(t, ServerOptions{Flow: Flow{Framing: Framing{Split: split}}})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	r := record(t, s)
	if _, err := io.WriteString(raw, "ab!c"); err != nil {
		t.Fatal(err)
	}
	err := r.waitFor("the split's error", isKind[ErrorEvent]).(ErrorEvent).Err
	checkPanicError(t, err, "Framing's Split", errBoom, logged, "TestSplitPanicIsRecovered")
	raw.Close()
	evs := r.wait()
	if got, want := names(evs), "data error("+err.Error()+") end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if got := string(dataOf(evs)); got != "ab" {
		t.Errorf("frames delivered = %q; want the two before the panic, ab", got)
	}
}

// TestTLSCallbackPanicIsRecovered: a tls.Config callback that panics in
// a server's handshake drops that client (DropEvent, Reason
// "tlsHandshake"); in a client's, the client is destroyed with the error.
func TestTLSCallbackPanicIsRecovered(t *testing.T) {
	logged := captureLog(t)
	errBoom := errors.New("boom")
	cfg := serverTLS(t)
	cert := cfg.Certificates[0]
	cfg.Certificates = nil
	var calls atomic.Int32
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if calls.Add(1) == 1 {
			panic(errBoom)
		}
		return &cert, nil
	}
	srv := createServer(t, ServerOptions{TLSConfig: cfg}, func(c *Socket) { c.Pipe(c) })
	sevs := newEventLog(t, "server events", srv.Events(), nil)
	port := listenTCP(t, srv)

	first, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port, TLSConfig: clientTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	record(t, first).wait() // refused by the handshake
	drop := sevs.waitFor("the drop", isKind[DropEvent]).(DropEvent)
	if drop.Reason != "tlsHandshake" {
		t.Errorf("DropEvent = %+v; want Reason tlsHandshake", drop)
	}
	checkPanicError(t, drop.Err, "a tls.Config callback in the handshake with", errBoom, logged, "TestTLSCallbackPanicIsRecovered")

	client := clientTLS(t)
	client.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { panic(errBoom) }
	c, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port, TLSConfig: client})
	if err != nil {
		t.Fatal(err)
	}
	evs := record(t, c).wait()
	if got := names(evs); !strings.HasSuffix(got, "close(true)") || strings.HasPrefix(got, "connect") {
		t.Errorf("the client's events = %q; want an error and close(true), no connect", got)
	}
	if err := onlyError(t, evs); err != nil {
		checkPanicError(t, err, "a tls.Config callback in the handshake with", errBoom, logged, "TestTLSCallbackPanicIsRecovered")
	}

	ok, rok := connectTLS(t, port)
	ok.End()
	if got, want := names(rok.wait()), "connect end close(false)"; got != want {
		t.Errorf("a later client's events = %q; want %q", got, want)
	}
}

// connectTLS connects a recorded TLS client to 127.0.0.1:port and waits
// for its ConnectEvent.
func connectTLS(t *testing.T, port int) (*Socket, *recorder) {
	t.Helper()
	c, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: port, TLSConfig: clientTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	r.waitFor("connect", isKind[ConnectEvent])
	return c, r
}
