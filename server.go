package nodenet

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is Node's net.Server: it listens on a TCP port, a Unix socket or
// an inherited handle, accepts connections as Sockets, and tells its life
// as events on one channel (see Events).
//
// All methods are safe to call from any goroutine, including from event
// consumers and connection handlers.
//
// The zero Server is ready to use: it is what CreateServer(ServerOptions{},
// nil) makes, a server without a handler whose connections come as
// ConnectionEvents. A nil *Server is no server: its methods that return an
// error return one wrapping ErrInvalidArgument, Events gives a closed
// channel, the other getters zero, and Ref and Unref do nothing.
type Server struct {
	mu      sync.Mutex
	opts    ServerOptions
	flow    flow // of every accepted socket
	handler func(*Socket)

	ln         net.Listener
	listening  bool
	closing    bool          // Close was called; CloseEvent waits for the connections
	stop       chan struct{} // closed by Close: the accept loop stops waiting
	acceptDone chan struct{} // closed when the accept loop has returned
	closed     chan struct{} // closed when the CloseEvent is queued (for Shutdown)
	conns      map[*Socket]struct{}
	handshakes map[net.Conn]struct{} // TLS: accepted conns in their handshake (tls.go); Close closes them
	hsRunning  int                   // TLS: handshake goroutines still running; the CloseEvent waits for them
	maxConns   int                   // SetMaxConnections; 0: no limit
	room       chan struct{}         // 1-buffered: a connection closed (WaitOverLimit)
	exclusive  bool                  // ListenOptions.Exclusive: the socket is not shared
	stopCtx    func() bool           // stops ListenContext's AfterFunc
	ref        handleRef

	handlers     int           // connection handlers running
	handlersDone chan struct{} // closed when handlers falls to 0; made by Shutdown

	accepted, dropped, forced atomic.Int64 // for Stats
	shuttingDown              atomic.Bool  // Shutdown was called: idle connections end

	ev *serverStream // the events of the current listening cycle; never nil once lock has made it
}

// CreateServer is Node's net.createServer(options, connectionListener).
// onConnection, when not nil, runs in a goroutine of its own for every
// accepted connection, as well as a ConnectionEvent being emitted. The
// server does not listen until Listen, ListenUnix or ListenHandle. Invalid
// options (a bad mark, a TLSConfig without a certificate, a negative
// HandshakeTimeout) are an error wrapping ErrInvalidArgument, as Node's
// createServer throws, and no server is made.
//
// A panic in onConnection does not end the process, as in net/http: it is
// recovered in the handler's goroutine and logged with its stack by the
// standard log package, and that connection is destroyed with an error
// saying that the handler panicked (the peer sees the connection close),
// which the server's Events also carry as an ErrorEvent. The other
// connections go on, and Shutdown counts the handler as returned. Panics
// of the ConnState hook, of write callbacks and of the TLSConfig's
// callbacks are stopped alike (see the package documentation).
func CreateServer(opts ServerOptions, onConnection func(*Socket)) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	f, _ := opts.flow() // validate has checked it
	return &Server{
		opts:    opts,
		flow:    f,
		handler: onConnection,
		conns:   make(map[*Socket]struct{}),
		ev:      new(serverStream),
	}, nil
}

// lock takes the server's lock; it reports false, taking nothing, for a
// nil srv. A zero Server is first made what CreateServer(ServerOptions{},
// nil) makes: every method that a zero Server may meet first locks with
// it.
func (srv *Server) lock() bool {
	if srv == nil {
		return false
	}
	srv.mu.Lock()
	if srv.ev == nil {
		srv.flow, _ = ServerOptions{}.flow() // the zero options are valid
		srv.conns = make(map[*Socket]struct{})
		srv.ev = new(serverStream)
	}
	return true
}

// Events returns the channel on which the server delivers its events in
// order: ListeningEvent, ConnectionEvent, ErrorEvent (a failed listen or
// accept, a connection handler that panicked), and a last CloseEvent once
// the server is closed and its last connection has closed, after which
// the channel is closed. Every call returns the same channel until the
// server listens again after its CloseEvent. Receive from it until it is
// closed; events before the first call are kept (at most 16), later ones
// are delivered to you in order.
func (srv *Server) Events() <-chan Event {
	if !srv.lock() {
		return closedEvents
	}
	defer srv.mu.Unlock()
	ch := srv.ev.out.subscribe()
	srv.kickLocked(srv.ev)
	return ch
}

// Listen is Node's server.listen(port, host, backlog): it binds host:port
// and listens with backlog (0 means 511; it reaches
// listen(2), except on Windows: see ListenOptions.Backlog). Port 0 picks
// a free port; host "" means every IPv4 address ("0.0.0.0"), as Node
// v0.10 does; ask for "::" to get IPv6. On success a ListeningEvent
// follows and Address reports the bound address at once. A failure
// (EADDRINUSE, EACCES, ENOTFOUND for an unknown host) is returned as an
// *Error and also emitted as an ErrorEvent; the server may then Listen
// again.
func (srv *Server) Listen(port int, host string, backlog int) error {
	open, err := tcpOpener(ListenOptions{Port: port, Host: host, Backlog: backlog})
	if err != nil {
		return err
	}
	return srv.listen(open)
}

// ListenUnix is Node's server.listen(path): it listens on a Unix socket
// at path, which must not exist (EADDRINUSE otherwise, even for a stale
// socket file left by a process that died: remove it first if you know it
// is stale). The file is removed when the server closes.
func (srv *Server) ListenUnix(path string) error {
	if path == "" {
		return argError("Unix socket path is empty")
	}
	return srv.listen(unixOpener(path, 0))
}

// ListenHandle is Node's server.listen(handle): h is a net.Listener (used
// as it is; the server closes it), another *Server (its listening socket
// is shared through a duplicated descriptor), an *os.File, or an int file
// descriptor of a listening socket (duplicated; the caller keeps the
// original; unix only: Windows gives an ENOTSUP *Error wrapping
// errors.ErrUnsupported). Anything else is an error.
func (srv *Server) ListenHandle(h any) error {
	var open func() (net.Listener, error)
	switch h := h.(type) {
	case net.Listener:
		if isNil(h) {
			return argError("ListenHandle: nil %T", h)
		}
		open = func() (net.Listener, error) { return h, nil }
	case *Server:
		if h == nil {
			return argError("ListenHandle: nil server")
		}
		open = h.dupListener
	case *os.File:
		if h == nil {
			return argError("ListenHandle: nil file")
		}
		open = func() (net.Listener, error) { return fileListener(h) }
	case int:
		if h < 0 {
			return argError("ListenHandle: bad file descriptor %d", h)
		}
		open = func() (net.Listener, error) {
			fd, err := dupCloseOnExec(h)
			if err != nil {
				return nil, sysError("listen", "", err)
			}
			f := os.NewFile(uintptr(fd), "fd "+strconv.Itoa(h))
			defer f.Close()
			return fileListener(f)
		}
	default:
		return argError("ListenHandle: unsupported handle type %T", h)
	}
	return srv.listen(open)
}

// fileListener listens on the socket of f. listen(2) is called on it, as
// Node does with a handle: a socket that is bound but not yet listening
// starts listening, and a connected socket is refused with EINVAL.
func fileListener(f *os.File) (net.Listener, error) {
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, sysError("listen", f.Name(), err)
	}
	if err := setBacklog(ln, defaultBacklog); err != nil {
		ln.Close()
		return nil, sysError("listen", f.Name(), err)
	}
	return ln, nil
}

// dupListener gives a new listener on srv's listening socket.
func (srv *Server) dupListener() (net.Listener, error) {
	srv.lock()
	ln := srv.ln
	listening, exclusive := srv.listening, srv.exclusive
	srv.mu.Unlock()
	sc, ok := ln.(syscall.Conn)
	switch {
	case !listening || !ok:
		return nil, argError("ListenHandle: the server is not listening on a socket")
	case exclusive:
		return nil, argError("ListenHandle: the server listens with Exclusive: its socket is not shared")
	}
	f, err := listenerFile(sc)
	if err != nil {
		return nil, sysError("listen", "", err)
	}
	defer f.Close()
	return fileListener(f)
}

// setBacklog calls listen(2) again on the bound socket with backlog: Linux
// takes a second listen as a change of the queue length (so do macOS and
// FreeBSD; Windows ignores it, see listenFD), and the standard library
// always passes the system's maximum.
func setBacklog(ln net.Listener, backlog int) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = listenFD(fd, backlog) }); err != nil {
		return err
	}
	if lerr != nil {
		return os.NewSyscallError("listen", lerr)
	}
	return nil
}

func (srv *Server) listen(open func() (net.Listener, error)) error {
	return srv.listenWith(context.Background(), open, false)
}

// listenWith listens on what open gives. exclusive and ctx
// are ListenContext's: both take effect with the listening state, under
// the same lock, so that no one sees the one without the other.
func (srv *Server) listenWith(ctx context.Context, open func() (net.Listener, error), exclusive bool) error {
	if srv == nil {
		return errNilServer
	}
	srv.lock()
	if srv.listening || srv.closing {
		srv.mu.Unlock()
		return ErrAlreadyListening
	}
	if srv.ev.closeQueued {
		// Listening again after a close: a new stream; the old one
		// still delivers its CloseEvent to its consumer.
		srv.ev = new(serverStream)
		srv.shuttingDown.Store(false)
	}
	srv.mu.Unlock()

	ln, err := open()

	srv.mu.Lock()
	if err == nil && (srv.listening || srv.closing) {
		srv.mu.Unlock()
		ln.Close() // a concurrent Listen won
		return ErrAlreadyListening
	}
	if err != nil {
		srv.pushLocked(ErrorEvent{Err: err})
		srv.mu.Unlock()
		return err
	}
	srv.ln = ln
	srv.listening = true
	srv.exclusive = exclusive
	if ctx.Done() != nil {
		// No goroutine waits for ctx: AfterFunc runs Close when it is
		// done, and Close cancels the AfterFunc when the server closes
		// first.
		srv.stopCtx = context.AfterFunc(ctx, func() { srv.closeListener(ln) })
	}
	srv.acceptDone = make(chan struct{})
	srv.closed = make(chan struct{})
	srv.ref.set(true, srv.ref.unref)
	srv.pushLocked(ListeningEvent{})
	srv.stop = make(chan struct{})
	go srv.acceptLoop(ln, srv.stop, srv.acceptDone)
	srv.mu.Unlock()
	return nil
}

// acceptLoop accepts until the listener is closed. Other accept errors
// (EMFILE, ...) are emitted and retried after a pause that grows from
// 5 ms to 1 s, as net/http does, so a process out of descriptors does not
// spin.
func (srv *Server) acceptLoop(ln net.Listener, stop, done chan struct{}) {
	defer close(done)
	var delay time.Duration
	for {
		if !srv.waitForRoom(stop) {
			return
		}
		conn, err := ln.Accept()
		if err != nil {
			srv.mu.Lock()
			stopping := !srv.listening || srv.ln != ln
			if !stopping {
				srv.pushLocked(ErrorEvent{Err: sysError("accept", ln.Addr().String(), err)})
			}
			srv.mu.Unlock()
			if stopping || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if !sleep(delay, stop) {
				return
			}
			continue
		}
		delay = 0
		srv.accept(conn)
	}
}

// sleep pauses the accept loop; it returns false if Close is called
// meanwhile.
func sleep(d time.Duration, stop chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// accept hands a new connection to the program, or drops it: closes it at
// once, as Node does (the client sees the connection, then its end), when
// the server is over its connection limit, closing, or the peer's address
// is blocked; a DropEvent tells it, as later Node's 'drop' does. A TLS
// server admits the connection first, then runs its handshake on a
// goroutine of its own (tls.go), so that a client slow to handshake holds
// a slot of the limit but never the accept loop.
func (srv *Server) accept(conn net.Conn) {
	srv.mu.Lock()
	reason := ""
	switch {
	case !srv.listening:
		reason = "closing"
	case srv.overLimitLocked():
		reason = "maxConnections"
	case srv.opts.BlockList != nil && srv.opts.BlockList.checkAddr(conn.RemoteAddr()):
		reason = "blockList"
	}
	if reason != "" {
		srv.dropLocked(conn, reason, nil)
		srv.mu.Unlock()
		conn.Close()
		return
	}
	if srv.opts.TLSConfig != nil {
		srv.startHandshakeLocked(conn)
		srv.mu.Unlock()
		return
	}
	s := srv.newSocketLocked()
	srv.mu.Unlock()
	srv.announce(s, conn)
}

// dropLocked counts a connection closed without being handed to the
// program and tells the consumer why, unless the server is closing.
func (srv *Server) dropLocked(conn net.Conn, reason string, err error) {
	srv.dropped.Add(1)
	if reason != "closing" {
		srv.pushLocked(DropEvent{Local: addrOf(conn.LocalAddr()), Remote: addrOf(conn.RemoteAddr()), Reason: reason, Err: err})
	}
}

// overLimitLocked reports whether the server is at its connection limit.
func (srv *Server) overLimitLocked() bool {
	return srv.maxConns > 0 && srv.activeLocked() >= srv.maxConns
}

// activeLocked is the number of connections that count against the
// limit: the open ones and those in their TLS handshake.
func (srv *Server) activeLocked() int {
	return len(srv.conns) + len(srv.handshakes)
}

// newSocketLocked makes the socket of an admitted connection and counts
// it as open.
func (srv *Server) newSocketLocked() *Socket {
	srv.accepted.Add(1)
	s := newSocket(srv.opts.AllowHalfOpen, srv.flow)
	s.server = srv
	s.c.handling = srv.handler != nil
	srv.opts.applyTo(s)
	srv.conns[s] = struct{}{}
	return s
}

// announce starts s on conn and hands it to the program: ConnState, the
// ConnectionEvent, the handler. The server's lock is not held, since a
// closing socket takes its own lock and then the server's.
func (srv *Server) announce(s *Socket, conn net.Conn) {
	// Start the socket before announcing it, so that whoever receives it
	// finds it open. A TLS socket is announced by its handshake goroutine,
	// after the accept loop: Shutdown may have destroyed it meanwhile, and
	// then nobody hears of it.
	s.mu.Lock()
	if s.c.phase == phaseClosed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.startLocked(conn)
	s.mu.Unlock()
	if hook := srv.opts.ConnState; hook != nil {
		s.callConnState(hook, true)
		s.mu.Lock()
		closed := s.c.phase == phaseClosed
		s.mu.Unlock()
		if closed {
			return // the hook destroyed it: nobody else hears of it
		}
	}
	srv.mu.Lock()
	srv.pushLocked(ConnectionEvent{Socket: s})
	srv.mu.Unlock()
	if srv.handler != nil {
		srv.mu.Lock()
		srv.handlers++
		srv.mu.Unlock()
		go func() {
			defer srv.handlerReturned(s)
			defer srv.recoverHandler(s)
			srv.handler(s)
		}()
	}
}

// handlerReturned runs when a connection handler returns (or its panic
// has been recovered): Shutdown waits for the last one.
func (srv *Server) handlerReturned(s *Socket) {
	s.handlerReturned()
	srv.mu.Lock()
	if srv.handlers--; srv.handlers == 0 && srv.handlersDone != nil {
		close(srv.handlersDone)
		srv.handlersDone = nil
	}
	srv.mu.Unlock()
}

// waitForRoom holds the accept loop while the server is at its connection
// limit under WaitOverLimit, so that new connections wait in the listen
// backlog. It returns false if the server closes meanwhile.
func (srv *Server) waitForRoom(stop chan struct{}) bool {
	for {
		srv.mu.Lock()
		full := srv.opts.WaitOverLimit && srv.overLimitLocked()
		if full && srv.room == nil {
			srv.room = make(chan struct{}, 1)
		}
		room := srv.room
		srv.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-room:
		case <-stop:
			return false
		}
	}
}

// release is called by a socket of the server when it closes.
func (srv *Server) release(s *Socket) {
	srv.mu.Lock()
	delete(srv.conns, s)
	srv.roomLocked()
	srv.maybeCloseLocked()
	srv.mu.Unlock()
}

// roomLocked tells an accept loop waiting under WaitOverLimit that a
// connection has gone.
func (srv *Server) roomLocked() {
	if srv.room != nil {
		select {
		case srv.room <- struct{}{}:
		default:
		}
	}
}

func (srv *Server) maybeCloseLocked() {
	if srv.closing && len(srv.conns) == 0 && srv.hsRunning == 0 {
		srv.closing = false
		srv.pushLocked(CloseEvent{})
		close(srv.closed)
	}
}

// Close is Node's server.close(): it stops accepting at once (new
// connection attempts are refused) and leaves open connections alone; the
// CloseEvent comes when the last of them has closed. A TLS server also
// closes the connections still in their handshake (ServerOptions.TLSConfig):
// no ConnectionEvent comes after Close. It returns ErrNotRunning when the
// server is not listening, and no ListeningEvent comes after it. When
// Close returns, the accept loop has stopped.
func (srv *Server) Close() error {
	if !srv.lock() {
		return errNilServer
	}
	if !srv.listening {
		srv.mu.Unlock()
		return ErrNotRunning
	}
	srv.listening = false
	srv.closing = true
	srv.cancelListeningLocked()
	close(srv.stop)
	srv.ln.Close()
	if srv.stopCtx != nil {
		srv.stopCtx()
		srv.stopCtx = nil
	}
	srv.ref.set(false, srv.ref.unref)
	done := srv.acceptDone
	handshaking := make([]net.Conn, 0, len(srv.handshakes))
	for conn := range srv.handshakes {
		handshaking = append(handshaking, conn)
	}
	srv.mu.Unlock()
	// Their goroutines see the closed conn and the closed server, drop
	// them without a DropEvent and leave; the CloseEvent waits for them.
	for _, conn := range handshaking {
		conn.Close()
	}
	<-done // the accept loop never waits on anything but the listener
	srv.mu.Lock()
	srv.maybeCloseLocked()
	srv.mu.Unlock()
	return nil
}

// closeListener is ListenContext's Close when its context is done; it
// does nothing if the server has closed and listened again since.
func (srv *Server) closeListener(ln net.Listener) {
	srv.mu.Lock()
	same := srv.listening && srv.ln == ln
	srv.mu.Unlock()
	if same {
		srv.Close()
	}
}

// Address is Node's server.address(): the bound address, with the port
// the system chose for port 0, or the path of a Unix socket. It is the
// zero Addr when the server is not listening.
func (srv *Server) Address() Addr {
	if !srv.lock() {
		return Addr{}
	}
	defer srv.mu.Unlock()
	if !srv.listening {
		return Addr{}
	}
	return addrOf(srv.ln.Addr())
}

// Connections is Node's getConnections(): the number of open connections
// accepted by the server, at the time of the call, counting those of a
// TLS server still in their handshake, as Node's tls.Server does.
func (srv *Server) Connections() int {
	if !srv.lock() {
		return 0
	}
	defer srv.mu.Unlock()
	return srv.activeLocked()
}

// SetMaxConnections is Node's maxConnections: once n connections are open
// (a TLS server's in their handshake count), further ones are accepted and
// closed at once with a DropEvent (Node v18.6's 'drop'), or, with
// ServerOptions.WaitOverLimit, wait in the listen backlog until a
// connection closes. 0 means no limit; a negative n is an error. Lowering
// it does not close open connections; raising it lets waiting ones in.
// Safe for concurrent use.
func (srv *Server) SetMaxConnections(n int) error {
	if n < 0 {
		return argError("max connections should be >= 0, got %d", n)
	}
	if !srv.lock() {
		return errNilServer
	}
	srv.maxConns = n
	srv.roomLocked() // a raised limit lets a waiting accept loop go on
	srv.mu.Unlock()
	return nil
}

// Ref makes the listening server count for Wait again after Unref (the
// default).
func (srv *Server) Ref() {
	if !srv.lock() {
		return
	}
	srv.ref.set(srv.ref.active, false)
	srv.mu.Unlock()
}

// Unref lets Wait return while the server is still listening, as Node's
// unref lets the process exit.
func (srv *Server) Unref() {
	if !srv.lock() {
		return
	}
	srv.ref.set(srv.ref.active, true)
	srv.mu.Unlock()
}
