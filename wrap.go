package nodenet

import "net"

// WrapConn makes an evented Socket of any open net.Conn: a *tls.Conn, an
// end of net.Pipe, a *net.TCPConn, a conn of another library. The socket
// is open and reading at once, as NewSocket with an FD makes it (no
// ConnectEvent), and it owns conn from then on: it closes conn when it
// closes. Nothing is duplicated, so the caller must not use conn any more.
//
// opts are NewSocket's, except that FD must be nil and Type empty (conn
// is the connection); AllowHalfOpen and the marks and bounds
// (HighWaterMark, MaxBufferSize, ...) apply and are checked as for
// NewSocket. Bad options, or a nil conn (also a typed nil such as a nil
// *tls.Conn), give an error wrapping ErrInvalidArgument; conn is then
// left as it was and is still the caller's.
//
// End half-closes through conn's CloseWrite method, where it has one: a
// *net.TCPConn or *net.UnixConn sends a FIN; a *tls.Conn sends TLS's
// close_notify (a Go peer's Read returns io.EOF), then half-closes the
// conn under it the same way (a TCP conn sends its FIN after the alert),
// as the sockets of a TLS server (ServerOptions.TLSConfig) and a TLS
// client (ConnectOptions.TLSConfig) do. close_notify needs the handshake
// done, so complete it (HandshakeContext) before WrapConn if the socket
// may End before it has read anything; otherwise End's CloseWrite fails
// and destroys the socket. (A TLS server or client socket has its
// handshake done before it opens: prefer them to WrapConn for TLS.)
// A conn without CloseWrite (net.Pipe) cannot half-close: End flushes the
// queue and stops this side's writes, but the peer is told nothing until
// the connection closes, which happens once the peer's own end has been
// read, or on Destroy. A peer that waits for this side's end before
// ending its own waits until Destroy.
//
// Closing a *tls.Conn sends close_notify unless End already has, and
// crypto/tls gives that write up to 5 seconds: Destroy of a TLS socket
// whose peer has stopped reading may take that long.
//
// A conn without a descriptor (no syscall.Conn: TLS, net.Pipe) is read
// with its Read method, which holds a 60 KiB read buffer while it waits
// (a *tls.Conn's records already held are taken in the same read, with a
// read deadline in the past), and written by the writer goroutine only;
// one with a descriptor works as an accepted socket does. conn's own deadlines should be clear: a
// timeout of its Read or Write destroys the socket with that error.
//
// Safe for concurrent use: WrapConn keeps no state of its own.
func WrapConn(conn net.Conn, opts SocketOptions) (*Socket, error) {
	if isNil(conn) {
		return nil, argError("WrapConn: conn is nil (%T)", conn)
	}
	if opts.FD != nil {
		return nil, argError("WrapConn: SocketOptions.FD must be nil: conn is the connection")
	}
	if opts.Type != "" {
		return nil, argError("WrapConn: SocketOptions.Type must be empty, got %q: conn is the connection", opts.Type)
	}
	f, err := opts.flow() // the marks and bounds, checked as NewSocket checks them
	if err != nil {
		return nil, err
	}
	s := newSocket(opts.AllowHalfOpen, f)
	s.mu.Lock()
	s.startLocked(conn)
	s.mu.Unlock()
	return s, nil
}
