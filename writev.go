package nodenet

import (
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// maxIovecs is the most buffers one writev(2) takes (Linux's IOV_MAX).
const maxIovecs = 1024

// batchWriter hands the writer goroutine's batches to the kernel. Through
// the connection's RawConn it calls writev(2) itself, so that each call
// that makes progress is recorded (lastWrite): the write-idle and stall
// watches then see a slow peer's progress within a large batch, which
// net.Buffers.WriteTo, one call for the whole batch, would hide. Its
// slices and callback are reused from batch to batch, so a batch
// allocates nothing. A connection without a descriptor (TLS) is written
// with net.Buffers.
type batchWriter struct {
	s    *Socket
	conn net.Conn
	rc   syscall.RawConn // nil: use conn's Write
	fn   func(fd uintptr) bool

	store [][]byte // the batch
	bufs  [][]byte // what is left of it
	iov   []syscall.Iovec
	err   error
	view  net.Buffers // the one WriteTo consumes, without a RawConn
}

func newBatchWriter(s *Socket, conn net.Conn, rc syscall.RawConn) *batchWriter {
	w := &batchWriter{s: s, conn: conn, rc: rc}
	w.fn = w.writev
	return w
}

// write hands bufs to the kernel, blocking while its buffer is full.
func (w *batchWriter) write(bufs net.Buffers) error {
	if w.rc == nil {
		w.view = bufs
		_, err := w.view.WriteTo(w.conn)
		return err
	}
	w.store = append(w.store[:0], bufs...)
	w.bufs, w.err = w.store, nil
	err := w.rc.Write(w.fn)
	clear(w.store) // the writer's queue owns the bytes, not this
	clear(w.iov)
	if err == nil && w.err != nil {
		err = os.NewSyscallError("writev", w.err)
	}
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
			if len(b) > 0 {
				v := syscall.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				w.iov = append(w.iov, v)
			}
		}
		if len(w.iov) == 0 {
			break
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
		w.s.lastWrite.Store(time.Now().UnixNano())
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
