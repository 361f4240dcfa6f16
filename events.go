package nodenet

import "fmt"

// Event is one event of a Socket or a Server, as Node emits it: a value of
// one of the *Event types of this package. A type switch tells them apart.
//
// Events are values: they own their payload and are safe to keep and to
// pass to other goroutines.
type Event interface {
	// eventName is Node's name for the event ("connect", "data", ...).
	eventName() string
}

// ConnectEvent is Node's 'connect': a client socket's connection is up.
// It comes at most once per Connect, before any other event of that
// connection but a TimeoutEvent of the connecting phase.
type ConnectEvent struct{}

// DataEvent is Node's 'data': bytes read from the peer. Data holds them
// while no encoding is set; once SetEncoding has been called, Text holds the
// decoded text instead and Data is nil. Chunk boundaries follow reads, not
// the peer's writes; a chunk may join several reads after a pause.
type DataEvent struct {
	Data []byte
	Text string
}

// EndEvent is Node's 'end': the peer has ended its side (FIN) and every
// byte it sent has been delivered in earlier DataEvents.
type EndEvent struct{}

// TimeoutEvent is Node's 'timeout': the socket has been idle for the
// duration set with SetTimeout. It comes once per idle period and does not
// close the socket.
type TimeoutEvent struct{}

// DrainEvent is Node's 'drain': the write queue has emptied after a Send
// returned false. It comes once for each such episode.
type DrainEvent struct{}

// ErrorEvent is Node's 'error'. Err is an *Error for a system error (its
// Code and Syscall are Node's), or one of the package's error values.
type ErrorEvent struct {
	Err error
}

// CloseEvent is Node's 'close', the last event of a socket or a server.
// For a socket, HadError reports whether the socket was destroyed by an
// error (an ErrorEvent came before it); a server's CloseEvent has HadError
// false. The event channel is closed right after it.
type CloseEvent struct {
	HadError bool
}

// ListeningEvent is a server's 'listening': Listen has bound the address.
type ListeningEvent struct{}

// ConnectionEvent is a server's 'connection': a connection was accepted
// (for a TLS server, its handshake has succeeded: Node's
// 'secureConnection'). The Socket is open and already reading; its data
// waits for a consumer.
type ConnectionEvent struct {
	Socket *Socket
}

// DropEvent is a server's 'drop' (Node v18.6): a connection was accepted
// and closed without being handed to the program. Reason is
// "maxConnections" (over the SetMaxConnections limit, without WaitOverLimit),
// "blockList" (the peer's address is in ServerOptions.BlockList), or
// "tlsHandshake" (a TLS server's handshake failed or timed out: Node's
// tls 'tlsClientError'). Err is nil but for "tlsHandshake", where it is an
// *Error saying why: Code "ERR_TLS_HANDSHAKE_TIMEOUT" past
// ServerOptions.HandshakeTimeout, "ECONNRESET" for a client that left,
// "EPROTO" for one that does not speak TLS or that the handshake refused,
// with crypto/tls's error as its cause.
type DropEvent struct {
	Local, Remote Addr
	Reason        string
	Err           error
}

// ConnectionAttemptEvent is Node v20's 'connectionAttempt': a connect
// starts trying one of the addresses its host resolved to.
type ConnectionAttemptEvent struct {
	Address Addr
}

// ConnectionAttemptFailedEvent is Node v20's 'connectionAttemptFailed':
// one address failed; the connect goes on with the others, if any.
type ConnectionAttemptFailedEvent struct {
	Address Addr
	Err     error
}

func (DropEvent) eventName() string                    { return "drop" }
func (ConnectionAttemptEvent) eventName() string       { return "connectionAttempt" }
func (ConnectionAttemptFailedEvent) eventName() string { return "connectionAttemptFailed" }

func (ConnectEvent) eventName() string    { return "connect" }
func (DataEvent) eventName() string       { return "data" }
func (EndEvent) eventName() string        { return "end" }
func (TimeoutEvent) eventName() string    { return "timeout" }
func (DrainEvent) eventName() string      { return "drain" }
func (ErrorEvent) eventName() string      { return "error" }
func (CloseEvent) eventName() string      { return "close" }
func (ListeningEvent) eventName() string  { return "listening" }
func (ConnectionEvent) eventName() string { return "connection" }

// EventName returns Node's name for ev: "connect", "data", "end",
// "timeout", "drain", "error", "close", "listening", "connection", or for
// the events of later Node and of nodenet, "drop", "connectionAttempt",
// "connectionAttemptFailed", "shutdown" and the others' names. It is safe
// for concurrent use.
func EventName(ev Event) string {
	if ev == nil {
		return ""
	}
	return ev.eventName()
}

// String describes the event for logs: the text, or the size of the data.
func (e DataEvent) String() string {
	if e.Data == nil {
		return fmt.Sprintf("data(%q)", e.Text)
	}
	return fmt.Sprintf("data(%d bytes)", len(e.Data))
}

// String describes the event for logs.
func (e ErrorEvent) String() string { return fmt.Sprintf("error(%v)", e.Err) }

// String describes the event for logs.
func (e CloseEvent) String() string { return fmt.Sprintf("close(%v)", e.HadError) }
