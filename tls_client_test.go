// TLS clients: Connect with TLS, close_notify then FIN, failures and stalls.

package nodenet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// eofConn records whether a Read of the conn under it has returned
// io.EOF: a TLS reader that stops at close_notify has not.
type eofConn struct {
	net.Conn
	sawEOF atomic.Bool
}

func (c *eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		c.sawEOF.Store(true)
	}
	return n, err
}

// tlsPeer is the Go side of a TLS connection whose raw TCP conn the test
// reads too.
type tlsPeer struct {
	raw net.Conn
	rec *eofConn
	tc  *tls.Conn
}

// checkCloseNotifyThenFIN reads the TLS stream until its end, wanting
// want, and checks that the end was close_notify (the TLS reader stopped
// without the raw conn's EOF), followed by the TCP FIN (the raw conn then
// reads EOF).
func (p *tlsPeer) checkCloseNotifyThenFIN(t testing.TB, want string) {
	t.Helper()
	got, err := io.ReadAll(p.tc)
	if err != nil || string(got) != want {
		t.Fatalf("TLS read %q, %v; want %q, then the end", got, err, want)
	}
	if p.rec.sawEOF.Load() {
		t.Error("the TLS stream ended at the TCP FIN: no close_notify came before it")
	}
	p.raw.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := p.raw.Read(make([]byte, 64)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("raw TCP read after close_notify = %d, %v; want 0, EOF (the FIN)", n, err)
	}
}

// newTLSPeer runs TLS over raw, as a server (isServer) or as a client.
func newTLSPeer(t testing.TB, raw net.Conn, isServer bool) *tlsPeer {
	t.Helper()
	p := &tlsPeer{raw: raw, rec: &eofConn{Conn: raw}}
	if isServer {
		p.tc = tls.Server(p.rec, serverTLS(t))
	} else {
		cfg := clientTLS(t)
		cfg.ServerName = "127.0.0.1"
		p.tc = tls.Client(p.rec, cfg)
	}
	p.tc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { p.tc.Close() })
	return p
}

// TestTLSEndSendsCloseNotifyThenFIN: End of a TLS socket, be it a TLS
// server's, a TLS client's (ConnectOptions.TLSConfig) or WrapConn of a
// *tls.Conn, sends its data, close_notify, then the FIN; it is a
// half-close: the peer's data after it still arrives, and its end closes
// the socket.
func TestTLSEndSendsCloseNotifyThenFIN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		open func(t *testing.T) (*Socket, *tlsPeer)
	}{
		{"server", func(t *testing.T) (*Socket, *tlsPeer) {
			_, r, port := recordedServer(t, ServerOptions{TLSConfig: serverTLS(t)})
			p := newTLSPeer(t, dialRaw(t, port), false)
			if err := p.tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			return r.waitConnection(1), p
		}},
		{"client", func(t *testing.T) (*Socket, *tlsPeer) {
			s, raw := rawPair(t, ConnectOptions{TLSConfig: clientTLS(t)})
			return s, newTLSPeer(t, raw, true)
		}},
		{"WrapConn", func(t *testing.T) (*Socket, *tlsPeer) {
			client, raw := tcpPair(t)
			cfg := clientTLS(t)
			cfg.ServerName = "127.0.0.1"
			tc := tls.Client(client, cfg)
			handshaken := make(chan error, 1)
			ctx := ctxTimeout(t)
			go func() { handshaken <- tc.HandshakeContext(ctx) }()
			p := newTLSPeer(t, raw, true)
			perr := p.tc.Handshake()
			if err := <-handshaken; err != nil || perr != nil {
				tc.Close()
				t.Fatalf("handshake: client %v, server %v", err, perr)
			}
			s, err := WrapConn(tc, SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return s, p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p := tt.open(t)
			r := record(t, s)
			if tt.name != "server" {
				if err := p.tc.Handshake(); err != nil { // the other half of the client's
					t.Fatal(err)
				}
			}
			if err := s.EndString("bye", ""); err != nil {
				t.Fatal(err)
			}
			p.checkCloseNotifyThenFIN(t, "bye")
			if _, err := io.WriteString(p.tc, "after"); err != nil { // TLS 1.3 allows it after close_notify
				t.Fatal(err)
			}
			if got := string(r.waitData(5)); got != "after" {
				t.Errorf("the socket read %q after its End; want %q", got, "after")
			}
			if err := p.tc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if got, want := names(r.wait()), "data end close(false)"; got != want && got != "connect "+want {
				t.Errorf("events = %q; want %q", got, want)
			}
		})
	}
}

// tlsGoServer is a Go TLS server on 127.0.0.1 that answers each
// connection with what serve does, with the server's tls.Conn; Cleanup
// closes it, waits for its accepting goroutine and closes the conns.
func tlsGoServer(t testing.TB, cfg *tls.Config, serve func(*tls.Conn)) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	serveListener(t, ln, func(c net.Conn) {
		go func() {
			c.SetDeadline(time.Now().Add(testTimeout))
			serve(c.(*tls.Conn))
		}()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTLSConnect: a client socket with ConnectOptions.TLSConfig against a
// Go TLS server: the ConnectEvent comes after the handshake, what was
// written while connecting goes out after it, ServerName defaults to
// Host, and the end is close_notify both ways.
func TestTLSConnect(t *testing.T) {
	t.Parallel()
	sni := make(chan string, 1)
	port := tlsGoServer(t, serverTLS(t), func(c *tls.Conn) {
		if err := c.Handshake(); err != nil {
			return
		}
		sni <- c.ConnectionState().ServerName
		b, _ := io.ReadAll(c) // to the client's close_notify
		c.Write(append([]byte("echo: "), b...))
		c.CloseWrite()
	})
	s := connectSocket(t, ConnectOptions{Host: "localhost", Port: port, TLSConfig: clientTLS(t)})
	r := record(t, s)
	s.SendString("written while connecting", "", nil)
	s.End()
	checkEventsAndData(t, "the client", r.wait(), "connect data end close(false)", "echo: written while connecting")
	if got := <-sni; got != "localhost" {
		t.Errorf("the server saw ServerName %q; want localhost (from Host)", got)
	}
	st, ok := s.TLSConnectionState()
	if !ok || !st.HandshakeComplete || st.ServerName != "localhost" || len(st.PeerCertificates) != 1 {
		t.Errorf("TLSConnectionState() = complete %v, ServerName %q, %d peer certificates, %v; want the session with the server",
			st.HandshakeComplete, st.ServerName, len(st.PeerCertificates), ok)
	}
}

// TestTLSConnectFailures: a handshake that fails is a failed connect:
// ErrorEvent with Node's code and crypto/tls's cause, CloseEvent{HadError:
// true}, no ConnectEvent, and the write callbacks get the error.
func TestTLSConnectFailures(t *testing.T) {
	t.Parallel()
	port := tlsGoServer(t, serverTLS(t), func(c *tls.Conn) { c.Handshake() })
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	tests := []struct {
		name   string
		host   string
		cfg    *tls.Config
		code   string
		target any
	}{
		{"wrong ServerName", "127.0.0.1", &tls.Config{RootCAs: clientTLS(t).RootCAs, ServerName: "example.com"}, "ERR_TLS_CERT_ALTNAME_INVALID", &hostErr},
		{"untrusted certificate", "127.0.0.1", &tls.Config{RootCAs: x509.NewCertPool()}, "DEPTH_ZERO_SELF_SIGNED_CERT", &authErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connectSocket(t, ConnectOptions{Host: tt.host, Port: port, TLSConfig: tt.cfg})
			cbErr := make(chan error, 1)
			s.SendString("never sent", "", func(err error) { cbErr <- err })
			evs := record(t, s).wait()
			if len(evs) != 2 || !isKind[ErrorEvent](evs[0]) || evs[1] != (CloseEvent{HadError: true}) {
				t.Fatalf("events = %q; want an error, then close(true)", names(evs))
			}
			err := evs[0].(ErrorEvent).Err
			checkCode(t, "the ErrorEvent's error", err, tt.code)
			if !errors.As(err, tt.target) {
				t.Errorf("errors.As(%v, %T) = false", err, tt.target)
			}
			if got := <-cbErr; got != err {
				t.Errorf("the write callback got %v; want the connect's error", got)
			}
		})
	}
}

// TestTLSConnectStalls: a server that accepts TCP and never answers the
// ClientHello: the connect's Timeout ends the handshake (ETIMEDOUT), its
// context too (ABORT_ERR), and Destroy during the handshake closes the
// socket at once; no goroutine is left (goleak).
func TestTLSConnectStalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // never accepted: the kernel completes the TCP handshake alone
	port := ln.Addr().(*net.TCPAddr).Port

	t.Run("Timeout", func(t *testing.T) {
		s := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: port, TLSConfig: clientTLS(t), Timeout: 100 * time.Millisecond})
		evs := record(t, s).wait()
		if got := names(evs); got != "error(connect ETIMEDOUT) close(true)" {
			t.Errorf("events = %q; want error(connect ETIMEDOUT) close(true)", got)
		}
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		s, err := ConnectContext(ctx, ConnectOptions{Host: "127.0.0.1", Port: port, TLSConfig: clientTLS(t)})
		if err != nil {
			t.Fatal(err)
		}
		evs := record(t, s).wait()
		if len(evs) != 2 || !isKind[ErrorEvent](evs[0]) {
			t.Fatalf("events = %q; want an error, then close(true)", names(evs))
		}
		checkCode(t, "the ErrorEvent's error", evs[0].(ErrorEvent).Err, "ABORT_ERR")
	})
	t.Run("Destroy", func(t *testing.T) {
		s, peer := rawPair(t, ConnectOptions{TLSConfig: clientTLS(t)})
		r := record(t, s)
		peer.SetReadDeadline(time.Now().Add(testTimeout))
		hello := make([]byte, 1)
		if _, err := io.ReadFull(peer, hello); err != nil || hello[0] != 0x16 {
			t.Fatalf("the server read %x, %v; want the ClientHello's record (0x16)", hello, err)
		}
		s.Destroy() // in the handshake
		if got := names(r.wait()); got != "close(false)" {
			t.Errorf("events = %q; want close(false)", got)
		}
		if _, err := io.Copy(io.Discard, peer); err != nil {
			t.Errorf("the server's read after Destroy: %v; want the end", err)
		}
	})
}
