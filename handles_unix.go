//go:build unix

package nodenet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// SendHandle and ReceiveHandle (handles.go) on unix, and the duplicating
// of descriptors: the descriptor goes as SCM_RIGHTS ancillary data, which
// Windows does not have (handles_windows.go).

// handleHeader is the length of the prefix that gives each message's
// length. A stream socket keeps no message boundaries, and it carries
// ancillary data only with at least one byte of data, so an empty message
// needs the prefix too.
const handleHeader = 4

// sendHandle is SendHandle with SCM_RIGHTS.
func sendHandle(uc *net.UnixConn, h any, msg []byte) error {
	if uc == nil {
		return argError("SendHandle: nil connection")
	}
	if err := checkStreamConn(uc, "SendHandle"); err != nil {
		return err
	}
	if len(msg) > maxHandleMessage {
		return argError("SendHandle: message of %d bytes is over maxHandleMessage (%d)", len(msg), maxHandleMessage)
	}
	// A closed uc is found before a Socket is taken for nothing; a peer
	// gone away is found only by the send.
	if err := checkOpen(uc); err != nil {
		return fmt.Errorf("nodenet: SendHandle: %w", err)
	}
	fd, err := takeHandle(h)
	if err != nil {
		return err
	}
	// The kernel holds its own reference to the socket once sendmsg has
	// returned, so this duplicate is closed whatever happens.
	defer syscall.Close(fd)
	frame := make([]byte, handleHeader+len(msg))
	binary.BigEndian.PutUint32(frame, uint32(len(msg)))
	copy(frame[handleHeader:], msg)
	n, _, err := uc.WriteMsgUnix(frame, syscall.UnixRights(fd), nil)
	if err == nil && n < len(frame) {
		// A stream may take the frame in parts; the descriptor went
		// with the first.
		_, err = uc.Write(frame[n:])
	}
	if err != nil {
		return fmt.Errorf("nodenet: SendHandle: %w", err)
	}
	return nil
}

// receiveHandle is ReceiveHandle with SCM_RIGHTS.
func receiveHandle(uc *net.UnixConn) (f *os.File, msg []byte, err error) {
	if uc == nil {
		return nil, nil, argError("ReceiveHandle: nil connection")
	}
	if err := checkStreamConn(uc, "ReceiveHandle"); err != nil {
		return nil, nil, err
	}
	// Only the length is read with the descriptor: on a stream, a longer
	// read could run into the next message.
	var hdr [handleHeader]byte
	// Room for one descriptor; alignment may leave room for a second,
	// which is closed below. More are cut off (MSG_CTRUNC) by the kernel.
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, flags, _, err := uc.ReadMsgUnix(hdr[:], oob)
	fds, perr := rightsOf(oob[:oobn])
	fail := func(err error) (*os.File, []byte, error) {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, nil, err
	}
	switch {
	case errors.Is(err, io.EOF):
		return fail(io.EOF)
	case err != nil:
		return fail(fmt.Errorf("nodenet: ReceiveHandle: %w", err))
	case perr != nil:
		return fail(fmt.Errorf("nodenet: ReceiveHandle: bad control message: %w", perr))
	case flags&syscall.MSG_CTRUNC != 0:
		return fail(errors.New("nodenet: ReceiveHandle: control data cut short (MSG_CTRUNC): the message carries more descriptors than one, or other control data"))
	case len(fds) == 0:
		return fail(errors.New("nodenet: ReceiveHandle: the message carries no descriptor"))
	case len(fds) > 1:
		return fail(fmt.Errorf("nodenet: ReceiveHandle: the message carries %d descriptors, want 1", len(fds)))
	}
	if err := readRest(uc, hdr[n:]); err != nil {
		return fail(err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxHandleMessage {
		return fail(fmt.Errorf("nodenet: ReceiveHandle: message length %d is over maxHandleMessage (%d): not a SendHandle message", size, maxHandleMessage))
	}
	msg = make([]byte, size)
	if err := readRest(uc, msg); err != nil {
		return fail(err)
	}
	// Go's ReadMsgUnix asks for MSG_CMSG_CLOEXEC where the system has it;
	// this covers the others.
	syscall.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "nodenet handle"), msg, nil
}

// readRest fills p from uc, for the part of a message that follows its
// first read.
func readRest(uc *net.UnixConn, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	_, err := io.ReadFull(uc, p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return err
	}
	return fmt.Errorf("nodenet: ReceiveHandle: %w", err)
}

// rightsOf returns the descriptors of the SCM_RIGHTS messages in oob, and
// those found before a message that does not parse, so that every one
// received can be closed.
func rightsOf(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range cmsgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_RIGHTS {
			continue // credentials and the like carry no descriptor
		}
		got, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// checkStreamConn refuses a datagram or seqpacket Unix socket: the framing
// assumes a stream.
func checkStreamConn(uc *net.UnixConn, fn string) error {
	if a := uc.LocalAddr(); a != nil && a.Network() != "unix" {
		return argError("%s: uc is a %s socket; want a stream (\"unix\") socket", fn, a.Network())
	}
	return nil
}

// checkOpen reports an error if uc is closed.
func checkOpen(uc *net.UnixConn) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(uintptr) {})
}

// takeHandle returns a new descriptor, close-on-exec, of h's socket, for
// SendHandle to send and close. A *Socket is destroyed once it is taken.
func takeHandle(h any) (int, error) {
	if isNil(h) {
		return -1, argError("SendHandle: nil handle (%T)", h)
	}
	switch h := h.(type) {
	case *Server:
		return h.dupForSend()
	case *Socket:
		return h.takeForSend()
	case syscall.Conn:
		rc, err := h.SyscallConn()
		if err != nil {
			return -1, sysError("dup", "", err)
		}
		return dupFD(rc)
	}
	return -1, argError("SendHandle: unsupported handle type %T (want a *Server, a *Socket, or a syscall.Conn such as *os.File or *net.TCPListener)", h)
}

// dupCloseOnExec duplicates fd, close-on-exec: a process started
// meanwhile must not inherit the duplicate before it is marked.
func dupCloseOnExec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(nfd)
	return nfd, nil
}

// dupFD duplicates the descriptor behind rc. Unlike the File methods, it
// leaves the socket's blocking mode alone.
func dupFD(rc syscall.RawConn) (int, error) {
	fd := -1
	var derr error
	err := rc.Control(func(sysfd uintptr) {
		fd, derr = dupCloseOnExec(int(sysfd))
	})
	if err == nil && derr != nil {
		err = os.NewSyscallError("dup", derr)
	}
	if err != nil {
		return -1, sysError("dup", "", err)
	}
	return fd, nil
}

// dupForSend duplicates the listening socket of srv. The lock keeps Close
// out until the duplicate is made.
func (srv *Server) dupForSend() (int, error) {
	srv.lock()
	defer srv.mu.Unlock()
	if !srv.listening {
		return -1, fmt.Errorf("nodenet: SendHandle: the server is not listening: %w", ErrNotRunning)
	}
	if srv.exclusive {
		return -1, argError("SendHandle: the server listens with Exclusive: its socket is not shared")
	}
	sc, ok := srv.ln.(syscall.Conn)
	if !ok {
		return -1, argError("SendHandle: the server's listener (%T) has no descriptor", srv.ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, sysError("dup", "", err)
	}
	return dupFD(rc)
}

// takeForSend duplicates the connection's descriptor and destroys the
// socket, under one hold of the lock: the socket's goroutine starts no read
// after it, so what the peer sends from then on waits in the kernel for
// the receiver (a read already under way may still take a chunk:
// SendHandle's doc says when a reading socket may be sent).
func (s *Socket) takeForSend() (int, error) {
	s.lock()
	defer s.mu.Unlock()
	c := s.c
	if err := c.sendableLocked(); err != nil {
		return -1, err
	}
	fd, err := dupFD(c.rc)
	if err != nil {
		return -1, err
	}
	c.closeLocked(nil, closedByDestroy)
	return fd, nil
}

// sendableLocked reports why the socket's connection cannot move to
// another process now, or nil if it can.
func (c *conn) sendableLocked() error {
	switch {
	case c.phase == phaseClosed || c.phase == phaseIdle:
		return fmt.Errorf("nodenet: SendHandle: %w", ErrSocketClosed)
	case c.phase == phaseConnecting:
		return argError("SendHandle: the socket is still connecting; send it after its ConnectEvent")
	case c.rc == nil:
		return argError("SendHandle: the socket's connection (%T) has no descriptor", c.nc)
	}
	if unread := c.q.held + heldBytes(c.dec); unread > 0 || c.q.data > 0 {
		return argError("SendHandle: the socket holds %d byte(s) it has read and not delivered, which cannot go with its descriptor; "+
			"accept with ServerOptions.PauseOnConnect and send before Resume (Pause alone still reads)", unread)
	}
	if c.pending > 0 {
		return argError("SendHandle: %d byte(s) written to the socket are not yet handed to the kernel; send it after their callbacks or its DrainEvent", c.pending)
	}
	if c.writeSide == writeEnding {
		return argError("SendHandle: the socket's End is still flushing")
	}
	return nil
}

// heldBytes is the number of bytes a decoder holds of a character that
// the next read may complete: read, but in no DataEvent yet.
func heldBytes(d decoder) int {
	switch d := d.(type) {
	case *utf8Decoder:
		return d.n
	case *ucs2Decoder:
		return d.n
	case *base64Decoder:
		return d.n
	}
	return 0
}
