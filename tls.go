package nodenet

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// defaultHandshakeTimeout is how long a TLS server (ServerOptions.TLSConfig)
// gives a client to complete its handshake when
// ServerOptions.HandshakeTimeout is 0. A client that has not finished by
// then is closed, and the server tells it with a DropEvent whose Reason is
// "tlsHandshake". It is the TLSHandshakeTimeout of net/http's
// DefaultTransport; Node's tls.Server waits 120 seconds.
const defaultHandshakeTimeout = 10 * time.Second

// The server's side. A TLS server admits a connection as any other (the
// accept loop checks the BlockList and the limit), then hands it to a
// goroutine of its own for the handshake, so that a client that connects
// and sends nothing holds a slot of the limit until the timeout, but never
// the accept loop. That goroutine belongs to the server: it is counted in
// hsRunning from its start until it has handed the connection over or
// dropped it, the CloseEvent (and so Shutdown) waits for it, and Close
// stops it by closing its conn. Its raw conn is in srv.handshakes while
// the handshake runs, where the limit and Connections count it.

// startHandshakeLocked registers raw, an admitted connection, as in its
// handshake, and starts the goroutine that runs it.
func (srv *Server) startHandshakeLocked(raw net.Conn) {
	if srv.handshakes == nil {
		srv.handshakes = make(map[net.Conn]struct{})
	}
	srv.handshakes[raw] = struct{}{}
	srv.hsRunning++
	timeout := cmp.Or(srv.opts.HandshakeTimeout, defaultHandshakeTimeout)
	go srv.handshake(raw, srv.opts.TLSConfig, timeout)
}

// handshake is the goroutine of one server-side handshake: a deadline on
// the raw conn bounds it (reads and writes alike, so a client that does
// not read stalls it no longer than one that does not write). On success
// the connection becomes a socket and is announced, as the accept loop
// does for a plain one; on failure it is closed with a DropEvent; if the
// server closed meanwhile, it is closed without one.
func (srv *Server) handshake(raw net.Conn, cfg *tls.Config, timeout time.Duration) {
	tc := tls.Server(raw, cfg)
	err := raw.SetDeadline(time.Now().Add(timeout))
	if err == nil {
		err = handshakeRecovered(context.Background(), tc)
	}
	if err == nil {
		err = raw.SetDeadline(time.Time{})
	}
	srv.mu.Lock()
	delete(srv.handshakes, raw)
	var s *Socket
	switch {
	case !srv.listening: // Close has closed raw, or is about to
		srv.dropLocked(raw, "closing", nil)
	case err != nil:
		srv.dropLocked(raw, "tlsHandshake", tlsError(err, remoteString(raw)))
	default:
		s = srv.newSocketLocked() // in one critical section: the count never dips
	}
	if s == nil {
		srv.roomLocked()
	}
	srv.mu.Unlock()
	if s != nil {
		srv.announce(s, tc)
	} else {
		// The raw conn, not tc: no close_notify, which could wait on a
		// peer that does not read.
		raw.Close()
	}
	srv.mu.Lock()
	srv.hsRunning--
	srv.maybeCloseLocked()
	srv.mu.Unlock()
}

// The client's side: Connect with ConnectOptions.TLSConfig dials, then
// runs the handshake within the connect's context (its Timeout, its ctx,
// Destroy), and opens the socket only once it has succeeded.

// handshakeClient runs the client's handshake over conn. ServerName
// defaults to the host, as tls.Dial does. On failure conn is closed.
func handshakeClient(ctx context.Context, conn net.Conn, opts ConnectOptions) (net.Conn, error) {
	cfg := opts.TLSConfig
	if cfg.ServerName == "" && opts.Path == "" {
		cfg = cfg.Clone()
		cfg.ServerName = cmp.Or(opts.Host, "localhost")
	}
	tc := tls.Client(conn, cfg)
	if err := handshakeRecovered(ctx, tc); err != nil {
		conn.Close()
		return nil, tlsError(err, remoteString(conn))
	}
	return tc, nil
}

// tlsError gives the error of a failed handshake Node's shape: an *Error
// with Node's Code for the common failures and crypto/tls's error as its
// cause (errors.As finds an x509.HostnameError in it, say).
func tlsError(err error, address string) error {
	var (
		ne      *Error
		hostErr x509.HostnameError
		authErr x509.UnknownAuthorityError
		certErr x509.CertificateInvalidError
		opErr   *net.OpError
		errno   syscall.Errno
		code    = "EPROTO" // Node's code for a handshake that fails on the protocol
	)
	switch {
	case errors.As(err, &ne):
		return ne
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &Error{Code: "ERR_TLS_HANDSHAKE_TIMEOUT", Msg: "TLS handshake timeout", Address: address, Err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Code: "ECONNRESET", Address: address, Err: err,
			Msg: "Client network socket disconnected before secure TLS connection was established"}
	case errors.As(err, &hostErr):
		code = "ERR_TLS_CERT_ALTNAME_INVALID"
	case errors.As(err, &authErr):
		code = "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
		if c := authErr.Cert; c != nil && bytes.Equal(c.RawIssuer, c.RawSubject) {
			code = "DEPTH_ZERO_SELF_SIGNED_CERT" // Node's "self-signed certificate"
		}
	case errors.As(err, &certErr) && certErr.Reason == x509.Expired:
		code = "CERT_HAS_EXPIRED"
	case errors.As(err, &errno) && errors.As(err, &opErr):
		return sysError(opErr.Op, address, err) // a reset: ECONNRESET from read
	}
	return &Error{Code: code, Msg: err.Error(), Address: address, Err: err}
}

// closeWrite half-closes nc through its CloseWrite method, if it has one.
// A *tls.Conn's sends close_notify only and leaves the TCP connection open
// both ways, so the conn under it is half-closed next (a FIN after the
// alert), as Node's TLS sockets and OpenSSL do: a peer that waits for the
// FIN (a plain TCP proxy, a reader of the raw stream) sees the end too.
func closeWrite(nc net.Conn) error {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	if err := cw.CloseWrite(); err != nil {
		return err
	}
	if tc, ok := nc.(*tls.Conn); ok {
		return closeWrite(tc.NetConn())
	}
	return nil
}

// TLSConnectionState returns the TLS state of the socket's connection and
// true when it is a TLS connection: one accepted by a server with
// ServerOptions.TLSConfig, connected with ConnectOptions.TLSConfig, or made
// by WrapConn of a *tls.Conn. It gives what Node's TLS sockets tell
// through getPeerCertificate, getProtocol, getCipher, alpnProtocol and
// servername: the version, the cipher suite, the peer's certificates
// (PeerCertificates), the negotiated protocol (NegotiatedProtocol) and the
// server name the client asked for (ServerName). It is the zero state and
// false for a plain connection and before a client's connection is up;
// after the close it still describes the last connection.
//
// Safe for concurrent use. It does not wait, except on a socket of
// WrapConn whose handshake is still running: crypto/tls makes it wait for
// the handshake's end.
func (s *Socket) TLSConnectionState() (tls.ConnectionState, bool) {
	if !s.lock() {
		return tls.ConnectionState{}, false
	}
	nc := s.c.nc
	s.mu.Unlock()
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}
