package nodenet

import (
	"net"
	"os"
)

// maxHandleMessage is the longest message, in bytes, that SendHandle sends
// with a handle: 64 KiB. The message is for a few words of protocol (what
// the handle is, what to do with it); send bulk data on the connection.
const maxHandleMessage = 64 << 10

// SendHandle is Node's child.send(msg, handle): it sends h's socket
// descriptor over uc, as SCM_RIGHTS ancillary data, with msg (at most
// 64 KiB; it may be empty), to a process that takes it
// with ReceiveHandle. uc must be a stream Unix socket ("unix": one end of
// a socketpair, or a connection to net.ListenUnix("unix", ...)), as Node's
// IPC channel is. h is one of:
//
//   - A listening *Server. A duplicate of its listening socket is sent and
//     the server keeps listening, so both processes accept from the same
//     queue, as in Node's cluster; Close it to leave every connection to
//     the receiver. A server listening with ListenOptions.Exclusive is
//     refused. A Unix-socket server still owns its socket file: it removes
//     the file when it closes, and the receiver's copy then has no path.
//   - A connected *Socket. The connection moves to the receiver: SendHandle
//     takes its descriptor and destroys the Socket, so that exactly one
//     process owns the connection, as Node closes a sent socket in the
//     sender. The Socket's consumer still receives the events already in
//     its channel, then a CloseEvent{HadError: false}; its server no
//     longer counts it. A socket is refused, and left as it was, while it
//     holds data it has read but not delivered (the data could not follow
//     the descriptor), bytes written but not yet handed to the kernel, or
//     an End still flushing. To send a connection with nothing read from
//     it, accept it with ServerOptions.PauseOnConnect and send it before
//     Resume. Pause is not enough: a paused socket reads on up to its
//     high-water mark. A socket that reads can also hold, unseen, a chunk
//     it took from the kernel just before SendHandle, which would be lost:
//     send a reading socket only while its peer waits for a reply. A
//     closed uc is found before the Socket is taken; if the send fails
//     after that, the taken connection is closed.
//   - Any other value with a descriptor (a syscall.Conn: *os.File,
//     *net.TCPListener, *net.UnixListener, *net.TCPConn, ...). A duplicate
//     is sent; h stays the caller's, open, in this process too.
//
// Bad arguments (a nil uc or h, a type without a descriptor, msg too long,
// a socket that cannot go) give an error wrapping ErrInvalidArgument, a
// server that is not listening one wrapping ErrNotRunning, a closed or
// never-connected socket one wrapping ErrSocketClosed; in each case
// nothing is sent and h is unchanged. A failed send returns uc's error,
// wrapped, so that errors.Is finds its cause (syscall.EPIPE, net.ErrClosed,
// os.ErrDeadlineExceeded for a deadline set on uc).
//
// SendHandle may run while other goroutines use h: it takes h's lock. It
// must not overlap another SendHandle or other writes on the same uc,
// since a message may take more than one write.
//
// Windows has no SCM_RIGHTS: there SendHandle sends nothing and returns an
// *Error whose Code is "ENOTSUP", wrapping errors.ErrUnsupported.
func SendHandle(uc *net.UnixConn, h any, msg []byte) error {
	return sendHandle(uc, h, msg)
}

// ReceiveHandle reads one message sent by SendHandle from uc and returns
// its descriptor as f, marked close-on-exec, and the message (empty when
// none was sent). The caller owns f: give it to Server.ListenHandle or to
// NewSocket(SocketOptions{FD: f}), which duplicate it, then close it. Do
// not call f.Fd(): it would put the socket, which the sender may still
// share, in blocking mode in both processes.
//
// ReceiveHandle returns io.EOF when uc's peer has closed before a message
// began, and io.ErrUnexpectedEOF within one. A message that carries no
// descriptor, or more than one (past the room for one, the control data
// is cut short: MSG_CTRUNC), or whose length is over 64 KiB is
// an error, and every descriptor that came with it is closed (those cut
// off never reach this process). After an error the stream is at an
// unknown place in the peer's messages: close uc. A nil uc, or one that
// is not a stream Unix socket, gives an error wrapping ErrInvalidArgument.
//
// ReceiveHandle blocks until a message comes; a read deadline on uc bounds
// the wait (the error then wraps os.ErrDeadlineExceeded, as other errors
// of uc are wrapped). It must not overlap another ReceiveHandle or other
// reads on the same uc.
//
// On Windows, as SendHandle, it reads nothing and returns an ENOTSUP
// *Error wrapping errors.ErrUnsupported.
func ReceiveHandle(uc *net.UnixConn) (f *os.File, msg []byte, err error) {
	return receiveHandle(uc)
}
