// TLS servers, WrapConn with TLS, and closes that block in the TLS layer.

package nodenet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stdTLSServer serves TLS on 127.0.0.1 with Go's tls.Listen: each accepted
// conn completes its handshake, is wrapped with WrapConn, and handle runs
// with the socket in a goroutine of its own. Cleanup stops accepting,
// destroys the sockets and waits for every goroutine.
func stdTLSServer(t *testing.T, cfg *tls.Config, opts SocketOptions, handle func(*Socket)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		socks   []*Socket
		stopped bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cleanup
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				tc := c.(*tls.Conn)
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				// The handshake first: tls.Conn cannot send close_notify
				// (End's CloseWrite) before it.
				if err := tc.HandshakeContext(ctx); err != nil {
					tc.Close()
					return
				}
				s, err := WrapConn(tc, opts)
				if err != nil {
					t.Errorf("WrapConn(accepted *tls.Conn) = %v", err)
					tc.Close()
					return
				}
				mu.Lock()
				socks = append(socks, s)
				if stopped {
					s.Destroy()
				}
				mu.Unlock()
				handle(s)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		stopped = true
		for _, s := range socks {
			s.Destroy()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// lifeEvents keeps the events that are not data nor drain: the life of
// the connection.
func lifeEvents(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		switch ev.(type) {
		case DataEvent, DrainEvent:
		default:
			out = append(out, ev)
		}
	}
	return out
}

// A TLS echo server made of WrapConn'd *tls.Conns piped into themselves,
// and a WrapConn'd TLS client: the data comes back whole both ways (over a
// MiB exercises the backpressure of both queues), the client's End goes
// through TLS as close_notify and comes back the same way, and both ends
// close cleanly.
func TestWrapConnTLSEcho(t *testing.T) {
	t.Parallel()
	srvCfg, cliCfg := serverTLS(t), clientTLS(t)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"small", 11},
		{"3MiB", 3<<20 + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvEvents := make(chan []Event, 1)
			addr := stdTLSServer(t, srvCfg, SocketOptions{}, func(s *Socket) {
				s.Pipe(s)
				var evs []Event
				for ev := range s.Events() {
					evs = append(evs, ev)
				}
				srvEvents <- lifeEvents(evs)
			})
			raw, err := tls.Dial("tcp", addr, cliCfg)
			if err != nil {
				t.Fatal(err)
			}
			c, err := WrapConn(raw, SocketOptions{})
			if err != nil {
				raw.Close()
				t.Fatalf("WrapConn(*tls.Conn) = %v", err)
			}
			rec := record(t, c)
			payload := randomPayload(t, tc.size)
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(payload)
				if err == nil {
					err = c.End()
				}
				wrote <- err
			}()
			evs := rec.wait()
			if err := recv(t, wrote, "the client's writes"); err != nil {
				t.Fatalf("client Write/End: %v", err)
			}
			got := dataOf(evs)
			if len(got) != len(payload) || sha256.Sum256(got) != sha256.Sum256(payload) {
				t.Errorf("echo: got %d bytes (sha256 %x); want %d bytes (sha256 %x)",
					len(got), sha256.Sum256(got), len(payload), sha256.Sum256(payload))
			}
			if got, want := names(evs), "data end close(false)"; got != want {
				t.Errorf("client events %q; want %q", got, want)
			}
			if got, want := names(recv(t, srvEvents, "the server's events")), "end close(false)"; got != want {
				t.Errorf("server events %q; want %q", got, want)
			}
			if n := c.BytesWritten(); n != int64(tc.size) {
				t.Errorf("client BytesWritten = %d; want %d", n, tc.size)
			}
			if n := c.BytesRead(); n != int64(tc.size) {
				t.Errorf("client BytesRead = %d; want %d", n, tc.size)
			}
		})
	}
}

// Half-close through TLS: the client sends a MiB and ends (close_notify);
// the server, with AllowHalfOpen, sees the end, is still writable, and
// answers with a digest of what it got, then ends too. The client is a
// plain *tls.Conn (CloseWrite, then reading to io.EOF) or a WrapConn'd
// one (End, then events).
func TestWrapConnTLSHalfClose(t *testing.T) {
	t.Parallel()
	srvCfg, cliCfg := serverTLS(t), clientTLS(t)
	payload := randomPayload(t, 1<<20+3)
	reply := fmt.Sprintf("%d %x\n", len(payload), sha256.Sum256(payload))
	for _, tc := range []struct {
		name   string
		client func(t *testing.T, raw *tls.Conn) string // sends payload, ends, returns what came back
	}{
		{"go tls.Conn", func(t *testing.T, raw *tls.Conn) string {
			defer raw.Close()
			if _, err := raw.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := raw.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			return string(readAll(t, raw))
		}},
		{"WrapConn", func(t *testing.T, raw *tls.Conn) string {
			c, err := WrapConn(raw, SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rec := record(t, c)
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := c.End(); err != nil {
				t.Fatal(err)
			}
			evs := rec.wait()
			if got, want := names(evs), "data end close(false)"; got != want {
				t.Errorf("client events %q; want %q", got, want)
			}
			return string(dataOf(evs))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				atEnd string
				life  string
			}
			results := make(chan result, 1)
			addr := stdTLSServer(t, srvCfg, SocketOptions{AllowHalfOpen: true}, func(s *Socket) {
				h := sha256.New()
				n := 0
				var r result
				var evs []Event
				for ev := range s.Events() {
					evs = append(evs, ev)
					switch ev := ev.(type) {
					case DataEvent:
						h.Write(ev.Data)
						n += len(ev.Data)
					case EndEvent:
						r.atEnd = s.ReadyState()
						s.SendString(fmt.Sprintf("%d %x\n", n, h.Sum(nil)), "", nil)
						s.End()
					}
				}
				r.life = names(lifeEvents(evs))
				results <- r
			})
			raw, err := tls.Dial("tcp", addr, cliCfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.client(t, raw); got != reply {
				t.Errorf("client got %q after its end; want %q", got, reply)
			}
			r := recv(t, results, "the server's result")
			if r.atEnd != "writeOnly" {
				t.Errorf("server ReadyState at the client's end = %v; want writeOnly", r.atEnd)
			}
			if want := "end close(false)"; r.life != want {
				t.Errorf("server events %q; want %q", r.life, want)
			}
		})
	}
}

// tls.Conn cannot send close_notify before its handshake: End on a
// wrapped conn whose handshake has not completed (here the server never
// answers) destroys the socket with crypto/tls's error, as WrapConn's
// documentation warns.
func TestWrapConnTLSEndBeforeHandshake(t *testing.T) {
	t.Parallel()
	raw, _ := tcpPair(t) // the accepted end is a silent server: it never answers the ClientHello
	cfg := clientTLS(t)
	cfg.ServerName = "127.0.0.1" // else the handshake fails at once, before it waits for the server
	c, err := WrapConn(tls.Client(raw, cfg), SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, c)
	if err := c.End(); err != nil {
		t.Fatalf("End = %v", err)
	}
	evs := rec.wait()
	if got := names(evs); !strings.HasPrefix(got, "error(") || !strings.HasSuffix(got, " close(true)") {
		t.Errorf("events %q; want an error, then close(true)", got)
	}
	if e, ok := evs[0].(ErrorEvent); !ok || !strings.Contains(fmt.Sprint(errors.Unwrap(e.Err)), "handshake") {
		t.Errorf("first event %v; want an error caused by crypto/tls's complaint about the handshake", evs[0])
	}
}

// tlsDial connects a Go TLS client to 127.0.0.1:port and completes the
// handshake; Cleanup closes it.
func tlsDial(t testing.TB, port int) *tls.Conn {
	t.Helper()
	d := &tls.Dialer{Config: clientTLS(t)}
	c, err := d.DialContext(ctxTimeout(t), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*tls.Conn)
}

// tlsEcho sends msg to an echo server over a new TLS connection, checks
// the echo and closes.
func tlsEcho(t testing.TB, port int, msg string) {
	t.Helper()
	c := tlsDial(t, port)
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("TLS write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("TLS echo = %q, %v; want %q", got, err, msg)
	}
	c.Close()
}

// tlsEchoServer is a TLS echo server (Pipe) on 127.0.0.1 with opts plus
// the test certificate; its events are recorded.
func tlsEchoServer(t testing.TB, opts ServerOptions) (*Server, int, *serverRecorder) {
	t.Helper()
	opts.TLSConfig = serverTLS(t)
	srv := createServer(t, opts, func(s *Socket) { s.Pipe(s) })
	r := recordServer(t, srv)
	return srv, listenTCP(t, srv), r
}

// expectEOF reads c and wants io.EOF with no data: the server closed it.
func expectEOF(t testing.TB, what string, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	n, err := c.Read(make([]byte, 64))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("%s: Read = %d, %v; want 0, EOF", what, n, err)
	}
}

// TestTLSServerRoundTrip: a Go TLS client talks to a TLS server; the
// ConnectionEvent comes with the handshake done, the socket reads and
// writes plaintext (1 MiB through a Pipe echo, checksummed), and
// TLSConnectionState tells the session.
func TestTLSServerRoundTrip(t *testing.T) {
	t.Parallel()
	srv, port, r := tlsEchoServer(t, ServerOptions{})
	c := tlsDial(t, port)
	s := r.waitConnection(1)
	st, ok := s.TLSConnectionState()
	if !ok || !st.HandshakeComplete || st.Version != tls.VersionTLS13 {
		t.Errorf("TLSConnectionState() = complete %v, version %x, %v; want a complete TLS 1.3 session, true", st.HandshakeComplete, st.Version, ok)
	}
	if s.RemotePort() != c.LocalAddr().(*net.TCPAddr).Port {
		t.Errorf("RemotePort() = %d; want the client's port %d", s.RemotePort(), c.LocalAddr().(*net.TCPAddr).Port)
	}

	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go func() {
		c.Write(payload) // the echo is read concurrently below: no deadlock at the marks
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		t.Error("the echo differs from what was sent")
	}
	c.Close()
	waitUntil(t, "the server's socket to close", func() bool { return srv.Connections() == 0 })
	if st := srv.Stats(); st.Accepted != 1 || st.Dropped != 0 || st.Handshaking != 0 {
		t.Errorf("Stats() = %+v; want 1 accepted, none dropped or handshaking", st)
	}
	if _, ok := (&Socket{c: &conn{}}).TLSConnectionState(); ok {
		t.Error("TLSConnectionState() of a socket without a connection reports TLS")
	}
}

// TestTLSHandshakeOffTheAcceptLoop: a client that opens a TCP connection
// and sends part of a record, then nothing, stays in its handshake (it
// counts in Stats and Connections) while other clients are accepted and
// served; Close then closes it at once, without a DropEvent.
func TestTLSHandshakeOffTheAcceptLoop(t *testing.T) {
	srv, port, r := tlsEchoServer(t, ServerOptions{HandshakeTimeout: time.Hour})
	stalled := dialRaw(t, port)
	if _, err := stalled.Write([]byte{0x16, 0x03, 0x01}); err != nil { // a record header, cut short
		t.Fatal(err)
	}
	waitUntil(t, "the stalled client in its handshake", func() bool { return srv.Stats().Handshaking == 1 })
	for i := range 3 {
		tlsEcho(t, port, fmt.Sprintf("client %d", i))
	}
	if st := srv.Stats(); st.Handshaking != 1 || st.Accepted != 3 {
		t.Errorf("Stats() after 3 clients served = %+v; want 3 accepted, the stalled one still handshaking", st)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, "the stalled client after Close", stalled)
	if got, want := names(r.wait()), "listening connection connection connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Handshaking != 0 || srv.Connections() != 0 {
		t.Errorf("Stats() after Close = %+v; want 1 dropped, none handshaking or active", st)
	}
}

// TestTLSHandshakeTimeout: a client that opens a TCP connection and never
// handshakes is closed at HandshakeTimeout (not before) with a DropEvent
// "tlsHandshake" whose Err is ERR_TLS_HANDSHAKE_TIMEOUT; another client is
// served meanwhile; ConnState never hears of the dropped one.
func TestTLSHandshakeTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	var mu sync.Mutex
	var opened int
	srv, port, r := tlsEchoServer(t, ServerOptions{
		HandshakeTimeout: timeout,
		ConnState: func(_ *Socket, open bool) {
			mu.Lock()
			defer mu.Unlock()
			if open {
				opened++
			}
		},
	})
	start := time.Now()
	stalled := dialRaw(t, port)
	tlsEcho(t, port, "served meanwhile")
	drop := r.waitFor("drop", isKind[DropEvent]).(DropEvent)
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("the stalled client was dropped after %v; want at least HandshakeTimeout, %v", elapsed, timeout)
	}
	if drop.Reason != "tlsHandshake" || drop.Remote.Port != stalled.LocalAddr().(*net.TCPAddr).Port || drop.Local.Port != port {
		t.Errorf("DropEvent = %+v; want Reason tlsHandshake, the stalled client's address", drop)
	}
	checkCode(t, "DropEvent.Err", drop.Err, "ERR_TLS_HANDSHAKE_TIMEOUT")
	if !errors.Is(drop.Err, os.ErrDeadlineExceeded) {
		t.Errorf("errors.Is(DropEvent.Err, os.ErrDeadlineExceeded) = false for %v", drop.Err)
	}
	expectEOF(t, "the stalled client", stalled)
	if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 1 || st.Handshaking != 0 {
		t.Errorf("Stats() = %+v; want 1 dropped, 1 accepted, none handshaking", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if opened != 1 {
		t.Errorf("ConnState(s, true) called %d times; want 1 (the served client only)", opened)
	}
}

// TestTLSHandshakeFailures: what a client does wrong reaches the server as
// a DropEvent "tlsHandshake" with a reason, and the server goes on.
func TestTLSHandshakeFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client func(t *testing.T, port int)
		code   string
	}{
		{"plaintext", func(t *testing.T, port int) {
			c := dialRaw(t, port)
			io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
			readAll(t, c) // the server's alert, then its close
		}, "EPROTO"},
		{"untrusting client", func(t *testing.T, port int) {
			d := &tls.Dialer{Config: &tls.Config{RootCAs: x509.NewCertPool()}}
			if c, err := d.DialContext(ctxTimeout(t), "tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				t.Error("a client that does not trust the certificate completed the handshake")
			}
		}, "EPROTO"},
		{"client leaves", func(t *testing.T, port int) {
			dialRaw(t, port).Close()
		}, "ECONNRESET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, port, r := tlsEchoServer(t, ServerOptions{})
			tt.client(t, port)
			drop := r.waitFor("drop", isKind[DropEvent]).(DropEvent)
			if drop.Reason != "tlsHandshake" {
				t.Errorf("DropEvent = %+v; want Reason tlsHandshake", drop)
			}
			checkCode(t, "DropEvent.Err", drop.Err, tt.code)
			tlsEcho(t, port, "still serving")
			if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 1 {
				t.Errorf("Stats() = %+v; want 1 dropped, 1 accepted", st)
			}
		})
	}
}

// TestTLSServerBlockList: a blocked client is dropped before any
// handshake (Reason "blockList", no Err, nothing in Handshaking).
func TestTLSServerBlockList(t *testing.T) {
	t.Parallel()
	bl := new(BlockList)
	if err := bl.AddAddress("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	srv, port, r := tlsEchoServer(t, ServerOptions{BlockList: bl})
	d := &tls.Dialer{Config: clientTLS(t)}
	if c, err := d.DialContext(ctxTimeout(t), "tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Error("a blocked client completed its handshake")
	}
	drop := r.waitFor("drop", isKind[DropEvent]).(DropEvent)
	if drop.Reason != "blockList" || drop.Err != nil {
		t.Errorf("DropEvent = %+v; want Reason blockList, no Err", drop)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 0 || st.Handshaking != 0 {
		t.Errorf("Stats() = %+v; want 1 dropped, none accepted or handshaking", st)
	}
}

// TestTLSServerConnectionLimit: a connection in its handshake holds a
// slot of SetMaxConnections: over the limit the next client is dropped;
// once the first has handshaken it still holds the slot; once it closes,
// a new client is served.
func TestTLSServerConnectionLimit(t *testing.T) {
	t.Parallel()
	srv, port, r := tlsEchoServer(t, ServerOptions{HandshakeTimeout: time.Hour})
	if err := srv.SetMaxConnections(1); err != nil {
		t.Fatal(err)
	}
	first := dialRaw(t, port)
	waitUntil(t, "the first client in its handshake", func() bool { return srv.Stats().Handshaking == 1 })
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() with one client in its handshake = %d; want 1", got)
	}
	d := &tls.Dialer{Config: clientTLS(t)}
	over := func(what string) {
		t.Helper()
		c, err := d.DialContext(ctxTimeout(t), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			// TLS 1.3: the client may finish before it reads the close.
			c.SetReadDeadline(time.Now().Add(testTimeout))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: served; want dropped", what)
		}
	}
	over("a client while the first handshakes")
	r.waitFor("drop", isKind[DropEvent])

	cfg := clientTLS(t)
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(first, cfg)
	if err := tc.HandshakeContext(ctxTimeout(t)); err != nil {
		t.Fatalf("the first client's handshake: %v", err)
	}
	r.waitConnection(1)
	over("a client while the first is open")
	waitUntil(t, "the second drop", func() bool { return srv.Stats().Dropped == 2 })
	for _, ev := range r.events() {
		if d, ok := ev.(DropEvent); ok && d.Reason != "maxConnections" {
			t.Errorf("DropEvent = %+v; want Reason maxConnections", d)
		}
	}
	tc.Close()
	waitUntil(t, "the first client's socket to close", func() bool { return srv.Connections() == 0 })
	tlsEcho(t, port, "room again")
}

// TestTLSServerShutdown: Shutdown closes the connection still in its
// handshake at once, sends the established one its ShutdownEvent (its
// goodbye and close_notify reach the client), ends an idle Pipe echo
// (close_notify), and returns once they have closed; ConnState saw the
// established ones only.
func TestTLSServerShutdown(t *testing.T) {
	var mu sync.Mutex
	var states []string
	srv := createServer(t, ServerOptions{
		TLSConfig:        serverTLS(t),
		HandshakeTimeout: time.Hour,
		ConnState: func(_ *Socket, open bool) {
			mu.Lock()
			states = append(states, map[bool]string{true: "open", false: "closed"}[open])
			mu.Unlock()
		},
	}, func(s *Socket) {
		for ev := range s.Events() {
			if _, ok := ev.(ShutdownEvent); ok {
				s.EndString("bye\n", "")
			}
		}
	})
	r := recordServer(t, srv)
	port := listenTCP(t, srv)

	busy := tlsDial(t, port)
	r.waitConnection(1)
	stalled := dialRaw(t, port)
	waitUntil(t, "the stalled client in its handshake", func() bool { return srv.Stats().Handshaking == 1 })

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctxTimeout(t)) }()
	expectEOF(t, "the client in its handshake", stalled)
	got, err := io.ReadAll(busy) // ends at close_notify
	if err != nil || string(got) != "bye\n" {
		t.Errorf("the established client read %q, %v; want %q, then the end", got, err, "bye\n")
	}
	busy.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown = %v; want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return after the clients closed")
	}
	if st := srv.Stats(); st.Accepted != 1 || st.Dropped != 1 || st.Forced != 0 || srv.Connections() != 0 || st.Handshaking != 0 {
		t.Errorf("Stats() = %+v; want 1 accepted, 1 dropped, none forced, active or handshaking", st)
	}
	if got, want := names(r.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(states, " "), "open closed"; got != want {
		t.Errorf("ConnState calls = %q; want %q", got, want)
	}
}

// TestTLSServerShutdownIdleAndForced: Shutdown ends an idle TLS Pipe echo
// (its client reads close_notify, and the Shutdown returns once it has
// closed), and destroys at its deadline a connection whose program
// ignores the ShutdownEvent.
func TestTLSServerShutdownIdleAndForced(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		srv, port, _ := tlsEchoServer(t, ServerOptions{})
		c := tlsDial(t, port)
		waitUntil(t, "the connection open", func() bool { return srv.Stats().Accepted == 1 })
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(ctxTimeout(t)) }()
		if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
			t.Errorf("the idle client read %q, %v; want the end (close_notify), nothing else", got, err)
		}
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Shutdown = %v; want nil", err)
		}
	})
	t.Run("forced", func(t *testing.T) {
		srv := createServer(t, ServerOptions{TLSConfig: serverTLS(t)}, func(s *Socket) {
			for range s.Events() { // consumed, never ended
			}
		})
		recordServer(t, srv)
		port := listenTCP(t, srv)
		c := tlsDial(t, port)
		waitUntil(t, "the connection open", func() bool { return srv.Stats().Accepted == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var fe *ForcedError
		if err := srv.Shutdown(ctx); !errors.As(err, &fe) || fe.Forced != 1 {
			t.Errorf("Shutdown = %v; want a *ForcedError with Forced 1", err)
		}
		if _, err := io.ReadAll(c); err != nil { // the destroyed socket's close
			t.Errorf("the client's read after the forced close: %v", err)
		}
	})
}

// TestTLSServerOpenSSL: openssl s_client, verifying the certificate,
// talks to a TLS server: its line is answered and the server's End
// (close_notify, then the FIN) ends the s_client.
func TestTLSServerOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: the s_client round trip is not run")
	}
	srv := createServer(t, ServerOptions{TLSConfig: serverTLS(t)}, func(s *Socket) {
		s.SetEncoding("utf8")
		var line strings.Builder
		for ev := range s.Events() {
			if d, ok := ev.(DataEvent); ok {
				line.WriteString(d.Text)
				if strings.HasSuffix(line.String(), "\n") {
					s.EndString("pong: "+line.String(), "")
				}
			}
		}
	})
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsCert(t).Certificate[0]})
	if err := os.WriteFile(caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctxTimeout(t), openssl, "s_client", "-quiet", "-verify_return_error",
		"-CAfile", caFile, "-connect", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Stdin = strings.NewReader("ping\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, stderr.String())
	}
	if got, want := string(out), "pong: ping\n"; got != want {
		t.Errorf("s_client printed %q; want %q\nstderr: %s", got, want, stderr.String())
	}
	r.waitConnection(1)
	waitUntil(t, "the server's socket to close", func() bool { return srv.Connections() == 0 })
	if st := srv.Stats(); st.Dropped != 0 {
		t.Errorf("Stats() = %+v; want nothing dropped", st)
	}
}

// TestTLSServerUnix: a TLS server on a Unix socket, and a client through
// ConnectOptions{Path, TLSConfig} with the ServerName it must give.
func TestTLSServerUnix(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{TLSConfig: serverTLS(t)}, func(s *Socket) { s.Pipe(s) })
	recordServer(t, srv)
	path := listenUnix(t, srv)
	cfg := clientTLS(t)
	cfg.ServerName = "localhost"
	c := connectSocket(t, ConnectOptions{Path: path, TLSConfig: cfg})
	r := record(t, c)
	c.EndString("over a Unix socket", "")
	checkEventsAndData(t, "the client", r.wait(), "connect data end close(false)", "over a Unix socket")
}

// TestTLSBadOptions: bad TLS options are errors wrapping
// ErrInvalidArgument, never a panic.
func TestTLSBadOptions(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]ServerOptions{
		"negative HandshakeTimeout": {TLSConfig: serverTLS(t), HandshakeTimeout: -time.Second},
		"no certificate":            {TLSConfig: &tls.Config{}},
	} {
		if srv, err := CreateServer(opts, nil); !errors.Is(err, ErrInvalidArgument) || srv != nil {
			t.Errorf("%s: CreateServer = %v, %v; want nil, an error wrapping ErrInvalidArgument", name, srv, err)
		}
	}
	s, err := Connect(ConnectOptions{Path: "/nonexistent", TLSConfig: &tls.Config{}})
	if !errors.Is(err, ErrInvalidArgument) {
		if s != nil {
			s.Destroy()
		}
		t.Errorf("Connect over a Unix socket without ServerName = %v; want an error wrapping ErrInvalidArgument", err)
	}
}

// batchConn, once batching, holds what is written to it until flush,
// which sends it to the conn under it in one write: many TLS records then
// reach the peer together, and its TLS reader holds several of them at
// once. Before, it writes through (the handshake). One goroutine uses it.
type batchConn struct {
	net.Conn
	batching bool
	buf      bytes.Buffer
}

func (c *batchConn) Write(p []byte) (int, error) {
	if !c.batching {
		return c.Conn.Write(p)
	}
	return c.buf.Write(p)
}

// TestTLSManyRecordsAtOnce: a TLS socket that receives many small records
// in one burst, close_notify right behind them, delivers every byte in
// order and then the end (a read takes the records tls.Conn already holds,
// and the close_notify among them, without waiting: read.go).
func TestTLSManyRecordsAtOnce(t *testing.T) {
	t.Parallel()
	_, r, port := recordedServer(t, ServerOptions{TLSConfig: serverTLS(t)})
	cfg := clientTLS(t)
	cfg.ServerName = "127.0.0.1"
	bc := &batchConn{Conn: dialRaw(t, port)}
	tc := tls.Client(bc, cfg)
	if err := tc.HandshakeContext(ctxTimeout(t)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	sr := record(t, r.waitConnection(1))

	bc.batching = true
	var want bytes.Buffer
	for i := range 500 {
		rec := fmt.Sprintf("record %03d of a burst of 500 small TLS records\n", i)
		want.WriteString(rec)
		if _, err := io.WriteString(tc, rec); err != nil { // one record each
			t.Fatal(err)
		}
	}
	if err := tc.CloseWrite(); err != nil { // close_notify, right behind
		t.Fatal(err)
	}
	// CloseWrite set the write deadline to now (no TLS write after it);
	// the socket reads meanwhile.
	bc.Conn.SetWriteDeadline(time.Time{})
	if _, err := bc.Conn.Write(bc.buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	sr.waitFor("end", isKind[EndEvent])
	if got := dataOf(sr.events()); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("the socket read %d bytes; want the %d sent, in order", len(got), want.Len())
	}
	sr.s.End()
	if got, want := names(sr.wait()), "data end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// slowCloseConn is a conn without a descriptor whose Close and CloseWrite
// block until release is closed, as a *tls.Conn's do while close_notify
// waits on a peer that does not read (crypto/tls allows that 5 seconds).
type slowCloseConn struct {
	net.Conn
	release chan struct{}
	closing chan struct{} // 1-buffered: Close or CloseWrite has begun
}

func (c *slowCloseConn) Close() error {
	c.began()
	<-c.release
	return c.Conn.Close()
}

func (c *slowCloseConn) CloseWrite() error {
	c.began()
	<-c.release
	return nil
}

func (c *slowCloseConn) began() {
	select {
	case c.closing <- struct{}{}:
	default:
	}
}

func newSlowCloseSocket(t *testing.T) (*Socket, *slowCloseConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	c := &slowCloseConn{Conn: a, release: make(chan struct{}), closing: make(chan struct{}, 1)}
	s, err := WrapConn(c, SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, b
}

// TestSlowCloseDestroyDoesNotWait: Destroy of a socket whose conn takes
// long to close (TLS) returns at once; the CloseEvent waits for the close.
func TestSlowCloseDestroyDoesNotWait(t *testing.T) {
	s, c, _ := newSlowCloseSocket(t)
	r := record(t, s)
	done := make(chan struct{})
	go func() { s.Destroy(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("Destroy waited for the conn's Close")
	}
	<-c.closing
	if got := s.BufferSize(); got != 0 { // the lock is free meanwhile
		t.Errorf("BufferSize() = %d while the conn closes; want 0", got)
	}
	if got := names(r.events()); got != "" {
		t.Errorf("events before the conn has closed = %q; want none", got)
	}
	close(c.release)
	if got := names(r.wait()); got != "close(false)" {
		t.Errorf("events = %q; want %q", got, "close(false)")
	}
}

// TestSlowCloseEndDoesNotBlockTheSocket: End's CloseWrite on such a conn
// runs without the socket's lock: End returns, and other methods answer
// while it waits.
func TestSlowCloseEndDoesNotBlockTheSocket(t *testing.T) {
	t.Parallel()
	s, c, peer := newSlowCloseSocket(t)
	r := record(t, s)
	go func() { // the peer reads what comes
		buf := make([]byte, 512)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := s.EndString("bye", ""); err != nil {
		t.Fatal(err)
	}
	<-c.closing // CloseWrite has begun, and blocks
	if got := s.ReadyState(); got != "readOnly" {
		t.Errorf("ReadyState() while CloseWrite waits = %v; want %v", got, "readOnly")
	}
	s.Destroy() // returns though CloseWrite still waits
	close(c.release)
	if got := names(r.wait()); got != "close(false)" {
		t.Errorf("events = %q; want %q", got, "close(false)")
	}
}
