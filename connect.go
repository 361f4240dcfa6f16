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
	s := newSocket(opts.AllowHalfOpen, f)
	if err := s.ConnectContext(ctx, opts); err != nil {
		return nil, err
	}
	return s, nil
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
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	c := s.c
	switch {
	case c.phase == phaseIdle:
		// The first connection: a consumer that subscribed before keeps
		// its channel.
	case c.phase == phaseClosed && c.closeQueued:
		// A new connection, with a new event stream; the old one still
		// delivers the rest of its events to its consumer.
		c = newConn(s)
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
	s.c = c
	ctx, cancel := context.WithCancel(ctx)
	c.phase = phaseConnecting
	c.cancelDial = cancel
	c.helpers++
	if opts.Resolver == nil {
		// Read here rather than in the dialer: the resolver is the one
		// in force when Connect was called, whatever the program sets
		// net.DefaultResolver to meanwhile.
		opts.Resolver = net.DefaultResolver
	}
	go c.dialer(ctx, opts)
	c.startLocked()
	s.touchLocked(onConnect)
	return nil
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
	s := newSocket(opts.AllowHalfOpen, f)
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
