package nodenet

import (
	"context"
	"net"
)

// Connect is Node's net.connect(options): it returns a socket at once and
// connects in the background. Writes made before the connection is up are
// queued and sent after it; the outcome comes as a ConnectEvent, or as an
// ErrorEvent (ECONNREFUSED, ENOENT, ENOTFOUND, ...) and a
// CloseEvent{HadError: true}. The error return is only for invalid
// options, which Node throws synchronously.
func Connect(opts ConnectOptions) (*Socket, error) {
	return ConnectContext(context.Background(), opts)
}

// ConnectContext is Connect with a context for the connecting phase:
// when ctx is done before the connection is up, the attempt stops and the
// socket is destroyed with an ErrorEvent whose error has Code "ABORT_ERR"
// (as Node's signal option) and unwraps to ctx's cause; ConnectOptions'
// Timeout gives "ETIMEDOUT" instead. Once connected, ctx no longer
// matters, as with net.Dialer.DialContext.
func ConnectContext(ctx context.Context, opts ConnectOptions) (*Socket, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	f, err := opts.flow()
	if err != nil {
		return nil, err
	}
	s := newSocket(opts.AllowHalfOpen, f.hwm)
	s.flow = f
	if err := s.ConnectContext(ctx, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// ConnectTCP is Connect to host:port ("" means localhost).
func ConnectTCP(port int, host string) (*Socket, error) {
	return Connect(ConnectOptions{Port: port, Host: host})
}

// ConnectUnix is Connect to the Unix socket at path.
func ConnectUnix(path string) (*Socket, error) {
	return Connect(ConnectOptions{Path: path})
}

// Connect is Node's socket.connect: it connects a socket made by
// NewSocket, or reconnects one whose CloseEvent has been queued, with the
// behaviour of the package's Connect. A reconnected socket starts a new
// event stream (call Events again) and new byte counters. The socket's
// own AllowHalfOpen, HighWaterMark and MaxBufferSize stay; opts may turn
// AllowHalfOpen on and set the others. It returns ErrAlreadyConnected while the socket is
// connecting, open, or still closing. Safe for concurrent use.
func (s *Socket) Connect(opts ConnectOptions) error {
	return s.ConnectContext(context.Background(), opts)
}

// ConnectContext is Connect with a context for the connecting phase, as
// the package's ConnectContext. Safe for concurrent use.
func (s *Socket) ConnectContext(ctx context.Context, opts ConnectOptions) error {
	if ctx == nil {
		return argError("ConnectContext: nil context")
	}
	if err := opts.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == stIdle && !s.closed:
	case s.closed && s.st.closeQueued:
		s.resetLocked()
	default:
		return ErrAlreadyConnected
	}
	if opts.AllowHalfOpen {
		s.allowHalfOpen = true
	}
	f, err := s.flow.reconnect(opts)
	if err != nil {
		return err
	}
	s.flow = f
	if opts.Nagle {
		no := false
		s.noDelay = &no
	}
	if opts.KeepAlive {
		s.keepAlive = &keepAliveSetting{enable: true, delay: opts.KeepAliveInitialDelay}
	}
	ctx, cancel := context.WithCancel(ctx)
	s.state = stConnecting
	s.cancelDial = cancel
	s.done = make(chan struct{})
	s.live = 1 // the connecting goroutine, which becomes the reader
	s.ref.set(true, s.ref.unref)
	s.touchLocked(onConnect)
	go s.connectAndRead(ctx, opts, s.done)
	return nil
}

// resetLocked prepares a closed socket for a new connection.
func (s *Socket) resetLocked() {
	s.st.abandon() // a consumer of the old stream may have stopped reading
	s.st = newStream()
	s.state = stIdle
	s.conn = nil
	s.closed, s.destroyed, s.hadError = false, false, false
	s.eof, s.endTold = false, false
	if s.encoding != "" {
		s.dec = newDecoder(s.encoding)
	}
	s.pipes, s.pipeSrcs = nil, nil
	s.ending, s.peerEnded, s.wfinished, s.endBuffered = false, false, false, false
	s.bytesRead.Store(0)
	s.bytesWritten.Store(0)
	s.lastRead.Store(0)
	s.lastWrite.Store(0)
}

// connectAndRead dials, then serves as the connection's reader goroutine.
func (s *Socket) connectAndRead(ctx context.Context, opts ConnectOptions, done chan struct{}) {
	defer s.exitIO()
	conn, err := s.dial(ctx, opts)

	s.mu.Lock()
	if s.closed || s.done != done {
		// Destroyed while connecting: Node ignores the outcome.
		s.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		return
	}
	s.cancelDial()
	s.cancelDial = nil
	if err != nil {
		// Nothing was read: the events queued meanwhile (the attempts,
		// a timeout) tell the failure's story and are not dropped.
		s.closeLocked(err, false)
		s.destroyed = true
		s.mu.Unlock()
		s.dispatch()
		return
	}
	s.setConnLocked(conn)
	s.applyOptionsLocked()
	s.st.push(ConnectEvent{})
	s.touchLocked(onConnect)
	if len(s.wq) > 0 || s.ending {
		s.startWriterLocked() // writes and End made while connecting
	}
	s.mu.Unlock()
	s.dispatch()
	s.readLoop(conn, done, false)
}

// NewSocket is Node's new net.Socket(options): with opts.FD it wraps an
// open, connected stream socket descriptor (reading starts at once);
// without it, it makes an unconnected socket for Socket.Connect.
func NewSocket(opts SocketOptions) (*Socket, error) {
	f, err := opts.flow()
	if err != nil {
		return nil, err
	}
	switch opts.Type {
	case "", "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, argError("unsupported socket type %q (want tcp, tcp4, tcp6 or unix)", opts.Type)
	}
	s := newSocket(opts.AllowHalfOpen, f.hwm)
	s.flow = f
	if opts.FD == nil {
		return s, nil
	}
	conn, err := net.FileConn(opts.FD)
	if err != nil {
		return nil, sysError("open", opts.FD.Name(), err)
	}
	if err := checkFDType(conn, opts.Type); err != nil {
		conn.Close()
		return nil, err
	}
	s.mu.Lock()
	s.startLocked(conn)
	s.mu.Unlock()
	return s, nil
}

// checkFDType accepts connected TCP and Unix stream sockets, as Node does.
func checkFDType(conn net.Conn, want string) error {
	var got string
	switch c := conn.(type) {
	case *net.TCPConn:
		got = "tcp4"
		if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
			got = "tcp6"
		}
	case *net.UnixConn:
		if c.LocalAddr().Network() != "unix" {
			return argError("unsupported fd type: %s", c.LocalAddr().Network())
		}
		got = "unix"
	default:
		return argError("unsupported fd type: %T", conn)
	}
	if want != "" && want != got && !(want == "tcp" && got != "unix") {
		return argError("fd is a %s socket, not %s", got, want)
	}
	return nil
}
