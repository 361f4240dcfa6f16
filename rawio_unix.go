//go:build unix

package nodenet

import (
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// This file is the raw path, which only unix systems have: a conn whose
// net.Conn has a descriptor is read and written by system calls made
// through its RawConn. A read waits for readability without holding a
// buffer, a write with nothing queued goes to the kernel from the
// caller's goroutine, and the writer's batches go out with writev(2),
// each call counted for BufferSize. It is apart because its system calls
// take an int descriptor and unix's errno semantics (EAGAIN asks the
// RawConn to wait); rawio_windows.go says what Windows does instead.

// useDescriptorLocked gives the conn nc's RawConn and the callbacks of
// the raw path, when nc has a descriptor (not TLS, not net.Pipe).
func (c *conn) useDescriptorLocked(nc net.Conn) {
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.dw.fn = c.dw.write
			c.rd.fn = c.rd.readFD
		}
	}
}

// readFD is the RawConn callback: false asks to wait for readability.
func (r *rawRead) readFD(fd uintptr) bool {
	r.buf = readBufs.Get().(*[]byte)
	for {
		r.n, r.err = syscall.Read(int(fd), *r.buf)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		readBufs.Put(r.buf) // nothing to read yet: wait without the buffer
		r.buf = nil
		return false
	}
	return true
}

// write is the RawConn callback of a direct write; it never asks to wait.
func (w *directWrite) write(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.p)
		if w.err != syscall.EINTR {
			return true
		}
	}
}

// maxIovecs is the most buffers one writev(2) takes (IOV_MAX on Linux,
// macOS and FreeBSD).
const maxIovecs = 1024

// batchWriter hands the writer goroutine's batches to the kernel. On the
// raw path it calls writev(2) itself, through the connection's RawConn,
// so that each call that makes progress is counted (conn.taken, for
// BufferSize) and recorded (lastWrite, for the write-idle and stall
// watches), which net.Buffers.WriteTo, one call for the whole batch,
// would hide. Its callback takes no lock: closing the conn waits for a
// write in progress to leave. A connection without a descriptor (TLS) is
// written with net.Buffers. Its writev state, as the batch's, is kept
// between batches, so that a batch allocates nothing.
type batchWriter struct {
	batch
	fn   func(fd uintptr) bool // writev, made at the writer's first raw batch
	bufs [][]byte              // what is left of the batch
	iov  []syscall.Iovec
	err  error
}

// flush writes the batch in store: with writev(2) through the RawConn,
// blocking while the kernel's buffer is full, or with net.Buffers for a
// conn without a descriptor.
func (w *batchWriter) flush() error {
	if w.c.rc == nil {
		return w.writeBuffers()
	}
	if w.fn == nil {
		w.fn = w.writev
	}
	w.bufs, w.err = w.store, nil
	err := w.c.rc.Write(w.fn)
	clear(w.iov)
	if err == nil && w.err != nil {
		err = os.NewSyscallError("writev", w.err)
	}
	w.bufs, w.err = nil, nil
	return err
}

// writev is the RawConn callback: false asks to wait for writability.
func (w *batchWriter) writev(fd uintptr) bool {
	for len(w.bufs) > 0 {
		w.iov = w.iov[:0]
		for _, b := range w.bufs {
			if len(w.iov) == maxIovecs {
				break
			}
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			w.iov = append(w.iov, v)
		}
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		switch errno {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			w.err = errno
			return true
		}
		w.c.taken.Add(int64(n))
		w.c.lastWrite.Store(time.Now().UnixNano())
		w.consume(int(n))
	}
	return true
}

// consume drops the first n bytes of the batch.
func (w *batchWriter) consume(n int) {
	for len(w.bufs) > 0 && n >= len(w.bufs[0]) {
		n -= len(w.bufs[0])
		w.bufs = w.bufs[1:]
	}
	if n > 0 {
		w.bufs[0] = w.bufs[0][n:]
	}
}
