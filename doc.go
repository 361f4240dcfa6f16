// Package nodenet is Node.js v0.10's net module for Go: TCP and Unix
// socket servers and sockets with Node's behaviour (events, half-close,
// backpressure, idle timeouts, pause/resume, encodings, byte counters),
// built on the standard library's net package.
//
// # Servers and sockets
//
// CreateServer makes a Server; Listen, ListenUnix or ListenHandle start
// it. Connect makes a client Socket and connects it in the background.
// Node's manual's echo server is:
//
//	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
//		c.SendString("hello\r\n", "", nil)
//		c.Pipe(c)
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	err = srv.Listen(8124, "", 0)
//
// The handler runs in its own goroutine for each connection, at the same
// time as the other connections' handlers (Node calls its listeners one
// at a time, on one thread), so state that handlers share needs a lock. A
// handler is written in one of two styles: Node's, a loop over the
// socket's Events that writes with Send; or Go's, blocking reads and
// writes on the socket's net.Conn view (NetConn), where the idle timeout
// and the server's Shutdown come as the errors ErrIdleTimeout and
// ErrServerShutdown. The README shows one handler both ways;
// examples/chat and examples/lineproto are services written each way.
//
// A handler that panics does not end the process, as in net/http: the
// panic is recovered in the handler's goroutine and logged, with its
// stack, by the standard log package; that connection is destroyed with
// an error saying that its handler panicked, which the server's Events
// also carry as an ErrorEvent; the other connections go on, and Shutdown
// counts the handler as returned. The program's other code that the
// library calls on its own goroutines is treated alike: a write callback
// or the ConnState hook that panics destroys its socket with the error
// (a server's Events carry it too); a Framing's Split that panics breaks
// the stream as an error of Split does; a tls.Config callback that panics
// fails that handshake. A *tls.Conn given to WrapConn before its handshake
// runs the handshake, and its callbacks, in the socket's first read or
// write, unguarded: call its Handshake first.
//
// # Events
//
// A Socket and a Server each deliver Node's events, in Node's order, on one
// channel returned by Events: a range loop over it ends after the
// CloseEvent, the last event. Events are values of the *Event types
// (ConnectEvent, DataEvent, EndEvent, TimeoutEvent, DrainEvent, ErrorEvent,
// CloseEvent; ListeningEvent and ConnectionEvent for a Server), told apart
// by a type switch. The order guarantees are Node's:
//
//   - ConnectEvent comes before any DataEvent, EndEvent or DrainEvent of the
//     connection, at most once per Connect.
//   - DataEvents arrive in byte order, with nothing lost or repeated, across
//     Pause and Resume and however late the consumer subscribes.
//   - EndEvent comes once, after all the peer's data; CloseEvent comes exactly
//     once, last, after EndEvent; nothing follows it.
//   - An error that destroys the socket (connect, read or write failure) is
//     an ErrorEvent followed by CloseEvent{HadError: true}.
//
// The channel is unbuffered and each socket has one goroutine that reads
// from the connection and sends on it: when an event is received, the
// socket knows. So the EndEvent ends this side (without AllowHalfOpen)
// exactly when the consumer has it, and a method called while handling an
// event acts before the next one: a reply to the last DataEvent goes out
// before the end, an error a write reports comes before the CloseEvent,
// and Pause stops the next DataEvent.
//
// A program that never calls Events loses nothing and leaks nothing: the
// socket keeps up to its high-water mark of data and stops reading, and
// still closes when the peer ends with nothing unread. A program that
// calls Events receives until the channel closes; after Destroy the rest
// (an ErrorEvent, the CloseEvent) comes at once. A consumer that leaves
// its loop early calls Close, which ends the stream (otherwise the
// socket's goroutine waits for it).
//
// Methods never wait for the consumer of Events, so they may be called from
// the goroutine that reads them. Write callbacks run on a goroutine of the
// socket and must not block.
//
// DESIGN.md, beside the code, describes the goroutines, their owners and
// the lifecycle of a connection.
//
// # Writing
//
// Send is Node's write(): it never blocks and returns Node's bool against
// the high-water mark (16 KiB by default), with a DrainEvent after a
// false. Write satisfies io.Writer: it queues up to the mark and blocks
// while the queue is at it instead. SendString and EndString take Node's
// encodings. End flushes the queue and half-closes with CloseWrite.
// BufferSize counts the bytes the kernel has not taken yet.
//
// Node's backpressure recipe, Pause when Send returns false and Resume on
// the DrainEvent, bounds reading: no more of the peer's requests are read
// while it has the high-water mark of replies unread. It does not bound
// the replies that one read produces, which are all queued before the
// loop can pause, and one read can hold many pipelined requests (300 GETs
// of a 1 MiB value fit in a 9 KB read and ask for 300 MiB). Set
// MaxBufferSize, so that a Send past it fails with ErrBufferFull and
// queues nothing (then drop the peer, or stop answering), or write the
// replies with Write, which waits at the mark for the peer to read.
//
// # Zero values and nil
//
// The zero Socket is ready to use, as NewSocket(SocketOptions{}) makes it,
// and so is the zero Server, as CreateServer(ServerOptions{}, nil) makes
// it; the zero BlockList is empty. No method of a nil *Socket, *Server or
// *BlockList panics: one that returns an error returns one wrapping
// ErrInvalidArgument, Events returns a closed channel, and the others do
// nothing or report an empty or closed value, as each type's
// documentation says. The error types' methods on a nil pointer (*Error and
// *ForcedError) give "<nil>" and nil.
//
// # Differences from Node
//
// Where Node v0.10's manual, its code and later Node differ, nodenet
// follows these decisions:
//
//   - What Node throws (a bad port, an unknown encoding) is a returned error,
//     never a panic. What Node emits and also reports to a write callback
//     (write after End, write after the peer's end) is both returned and
//     emitted as an ErrorEvent; such errors do not close the socket, and a
//     failed Send does not call its callback. Every accepted write's
//     callback runs exactly once (Node 14+): nil once the kernel has the
//     bytes, or the error that closed the socket first (ErrDestroyed, Node's
//     ERR_STREAM_DESTROYED, after Destroy), before the CloseEvent.
//   - Send returns true while the queued bytes, counting this chunk, stay
//     under the high-water mark, and after a false exactly one DrainEvent
//     comes when the queue empties; v0.10.18 could lose it. Sizes are bytes,
//     also for strings (v0.10 counted UTF-16 units). Write (io.Writer) owes
//     no DrainEvent: it waits itself.
//   - CloseEvent is always last, as in Node 10 and later: a socket with
//     unread data at the peer's FIN stays open until the data and the
//     EndEvent have been delivered (v0.10 closed first).
//   - Without AllowHalfOpen the socket ends its own side when its consumer
//     has received the EndEvent, after every DataEvent before it, so a reply
//     written while handling the request still goes out; a write after
//     that fails with EPIPE "This socket has been ended by the other
//     party". With no consumer, no Pipe and no connection handler still
//     running (a handler may yet subscribe, as Node's 'connection' listener
//     runs before any read), a FIN with nothing unread ends the side at
//     once; with data unread, it ends when the data is consumed.
//   - A paused socket, or one whose events nobody reads, stops reading from
//     the kernel once it holds the high-water mark (v0.12's behaviour), so
//     TCP pushes back on the peer. Pause holds back DataEvents only: every
//     other event (drain, timeout, error, shutdown, the idle watches)
//     passes the data held and an EndEvent behind it, as Node v20 emits
//     'drain' and 'timeout' while paused, so the loop "Pause when Send
//     returns false, Resume on drain" never stalls.
//   - A port outside 0..65535 is an error ("port should be >= 0 and <
//     65536"); Connect needs a port or a path. Server.Close on a server that
//     is not listening returns ErrNotRunning, and no ListeningEvent is
//     delivered after an immediate Close. Listen on a listening server and
//     Connect on a connected socket are errors. A negative SetTimeout is an
//     error; 0 disables.
//   - Listen with no host binds 0.0.0.0 (IPv4 only), as v0.10; Connect with
//     no host dials "localhost", trying each address it resolves to.
//     LocalAddress is always honoured (v0.10 ignored it without a host).
//   - A failed DNS lookup is ENOTFOUND from getaddrinfo and, like every
//     connect failure, destroys the socket with CloseEvent{HadError: true}
//     (v0.10 gave false).
//   - Destroy and End on a socket that never connected emit a CloseEvent
//     and close the channel (Node emits no 'close' without a handle), so a
//     range loop always ends.
//   - Reconnecting a closed socket with Connect starts a new event channel
//     and emits EndEvent again on every connection (v0.10.18 did not).
//   - Errors keep the system's cause (errors.Is(err, syscall.ECONNREFUSED))
//     and carry Node's Code and Syscall in an *Error. Node's messages are
//     kept ("connect ECONNREFUSED", "write after end").
//   - Encodings: "latin1" is accepted as "binary"; invalid UTF-8 becomes one
//     U+FFFD per byte as v0.10 did; lone UTF-16 surrogates become U+FFFD.
//   - IsIP accepts an IPv6 zone ("fe80::1%eth0" is 6), as later Node.
//   - Go's TCP sockets start with Nagle's algorithm off; call
//     SetNoDelay(false) for Node's default.
//   - Ref and Unref drive the package's Wait, which returns when no
//     referenced server, socket or pending connect remains.
//   - MaxBufferSize, a guard Node lacks, bounds a socket's write queue:
//     Send and End fail with ErrBufferFull past it, Write waits.
//   - Listeners attach one at a time, not within one tick: to give a Pipe
//     and a reader of Events the same data, Pause, attach both, Resume.
//   - A connection over SetMaxConnections is closed with a DropEvent on
//     the server's channel, Node v18.6's 'drop' (v0.10 emitted nothing).
//   - Connect with a host that resolves to several addresses (localhost
//     among them) races them as Happy Eyeballs (RFC 8305, as Node v20's
//     autoSelectFamily); when all fail, the *Error carries the last
//     attempt's Code and joins every attempt's error.
//
// # Beyond Node v0.10
//
// Later Node, Netty, asyncio and net/http offer what Node v0.10 lacks; nodenet
// adds it in Go's terms, and none of it changes the behaviour above unless
// asked for:
//
//   - Contexts: ConnectContext, Server.ListenContext (its context also stops
//     the accept loop), Server.Shutdown(ctx), which also waits for the
//     connection handlers, Socket.WriteContext, Socket.EndContext, and
//     Socket.Context, which ends with the connection.
//   - Go interfaces: a Socket is an io.WriteCloser and an io.StringWriter
//     (Write, WriteString, Close: flush, then close, and end the events);
//     SetWriteDeadline bounds a blocked Write and Close's flush.
//   - Staged shutdown: Shutdown sends each connection a ShutdownEvent, ends
//     the idle ones, waits, and destroys the rest at the deadline
//     (*ForcedError).
//   - Framing: Flow.Framing (Lines, Delimited, LengthPrefixed, any
//     bufio.SplitFunc) makes each DataEvent one whole frame, with a bound.
//   - Flow control: Flow (LowWaterMark, ReadHighWaterMark, MaxBufferSize), Writable,
//     BytesBeforeUnwritable, ServerOptions.PauseOnConnect.
//   - Idle timeouts by direction: SetReadIdleTimeout, SetWriteIdleTimeout,
//     SetWriteStallTimeout, each with its event.
//   - TLS: ServerOptions.TLSConfig makes a TLS server that keeps every
//     Server feature (Shutdown, Stats, ConnState, BlockList, the limit):
//     the handshake runs after admission, off the accept loop, bounded by
//     HandshakeTimeout, and a failed one is a DropEvent "tlsHandshake";
//     ConnectOptions.TLSConfig makes a TLS client whose ConnectEvent comes
//     after the handshake. End sends close_notify, then the FIN.
//     Socket.TLSConnectionState tells the session.
//   - Interop: WrapConn (crypto/tls, net.Pipe), Socket.NetConn (whose Read,
//     and a Write blocked in it, return ErrServerShutdown and
//     ErrIdleTimeout once for the ShutdownEvent and the TimeoutEvent), Proxy.
//   - Listen and connect options: ListenOptions (IPv6Only, ReusePort,
//     Exclusive), ConnectOptions.Timeout, Resolver, Happy Eyeballs events,
//     ResetAndDestroy.
//   - Admission: WaitOverLimit (LimitListener's wait instead of Node's drop) and
//     BlockList for servers and clients.
//   - Observability: Socket.Stats, Server.Stats, ServerOptions.ConnState.
//   - Handles across processes: SendHandle and ReceiveHandle.
//
// # Platforms
//
// nodenet builds on Linux, macOS, FreeBSD and Windows; it is tested on
// Linux. On unix a connection is read and written through its
// descriptor: a read waits without holding a buffer, a write with nothing
// queued goes to the kernel from the caller, and the writer goroutine
// batches with writev. On Windows it is read and written through its
// net.Conn, as a TLS connection is everywhere. What a system lacks fails
// with an *Error whose Code is "ENOTSUP", wrapping errors.ErrUnsupported:
// ListenOptions.ReusePort except on Linux and FreeBSD (macOS's
// SO_REUSEPORT does not spread the connections, so Node refuses it too),
// and on Windows, which has no SCM_RIGHTS, SendHandle, ReceiveHandle and
// ListenHandle of an int. On Windows the listen backlog is the standard
// library's, and error Codes, named from unix errno values, give
// Winsock's errors as "ERRNO" and their number.
package nodenet
