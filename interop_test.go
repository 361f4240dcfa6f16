package nodenet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tests of WrapConn, NetConn and Proxy: nodenet with the rest of Go's
// networking, both ways. Helpers are prefixed ic (interop) to keep them
// apart from the other test files'.

// icTLSConfigs makes a self-signed ECDSA certificate valid for 127.0.0.1
// and ::1, and returns a server config that presents it and a client
// config that trusts it alone.
func icTLSConfigs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nodenet interop test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	client = &tls.Config{RootCAs: roots}
	return server, client
}

// icTLSServer serves TLS on 127.0.0.1 with Go's tls.Listen: each accepted
// conn completes its handshake, is wrapped with WrapConn, and handle runs
// with the socket in a goroutine of its own. Cleanup stops accepting,
// destroys the sockets and waits for every goroutine.
func icTLSServer(t *testing.T, cfg *tls.Config, opts SocketOptions, handle func(*Socket)) string {
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

func icPayload(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// icWaitDone waits until s's connection has closed and reports whether it
// was destroyed (by Destroy or an error) rather than closed gracefully.
func icWaitDone(t testing.TB, s *Socket, what string) (destroyed bool) {
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

// icRecv receives one value from ch within the test timeout.
func icRecv[T any](t testing.TB, ch <-chan T, what string) T {
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
	srvCfg, cliCfg := icTLSConfigs(t)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"small", 11},
		{"3MiB", 3<<20 + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvEvents := make(chan []Event, 1)
			addr := icTLSServer(t, srvCfg, SocketOptions{}, func(s *Socket) {
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
			payload := icPayload(t, tc.size)
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(payload)
				if err == nil {
					err = c.End()
				}
				wrote <- err
			}()
			evs := rec.wait()
			if err := icRecv(t, wrote, "the client's writes"); err != nil {
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
			if got, want := names(icRecv(t, srvEvents, "the server's events")), "end close(false)"; got != want {
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
	srvCfg, cliCfg := icTLSConfigs(t)
	payload := icPayload(t, 1<<20+3)
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
				atEnd ReadyState
				life  string
			}
			results := make(chan result, 1)
			addr := icTLSServer(t, srvCfg, SocketOptions{AllowHalfOpen: true}, func(s *Socket) {
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
			r := icRecv(t, results, "the server's result")
			if r.atEnd != StateWriteOnly {
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
	_, cliCfg := icTLSConfigs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c // a silent server: it never answers the ClientHello
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if peer := icRecv(t, accepted, "the accepted conn"); peer != nil {
		defer peer.Close()
	}
	cfg := cliCfg.Clone()
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

// WrapConn works on Go's stream conns with descriptors too (the direct
// write path), over IPv4, IPv6 and a Unix socket; End sends a FIN.
func TestWrapConnStreamConns(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", ""},
	} {
		t.Run(tc.network, func(t *testing.T) {
			addr := tc.addr
			if tc.network == "unix" {
				addr = filepath.Join(t.TempDir(), "wrap.sock")
			}
			ln, err := net.Listen(tc.network, addr)
			if err != nil {
				if tc.network == "tcp6" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}()
			conn, err := net.Dial(tc.network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			peer := icRecv(t, accepted, "the accepted conn")
			if peer == nil {
				t.Fatal("accept failed")
			}
			defer peer.Close()
			s, err := WrapConn(conn, SocketOptions{})
			if err != nil {
				conn.Close()
				t.Fatal(err)
			}
			if tc.network != "unix" {
				if got, want := s.RemotePort(), peer.LocalAddr().(*net.TCPAddr).Port; got != want {
					t.Errorf("RemotePort = %d; want %d", got, want)
				}
			}
			rec := record(t, s)
			if _, err := s.SendString("from nodenet", "", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := peer.Write([]byte("from go")); err != nil {
				t.Fatal(err)
			}
			if err := peer.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			// Without AllowHalfOpen the socket ends its side after the
			// peer's end: the peer reads to EOF.
			if got := string(readAll(t, peer)); got != "from nodenet" {
				t.Errorf("peer got %q; want %q", got, "from nodenet")
			}
			evs := rec.wait()
			if got, want := names(evs), "data end close(false)"; got != want {
				t.Errorf("events %q; want %q", got, want)
			}
			if got := string(dataOf(evs)); got != "from go" {
				t.Errorf("socket got %q; want %q", got, "from go")
			}
		})
	}
}

// net.Pipe has no CloseWrite, so it cannot half-close: End stops this
// side's writes but tells the peer nothing, and this side still reads;
// the peer hears the end only when the connection closes.
func TestWrapConnPipe(t *testing.T) {
	ca, cb := net.Pipe()
	a, err := WrapConn(ca, SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := WrapConn(cb, SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := record(t, a), record(t, b)
	if _, err := a.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	rb.waitData(4)
	if _, err := b.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	ra.waitData(4)

	if err := a.End(); err != nil {
		t.Fatalf("End on a net.Pipe socket = %v", err)
	}
	if _, err := a.Send([]byte("x"), nil); !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("Send after End = %v; want ErrWriteAfterEnd", err)
	}
	if st := a.ReadyState(); st != StateReadOnly {
		t.Errorf("ReadyState after End = %v; want readOnly", st)
	}
	if _, err := b.Write([]byte(" after end")); err != nil {
		t.Fatalf("peer Write after End = %v", err)
	}
	if got := string(ra.waitData(14)); got != "pong after end" {
		t.Errorf("a read %q; want %q", got, "pong after end")
	}
	for _, ev := range rb.events() {
		if _, ok := ev.(EndEvent); ok {
			t.Error("b got an EndEvent through net.Pipe, which cannot half-close")
		}
	}

	a.Destroy()
	if got, want := names(ra.wait()), "data error(write after end) data close(false)"; got != want {
		t.Errorf("a's events %q; want %q", got, want)
	}
	evs := rb.wait()
	if got, want := names(evs), "data end close(false)"; got != want {
		t.Errorf("b's events %q; want %q", got, want)
	}
	if got := string(dataOf(evs)); got != "ping" {
		t.Errorf("b read %q; want %q", got, "ping")
	}
}

// Bad arguments are errors wrapping ErrInvalidArgument, never a panic, and
// leave the conn open and the caller's.
func TestWrapConnBadArguments(t *testing.T) {
	pc, pp := net.Pipe()
	defer pc.Close()
	defer pp.Close()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		name string
		conn net.Conn
		opts SocketOptions
	}{
		{"nil conn", nil, SocketOptions{}},
		{"typed nil *net.TCPConn", (*net.TCPConn)(nil), SocketOptions{}},
		{"typed nil *tls.Conn", (*tls.Conn)(nil), SocketOptions{}},
		{"FD set", pc, SocketOptions{FD: f}},
		{"Type set", pc, SocketOptions{Type: "tcp"}},
		{"negative HighWaterMark", pc, SocketOptions{Flow: Flow{HighWaterMark: -1}}},
		{"negative MaxBufferSize", pc, SocketOptions{Flow: Flow{MaxBufferSize: -1}}},
		{"LowWaterMark not below HighWaterMark", pc, SocketOptions{Flow: Flow{HighWaterMark: 10, LowWaterMark: 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := WrapConn(tc.conn, tc.opts)
			if s != nil || !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("WrapConn = %v, %v; want nil and an ErrInvalidArgument", s, err)
			}
		})
	}
	if err := pc.SetDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Errorf("the conn was closed by a failed WrapConn: %v", err)
	}
}

// icNetConn gives the NetConn view of a client socket and its raw peer.
func icNetConn(t *testing.T, opts ConnectOptions) (net.Conn, *Socket, *net.TCPConn) {
	t.Helper()
	s, peer := rawPair(t, opts)
	nc := s.NetConn()
	t.Cleanup(func() { nc.Close() })
	return nc, s, peer
}

func icIsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// bufio over the view: lines, then io.EOF at the peer's end, and again
// after. A write after it fails with EPIPE, as Node's rule says, unless
// the socket allows half-open; then the reply goes out and CloseWrite
// ends it.
func TestNetConnBufio(t *testing.T) {
	for _, halfOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowHalfOpen=%v", halfOpen), func(t *testing.T) {
			nc, _, peer := icNetConn(t, ConnectOptions{AllowHalfOpen: halfOpen})
			if _, err := peer.Write([]byte("line one\nline two\n")); err != nil {
				t.Fatal(err)
			}
			peer.CloseWrite()
			br := bufio.NewReader(nc)
			for _, want := range []string{"line one\n", "line two\n"} {
				if got, err := br.ReadString('\n'); got != want || err != nil {
					t.Fatalf("ReadString = %q, %v; want %q, nil", got, err, want)
				}
			}
			if got, err := br.ReadString('\n'); got != "" || err != io.EOF {
				t.Fatalf("ReadString at the end = %q, %v; want io.EOF", got, err)
			}
			if n, err := nc.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Fatalf("Read after io.EOF = %d, %v; want io.EOF again", n, err)
			}
			_, err := nc.Write([]byte("reply\n"))
			if !halfOpen {
				if !errors.Is(err, syscall.EPIPE) {
					t.Errorf("Write after the peer's end = %v; want EPIPE", err)
				}
				if got := readAll(t, peer); len(got) != 0 {
					t.Errorf("peer got %q; want nothing", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Write after the peer's end with AllowHalfOpen = %v", err)
			}
			if err := nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if got := string(readAll(t, peer)); got != "reply\n" {
				t.Errorf("peer got %q; want %q", got, "reply\n")
			}
		})
	}
}

// io.Copy(nc, nc) is an echo; a MiB comes back whole.
func TestNetConnIOCopyEcho(t *testing.T) {
	nc, _, peer := icNetConn(t, ConnectOptions{})
	echoed := make(chan error, 1)
	go func() {
		_, err := io.Copy(nc, nc)
		if err == nil {
			err = nc.(interface{ CloseWrite() error }).CloseWrite()
		}
		echoed <- err
	}()
	payload := icPayload(t, 1<<20+5)
	sent := make(chan error, 1)
	go func() {
		_, err := peer.Write(payload)
		if err == nil {
			err = peer.CloseWrite()
		}
		sent <- err
	}()
	got := readAll(t, peer)
	if !bytes.Equal(got, payload) {
		t.Errorf("echo: got %d bytes; want the %d sent", len(got), len(payload))
	}
	if err := icRecv(t, sent, "the peer's writes"); err != nil {
		t.Fatal(err)
	}
	if err := icRecv(t, echoed, "io.Copy"); err != nil {
		t.Errorf("io.Copy(nc, nc) = %v", err)
	}
}

// With an encoding set, Read returns the text's bytes; what does not fit
// in p comes at the next Read.
func TestNetConnEncoding(t *testing.T) {
	nc, s, peer := icNetConn(t, ConnectOptions{})
	if err := s.SetEncoding("hex"); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte{0xca, 0xfe}); err != nil {
		t.Fatal(err)
	}
	var got []byte
	p := make([]byte, 3)
	for len(got) < 4 {
		n, err := nc.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p[:n]...)
	}
	if string(got) != "cafe" {
		t.Errorf("read %q; want %q", got, "cafe")
	}
}

// Read deadlines: a past one fails at once, the zero time clears it, and
// a Read already blocked is released by a deadline set from another
// goroutine, losing nothing.
func TestNetConnReadDeadline(t *testing.T) {
	nc, s, peer := icNetConn(t, ConnectOptions{})
	buf := make([]byte, 16)

	nc.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Read(buf); n != 0 || !icIsTimeout(err) {
		t.Fatalf("Read past its deadline = %d, %v; want a timeout", n, err)
	}
	nc.SetReadDeadline(time.Time{})
	peer.Write([]byte("x"))
	if n, err := nc.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read after clearing the deadline = %d, %v; want 1, nil", n, err)
	}

	nc.SetReadDeadline(time.Now().Add(time.Hour))
	res := make(chan error, 1)
	go func() {
		_, err := nc.Read(buf)
		res <- err
	}()
	waitUntil(t, "the Read to subscribe", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.c.out.subscribed()
	})
	nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if err := icRecv(t, res, "the blocked Read"); !icIsTimeout(err) {
		t.Fatalf("blocked Read after a new deadline = %v; want a timeout", err)
	}
	nc.SetReadDeadline(time.Time{})
	peer.Write([]byte("late"))
	if got, err := io.ReadAll(io.LimitReader(nc, 4)); string(got) != "late" || err != nil {
		t.Errorf("Read after the timeout = %q, %v; want %q", got, err, "late")
	}
}

// Write deadlines: a past one fails at once; a Write blocked by
// backpressure (the peer reads nothing) is released by a deadline set
// meanwhile, and reports exactly what it queued: every byte counted as
// written reaches the peer.
func TestNetConnWriteDeadline(t *testing.T) {
	nc, s, peer := icNetConn(t, ConnectOptions{})
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Write([]byte("x")); n != 0 || !icIsTimeout(err) {
		t.Fatalf("Write past its deadline = %d, %v; want 0 and a timeout", n, err)
	}
	nc.SetWriteDeadline(time.Now().Add(time.Hour))
	var written atomic.Int64
	res := make(chan error, 1)
	go func() {
		chunk := make([]byte, 256<<10)
		for {
			n, err := nc.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				res <- err
				return
			}
		}
	}()
	// Write queues up to the mark, then blocks: wait for it to block.
	waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
	nc.SetWriteDeadline(time.Now())
	if err := icRecv(t, res, "the blocked Write"); !icIsTimeout(err) {
		t.Fatalf("blocked Write after a new deadline = %v; want a timeout", err)
	}
	// The peer reads now, so the queue drains and a Write goes in again.
	type count struct {
		n   int64
		err error
	}
	counted := make(chan count, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(testTimeout))
		n, err := io.Copy(io.Discard, peer)
		counted <- count{n, err}
	}()
	nc.SetWriteDeadline(time.Time{})
	if _, err := nc.Write([]byte("tail")); err != nil {
		t.Fatalf("Write after clearing the deadline = %v", err)
	}
	want := written.Load() + 4
	nc.Close() // flushes what was queued, then closes
	if c := icRecv(t, counted, "the peer's reads"); c.err != nil || c.n != want {
		t.Errorf("peer read %d bytes, %v; want %d (everything Write reported)", c.n, c.err, want)
	}
}

// Close: nil, then net.ErrClosed; it releases a blocked Read and a blocked
// Write; what Write queued still reaches the peer before the socket is
// destroyed.
func TestNetConnClose(t *testing.T) {
	nc, s, peer := icNetConn(t, ConnectOptions{})
	readRes := make(chan error, 1)
	go func() {
		_, err := nc.Read(make([]byte, 8))
		readRes <- err
	}()
	var written atomic.Int64
	writeRes := make(chan error, 1)
	go func() {
		chunk := make([]byte, 256<<10)
		for {
			n, err := nc.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				writeRes <- err
				return
			}
		}
	}()
	waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
	if err := nc.Close(); err != nil {
		t.Fatalf("Close = %v; want nil", err)
	}
	if err := icRecv(t, readRes, "the blocked Read"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("blocked Read at Close = %v; want net.ErrClosed", err)
	}
	if err := icRecv(t, writeRes, "the blocked Write"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("blocked Write at Close = %v; want net.ErrClosed", err)
	}
	for name, err := range map[string]error{
		"Close":       nc.Close(),
		"Read":        func() error { _, err := nc.Read(make([]byte, 1)); return err }(),
		"Write":       func() error { _, err := nc.Write([]byte("x")); return err }(),
		"SetDeadline": nc.SetDeadline(time.Now()),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close = %v; want net.ErrClosed", name, err)
		}
	}
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	n, err := io.Copy(io.Discard, peer)
	if err != nil || n != written.Load() {
		t.Errorf("peer read %d bytes, %v; want the %d written, then EOF", n, err, written.Load())
	}
	if !icWaitDone(t, s, "the socket") {
		t.Error("Close closed the socket gracefully; want it destroyed")
	}
}

// Close with nothing queued destroys the socket at once: the peer sees
// the end.
func TestNetConnCloseIdle(t *testing.T) {
	nc, s, peer := icNetConn(t, ConnectOptions{})
	if _, err := nc.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "bye" {
		t.Fatalf("peer got %q, %v; want %q", got, err, "bye")
	}
	nc.Close()
	if !icWaitDone(t, s, "the socket") {
		t.Error("want the socket destroyed")
	}
	if got := readAll(t, peer); len(got) != 0 {
		t.Errorf("peer got %q after Close; want EOF", got)
	}
}

// The peer's reset is Read's error, every time.
func TestNetConnPeerReset(t *testing.T) {
	nc, _, peer := icNetConn(t, ConnectOptions{})
	peer.SetLinger(0)
	peer.Close()
	for i := range 2 {
		if _, err := nc.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Read %d after the peer's reset = %v; want ECONNRESET", i, err)
		}
	}
}

// The addresses are the connection's; a socket without one gives an empty
// address, not nil.
func TestNetConnAddrs(t *testing.T) {
	nc, _, peer := icNetConn(t, ConnectOptions{})
	// A Read makes sure the connection is up (Connect returns at once).
	peer.Write([]byte("x"))
	if _, err := nc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if got, want := nc.LocalAddr().String(), peer.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr = %s; want %s", got, want)
	}
	if got, want := nc.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr = %s; want %s", got, want)
	}
	if nc.LocalAddr().Network() != "tcp" {
		t.Errorf("LocalAddr().Network() = %q; want tcp", nc.LocalAddr().Network())
	}

	idle, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inc := idle.NetConn()
	if a := inc.LocalAddr(); a == nil || a.String() != "" {
		t.Errorf("LocalAddr of an unconnected socket = %v; want an empty address", a)
	}
	if a := inc.RemoteAddr(); a == nil || a.String() != "" {
		t.Errorf("RemoteAddr of an unconnected socket = %v; want an empty address", a)
	}
	if err := inc.Close(); err != nil {
		t.Errorf("Close of an unconnected socket's view = %v", err)
	}
	if c := (*Socket)(nil).NetConn(); c != nil {
		t.Errorf("NetConn of a nil socket = %v; want nil", c)
	}
}

// icOneConn is a net.Listener that yields one conn, then waits for Close.
type icOneConn struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *icOneConn) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *icOneConn) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *icOneConn) Addr() net.Addr { return l.addr }

// net/http serves a request on a nodenet socket through its view: bufio,
// the server's background read released by a past deadline, a response
// written and the conn closed.
func TestNetConnHTTP(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	body := icPayload(t, 256<<10)
	type result struct {
		status int
		got    []byte
		from   string
		err    error
	}
	results := make(chan result, 1)
	go func() {
		resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/echo", port), "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			results <- result{err: err}
			return
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		results <- result{resp.StatusCode, got, resp.Header.Get("X-Remote"), err}
	}()

	s := accept(t, conns)
	nc := s.NetConn()
	ln := &icOneConn{ch: make(chan net.Conn, 1), done: make(chan struct{}), addr: nc.LocalAddr()}
	ln.ch <- nc
	closed := make(chan struct{})
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Remote", r.RemoteAddr)
			w.Write(b)
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				close(closed)
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	r := icRecv(t, results, "the HTTP response")
	if r.err != nil {
		t.Fatalf("POST: %v", r.err)
	}
	if r.status != http.StatusOK || !bytes.Equal(r.got, body) {
		t.Errorf("response %d with %d bytes; want 200 and the %d sent", r.status, len(r.got), len(body))
	}
	if want := fmt.Sprintf("127.0.0.1:%d", s.RemotePort()); r.from != want {
		t.Errorf("the handler saw RemoteAddr %q; want %q", r.from, want)
	}
	tr.CloseIdleConnections() // the client closes: the server's Read gets io.EOF
	icRecv(t, closed, "net/http to close the conn")
	ln.Close()
	if err := icRecv(t, served, "Serve to return"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve = %v; want net.ErrClosed from the listener", err)
	}
	// The client's end ended the socket's side too (no AllowHalfOpen),
	// so it may have closed gracefully before net/http closed the view.
	icWaitDone(t, s, "the socket")
}

// icBackend is a plain Go TCP server on 127.0.0.1 whose accepted conns
// come out of the channel; Cleanup closes it and them.
func icBackend(t *testing.T) (int, <-chan *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *net.TCPConn, 4)
	var mu sync.Mutex
	var all []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, c)
			mu.Unlock()
			conns <- c.(*net.TCPConn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range all {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port, conns
}

// icProxy is a nodenet server that proxies each connection to the backend
// port: it connects an upstream socket and calls Proxy(front, up). The
// pairs come out of the channel. smallBuffers shrinks the front socket's
// kernel receive buffer, so that backpressure reaches the client soon.
func icProxy(t *testing.T, backendPort int, smallBuffers bool) (int, <-chan [2]*Socket) {
	t.Helper()
	pairs := make(chan [2]*Socket, 4)
	var mu sync.Mutex
	var all []*Socket
	srv := createServer(t, ServerOptions{}, func(front *Socket) {
		if smallBuffers {
			front.mu.Lock()
			tc := front.c.nc.(*net.TCPConn)
			front.mu.Unlock()
			tc.SetReadBuffer(64 << 10)
		}
		up, err := Connect(ConnectOptions{Port: backendPort, Host: "127.0.0.1"})
		if err != nil {
			t.Errorf("Connect: %v", err)
			front.Destroy()
			return
		}
		mu.Lock()
		all = append(all, front, up)
		mu.Unlock()
		if err := Proxy(front, up); err != nil {
			t.Errorf("Proxy: %v", err)
			front.Destroy()
			up.Destroy()
			return
		}
		pairs <- [2]*Socket{front, up}
	})
	port := listenTCP(t, srv)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range all {
			s.Destroy()
		}
	})
	return port, pairs
}

// A large transfer each way through the proxy. The backend reads nothing
// until backpressure has reached the client (the upstream queue in use and
// the front socket holding the high-water mark), then everything:
// neither ever holds much more than the mark plus one read, not the 16
// MiB in flight. Then the backend answers with 4 MiB and closes; both
// proxy sockets close gracefully.
func TestProxyLargeTransferBounded(t *testing.T) {
	bport, backends := icBackend(t)
	port, pairs := icProxy(t, bport, true)
	client := dialRaw(t, port)
	client.SetWriteBuffer(64 << 10)
	pair := icRecv(t, pairs, "the proxied pair")
	front, up := pair[0], pair[1]
	be := icRecv(t, backends, "the backend's conn")
	be.SetReadBuffer(64 << 10)

	const bound = DefaultHighWaterMark + readBufSize
	var maxQueue, maxHeld atomic.Int64
	full, stop, stopped := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		isFull := false
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			q := int64(up.BufferSize())
			front.mu.Lock()
			h := int64(front.c.q.held)
			front.mu.Unlock()
			if q > maxQueue.Load() {
				maxQueue.Store(q)
			}
			if h > maxHeld.Load() {
				maxHeld.Store(h)
			}
			// The front socket holds the mark only while its pipe waits
			// for the upstream queue to drain: backpressure has reached
			// it, and through it the client.
			if !isFull && q > 0 && h >= DefaultHighWaterMark {
				isFull = true
				close(full)
			}
		}
	}()
	defer func() { close(stop); <-stopped }()

	upload := icPayload(t, 16<<20)
	sent := make(chan error, 1)
	go func() {
		_, err := client.Write(upload)
		if err == nil {
			err = client.CloseWrite()
		}
		sent <- err
	}()
	icRecv(t, full, "backpressure to reach the front socket")

	be.SetReadDeadline(time.Now().Add(testTimeout))
	h := sha256.New()
	if n, err := io.Copy(h, be); err != nil || n != int64(len(upload)) {
		t.Fatalf("backend read %d bytes, %v; want %d, then EOF", n, err, len(upload))
	}
	if got, want := h.Sum(nil), sha256.Sum256(upload); !bytes.Equal(got, want[:]) {
		t.Errorf("backend got sha256 %x; want %x", got, want)
	}
	if err := icRecv(t, sent, "the client's writes"); err != nil {
		t.Fatal(err)
	}

	download := icPayload(t, 4<<20)
	answered := make(chan error, 1)
	go func() {
		_, err := be.Write(download)
		be.Close()
		answered <- err
	}()
	if got := readAll(t, client); len(got) != len(download) || sha256.Sum256(got) != sha256.Sum256(download) {
		t.Errorf("client got %d bytes; want the backend's %d", len(got), len(download))
	}
	if err := icRecv(t, answered, "the backend's answer"); err != nil {
		t.Fatal(err)
	}
	if icWaitDone(t, front, "the front socket") || icWaitDone(t, up, "the upstream socket") {
		t.Error("a proxy socket was destroyed; want both closed gracefully")
	}
	t.Logf("upstream queue peak %d bytes, front socket held peak %d bytes, bound %d, %d bytes moved",
		maxQueue.Load(), maxHeld.Load(), bound, len(upload)+len(download))
	if q, h := maxQueue.Load(), maxHeld.Load(); q > bound || h > bound {
		t.Errorf("upstream queue peaked at %d bytes, front socket held %d; want both <= %d (high-water mark + one read)", q, h, bound)
	}
}

// Half-close through the proxy: the client's CloseWrite reaches the
// backend as EOF; the backend still answers, the client reads it, then
// everything closes.
func TestProxyHalfClose(t *testing.T) {
	bport, backends := icBackend(t)
	port, pairs := icProxy(t, bport, false)
	client := dialRaw(t, port)
	pair := icRecv(t, pairs, "the proxied pair")
	front, up := pair[0], pair[1]
	be := icRecv(t, backends, "the backend's conn")

	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, be)); got != "request" {
		t.Fatalf("backend got %q, then EOF; want %q", got, "request")
	}
	front.mu.Lock()
	halfOpen := front.allowHalfOpen
	front.mu.Unlock()
	if !halfOpen {
		t.Error("Proxy did not turn AllowHalfOpen on for the accepted socket")
	}
	if _, err := be.Write([]byte("reply after your end")); err != nil {
		t.Fatal(err)
	}
	be.Close()
	if got := string(readAll(t, client)); got != "reply after your end" {
		t.Errorf("client got %q; want the reply", got)
	}
	if icWaitDone(t, front, "the front socket") || icWaitDone(t, up, "the upstream socket") {
		t.Error("a proxy socket was destroyed; want both closed gracefully")
	}
}

// When one side of a proxied pair is destroyed, by Destroy or an error,
// the other is destroyed too, and both outer peers see the end.
func TestProxyDestroyPropagates(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		act                  func(front, up *Socket, client, be *net.TCPConn)
		clientGone, backGone bool
	}{
		{"Destroy front", func(front, _ *Socket, _, _ *net.TCPConn) { front.Destroy() }, false, false},
		{"Destroy upstream", func(_, up *Socket, _, _ *net.TCPConn) { up.Destroy() }, false, false},
		{"DestroyWithError front", func(front, _ *Socket, _, _ *net.TCPConn) {
			front.DestroyWithError(errors.New("boom"))
		}, false, false},
		{"client resets", func(_, _ *Socket, client, _ *net.TCPConn) { client.SetLinger(0); client.Close() }, true, false},
		{"backend resets", func(_, _ *Socket, _, be *net.TCPConn) { be.SetLinger(0); be.Close() }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bport, backends := icBackend(t)
			port, pairs := icProxy(t, bport, false)
			client := dialRaw(t, port)
			pair := icRecv(t, pairs, "the proxied pair")
			front, up := pair[0], pair[1]
			be := icRecv(t, backends, "the backend's conn")
			// Data flows first: both sockets are up.
			client.Write([]byte("ping"))
			be.SetReadDeadline(time.Now().Add(testTimeout))
			if _, err := io.ReadFull(be, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}

			tc.act(front, up, client, be)
			if !icWaitDone(t, front, "the front socket") {
				t.Error("front closed gracefully; want destroyed")
			}
			if !icWaitDone(t, up, "the upstream socket") {
				t.Error("upstream closed gracefully; want destroyed")
			}
			for _, p := range []struct {
				name string
				c    *net.TCPConn
				gone bool
			}{{"client", client, tc.clientGone}, {"backend", be, tc.backGone}} {
				if p.gone {
					continue
				}
				p.c.SetReadDeadline(time.Now().Add(testTimeout))
				if _, err := io.Copy(io.Discard, p.c); icIsTimeout(err) {
					t.Errorf("the %s never saw the end", p.name)
				}
			}
		})
	}
}

// A failed upstream connect destroys the front socket too.
func TestProxyUpstreamRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	port, pairs := icProxy(t, deadPort, false)
	client := dialRaw(t, port)
	pair := icRecv(t, pairs, "the proxied pair")
	if !icWaitDone(t, pair[1], "the upstream socket") || !icWaitDone(t, pair[0], "the front socket") {
		t.Error("want both sockets destroyed")
	}
	client.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.Copy(io.Discard, client); icIsTimeout(err) {
		t.Error("the client never saw the end")
	}
}

// Bad arguments are errors; nothing is joined and the sockets are left as
// they were.
func TestProxyBadArguments(t *testing.T) {
	s1, _ := rawPair(t, ConnectOptions{})
	closedSock, _ := rawPair(t, ConnectOptions{})
	closedSock.Destroy()
	ended, _ := rawPair(t, ConnectOptions{})
	ended.End()
	framed, _ := rawPair(t, ConnectOptions{Flow: Flow{Framing: Lines(64)}})
	idle, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Destroy()
	for _, tc := range []struct {
		name string
		a, b *Socket
		want error
	}{
		{"nil a", nil, s1, ErrInvalidArgument},
		{"nil b", s1, nil, ErrInvalidArgument},
		{"both nil", nil, nil, ErrInvalidArgument},
		{"same socket", s1, s1, ErrInvalidArgument},
		{"a never connected", idle, s1, ErrSocketClosed},
		{"b closed", s1, closedSock, ErrSocketClosed},
		{"b ended", s1, ended, ErrWriteAfterEnd},
		{"a framed", framed, s1, ErrInvalidArgument},
		{"b framed", s1, framed, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Proxy(tc.a, tc.b); !errors.Is(err, tc.want) {
				t.Errorf("Proxy = %v; want an error wrapping %v", err, tc.want)
			} else if !strings.Contains(err.Error(), "Proxy") {
				t.Errorf("error %q does not say it is Proxy's", err)
			}
			s1.mu.Lock()
			defer s1.mu.Unlock()
			if s1.allowHalfOpen || len(s1.c.pipes) > 0 || len(s1.c.pipeSrcs) > 0 {
				t.Errorf("a failed Proxy changed a socket: AllowHalfOpen %v, %d pipes, %d sources",
					s1.allowHalfOpen, len(s1.c.pipes), len(s1.c.pipeSrcs))
			}
		})
	}
}
