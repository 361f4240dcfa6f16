package nodenet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"syscall"
)

// Error is a system error as Node reports it: Code is Node's code string
// ("ECONNREFUSED", "EADDRINUSE", "ECONNRESET", "EPIPE", "ENOENT",
// "ENOTFOUND", ...) and Syscall the operation that failed ("connect",
// "listen", "accept", "read", "write", "getaddrinfo", "bind"), or "" where
// Node gives none. Err is the cause, so errors.Is(err, syscall.ECONNREFUSED)
// holds. An *Error is immutable once made and safe to share. The methods
// of a nil *Error give "<nil>" and nil, as net.OpError's do.
type Error struct {
	Code    string
	Syscall string
	// Address is the address involved ("127.0.0.1:8124", a Unix path), when
	// known. It is not part of the message, as in Node v0.10.
	Address string
	// Msg replaces the message Node builds from Syscall and Code, for the
	// errors Node words differently (EPIPE after the peer's FIN).
	Msg string
	Err error
}

// Error returns Node's message: Syscall and Code ("connect ECONNREFUSED"),
// or Msg when set.
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Msg != "" {
		return e.Msg
	}
	if e.Syscall == "" {
		return e.Code
	}
	return e.Syscall + " " + e.Code
}

// Unwrap returns the cause, usually a syscall.Errno.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

var (
	// ErrWriteAfterEnd is returned by the write methods (and carried by an
	// ErrorEvent) when data is written after End. It does not destroy the
	// socket. The message is Node's.
	ErrWriteAfterEnd = errors.New("write after end")

	// ErrSocketClosed is returned by the write methods of a socket that is
	// destroyed, closed, or was never connected. The message is Node's.
	ErrSocketClosed = errors.New("This socket is closed.") //lint:ignore ST1005 Node's message, kept verbatim

	// ErrDestroyed is the error a write callback gets when the socket is
	// destroyed before the write's bytes reach the kernel: Node 14+'s
	// ERR_STREAM_DESTROYED, with its message. (When an error destroys the
	// socket, the callbacks get that error instead.)
	ErrDestroyed = &Error{Code: "ERR_STREAM_DESTROYED", Msg: "Cannot call write after a stream was destroyed"}

	// ErrServerShutdown is what a NetConn view's Read returns, once, when
	// the socket's server starts shutting down (Server.Shutdown), and what
	// a Write blocked in the view then returns: the blocking form of the
	// ShutdownEvent, for code written against net.Conn (bufio, Scanner).
	// The connection stays open: finish, then Close.
	ErrServerShutdown = errors.New("nodenet: the server is shutting down")

	// ErrIdleTimeout is what a NetConn view's Read returns, once, when the
	// socket's idle timeout (SetTimeout) fires, and what a Write blocked in
	// the view then returns: the blocking form of the TimeoutEvent. It is a
	// net.Error whose Timeout is true. The connection stays open.
	ErrIdleTimeout error = idleTimeoutError{}

	// ErrBufferFull is returned by Send, SendString, End and EndString when
	// the data would take the write queue past the socket's MaxBufferSize.
	// Nothing is queued; the socket stays open.
	ErrBufferFull = errors.New("nodenet: write queue is full (MaxBufferSize)")

	// ErrNotRunning is returned by Server.Close when the server is not
	// listening. The message is Node's.
	ErrNotRunning = errors.New("Not running") //lint:ignore ST1005 Node's message, kept verbatim

	// ErrInvalidArgument is wrapped by every error about a bad argument (a
	// port out of range, an unknown handle, a negative timeout, ...), so
	// errors.Is(err, ErrInvalidArgument) tells them from I/O errors.
	ErrInvalidArgument = errors.New("nodenet: invalid argument")

	// ErrAlreadyListening is returned by the Listen methods of a server that
	// is already listening.
	ErrAlreadyListening = errors.New("nodenet: server is already listening")

	// ErrAlreadyConnected is returned by Socket.Connect while the socket is
	// connecting or connected.
	ErrAlreadyConnected = errors.New("nodenet: socket is already connecting or connected")
)

// The errors of the methods of a nil *Socket, *Server and *BlockList
// (those that return an error): a nil receiver is a bad argument.
var (
	errNilSocket    = fmt.Errorf("%w: nil *Socket", ErrInvalidArgument)
	errNilServer    = fmt.Errorf("%w: nil *Server", ErrInvalidArgument)
	errNilBlockList = fmt.Errorf("%w: nil *BlockList", ErrInvalidArgument)
)

// idleTimeoutError is ErrIdleTimeout's type: a timeout, as net.Error says.
type idleTimeoutError struct{}

func (idleTimeoutError) Error() string   { return "nodenet: idle timeout" }
func (idleTimeoutError) Timeout() bool   { return true }
func (idleTimeoutError) Temporary() bool { return true }

// errPeerEnded is Node's error for a write after the peer's FIN on a socket
// that does not allow half-open connections.
func errPeerEnded() *Error {
	return &Error{Code: "EPIPE", Msg: "This socket has been ended by the other party", Err: syscall.EPIPE}
}

// isNil reports whether v is nil or an interface value holding a nil
// pointer (or other nil reference), which would panic at its first use:
// arguments are checked with it so that they give an error instead.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func argError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// sysError converts an error of Go's net package into Node's shape. A nil
// error gives nil; an error that already is an *Error is kept.
func sysError(syscallName, address string, err error) error {
	if err == nil {
		return nil
	}
	var ne *Error
	if errors.As(err, &ne) {
		return ne
	}
	e := &Error{Syscall: syscallName, Address: address, Err: err}
	var dnsErr *net.DNSError
	var errno syscall.Errno
	switch {
	case errors.As(err, &dnsErr):
		// Node reports every failed lookup as ENOTFOUND from getaddrinfo.
		e.Code, e.Syscall = "ENOTFOUND", "getaddrinfo"
	case errors.As(err, &errno):
		e.Code = errnoName(errno)
		e.Err = errno
	case errors.Is(err, os.ErrDeadlineExceeded):
		e.Code, e.Err = "ETIMEDOUT", syscall.ETIMEDOUT
	default:
		e.Code = "UNKNOWN"
	}
	return e
}

// errnoNames holds the symbolic names of the errors a socket can meet; the
// standard library has no function that gives them.
var errnoNames = map[syscall.Errno]string{
	syscall.EACCES:          "EACCES",
	syscall.EADDRINUSE:      "EADDRINUSE",
	syscall.EADDRNOTAVAIL:   "EADDRNOTAVAIL",
	syscall.EAFNOSUPPORT:    "EAFNOSUPPORT",
	syscall.EAGAIN:          "EAGAIN",
	syscall.EALREADY:        "EALREADY",
	syscall.EBADF:           "EBADF",
	syscall.ECONNABORTED:    "ECONNABORTED",
	syscall.ECONNREFUSED:    "ECONNREFUSED",
	syscall.ECONNRESET:      "ECONNRESET",
	syscall.EHOSTDOWN:       "EHOSTDOWN",
	syscall.EHOSTUNREACH:    "EHOSTUNREACH",
	syscall.EINTR:           "EINTR",
	syscall.EINVAL:          "EINVAL",
	syscall.EISCONN:         "EISCONN",
	syscall.EMFILE:          "EMFILE",
	syscall.ENAMETOOLONG:    "ENAMETOOLONG",
	syscall.ENETDOWN:        "ENETDOWN",
	syscall.ENETUNREACH:     "ENETUNREACH",
	syscall.ENFILE:          "ENFILE",
	syscall.ENOBUFS:         "ENOBUFS",
	syscall.ENOENT:          "ENOENT",
	syscall.ENOMEM:          "ENOMEM",
	syscall.ENOTCONN:        "ENOTCONN",
	syscall.ENOTDIR:         "ENOTDIR",
	syscall.ENOTSOCK:        "ENOTSOCK",
	syscall.EOPNOTSUPP:      "EOPNOTSUPP",
	syscall.EPERM:           "EPERM",
	syscall.EPIPE:           "EPIPE",
	syscall.EPROTO:          "EPROTO",
	syscall.EPROTONOSUPPORT: "EPROTONOSUPPORT",
	syscall.EROFS:           "EROFS",
	syscall.ETIMEDOUT:       "ETIMEDOUT",
}

func errnoName(e syscall.Errno) string {
	if name, ok := errnoNames[e]; ok {
		return name
	}
	return fmt.Sprintf("ERRNO%d", int(e))
}
