package nodenet

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// maxBatch bounds the bytes the writer takes from the queue at once, so
// that a large queue drains, wakes blocked Writes and runs callbacks as it
// goes rather than once at the end.
const maxBatch = 256 << 10

// writeLoop is the writer goroutine of a conn, running while writes wait:
// it hands the queue to the kernel in batches (one writev(2) each while
// the kernel takes everything, blocking while its buffer is full), runs
// the callbacks, sends the FIN after End, and returns once the queue is
// empty or the conn closed.
func (c *conn) writeLoop() {
	s := c.s
	w := batchWriters.Get().(*batchWriter)
	w.c = c
	reqs := w.reqs[:0]
	s.mu.Lock()
	for c.phase == phaseOpen {
		if len(c.wq) == 0 {
			if c.writeSide == writeEnding {
				c.shutFromWriterLocked()
			}
			break
		}
		var total int
		reqs, total = c.takeBatchLocked(reqs[:0])
		s.touchLocked(1 << idleAll) // Node's timer counts a write begun
		s.mu.Unlock()
		err := w.write(reqs)
		s.mu.Lock()
		taken := int(c.taken.Swap(0))
		if c.phase != phaseOpen {
			c.finishBatchLocked(reqs, taken, c.closeErr) // the conn closed meanwhile
			break
		}
		if err != nil {
			werr := sysError("write", remoteString(c.nc), err)
			// The callbacks get the error first (Node: cb(err), then
			// 'error', then 'close').
			c.finishBatchLocked(reqs, taken, werr)
			c.closeLocked(werr, closedByError)
			break
		}
		c.pending -= total
		c.lastWrite.Store(time.Now().UnixNano())
		s.touchLocked(onWrite)
		drained := c.unwritable && c.drainedLocked()
		c.wakeWritersLocked() // a Write waiting for room looks again
		srcs := c.pipeSrcs
		s.mu.Unlock()
		if drained {
			s.tellPipeSources(srcs)
		}
		runCallbacks(reqs, nil)
		s.mu.Lock()
	}
	c.writing = false
	c.helperDoneLocked()
	s.mu.Unlock()
	clear(reqs[:cap(reqs)]) // the callbacks have run: nothing of the conn stays
	w.reqs = reqs[:0]
	w.c, w.bufs, w.view, w.err = nil, nil, nil, nil
	batchWriters.Put(w)
}

// takeBatchLocked moves the head of the queue, up to maxBatch bytes (at
// least one request), into reqs.
func (c *conn) takeBatchLocked(reqs []writeReq) ([]writeReq, int) {
	total, i := 0, 0
	for i < len(c.wq) && (i == 0 || total+len(c.wq[i].b) <= maxBatch) {
		total += len(c.wq[i].b)
		i++
	}
	reqs = append(reqs, c.wq[:i]...)
	n := copy(c.wq, c.wq[i:])
	clear(c.wq[n:])
	c.wq = c.wq[:n]
	if n == 0 && cap(c.wq) > 64 {
		c.wq = nil // a large queue's room goes once it is empty
	}
	return reqs, total
}

// finishBatchLocked runs the callbacks of a batch that ended with err
// (the conn closed, or the write failed): the requests the kernel took in
// full get nil, the others err (ErrDestroyed when err is nil).
func (c *conn) finishBatchLocked(reqs []writeReq, taken int, err error) {
	if err == nil {
		err = ErrDestroyed
	}
	c.s.mu.Unlock()
	for i := range reqs {
		var e error
		if n := len(reqs[i].b); taken >= n {
			taken -= n
		} else {
			taken, e = 0, err
		}
		runCallbacks(reqs[i:i+1], e)
	}
	c.s.mu.Lock()
}

// runCallbacks calls the callbacks of written requests with err and gives
// lent read buffers back.
func runCallbacks(reqs []writeReq, err error) {
	for i, r := range reqs {
		if r.cb != nil {
			r.cb(err)
		}
		putReadBuf(r.buf)
		reqs[i] = writeReq{}
	}
}

// shutFromWriterLocked sends the FIN after the flush. A conn without a
// descriptor (TLS, whose CloseWrite writes close_notify and may wait on a
// peer that does not read) is half-closed with the lock released.
func (c *conn) shutFromWriterLocked() {
	if c.rc != nil || c.readSide == readEnded {
		c.shutLocked()
		return
	}
	c.writeSide = writeShut
	if _, ok := c.nc.(interface{ CloseWrite() error }); !ok {
		c.shutDoneLocked(nil)
		return
	}
	c.s.mu.Unlock()
	err := closeWrite(c.nc)
	c.s.mu.Lock()
	if c.phase == phaseOpen {
		c.shutDoneLocked(err)
	}
}

// maxIovecs is the most buffers one writev(2) takes (Linux's IOV_MAX).
const maxIovecs = 1024

// batchWriter hands the writer goroutine's batches to the kernel. Through
// the connection's RawConn it calls writev(2) itself, so that each call
// that makes progress is counted (conn.taken, for BufferSize) and recorded
// (lastWrite, for the write-idle and stall watches), which
// net.Buffers.WriteTo, one call for the whole batch, would hide. Its
// callback takes no lock: closing the conn waits for a write in progress
// to leave. Its slices and callback are reused from batch to batch, so a
// batch allocates nothing. A connection without a descriptor (TLS) is
// written with net.Buffers.
type batchWriter struct {
	c    *conn
	fn   func(fd uintptr) bool
	reqs []writeReq // the batch's requests, taken from the queue

	store [][]byte // the batch
	bufs  [][]byte // what is left of it
	iov   []syscall.Iovec
	err   error
	view  net.Buffers // the one WriteTo consumes, without a RawConn
}

// batchWriters keeps the writers' state between runs of writeLoop. A
// conn's writer runs only while writes wait, and one without a descriptor
// (TLS) has every write queued, so it starts again for each: its slices
// and callback are reused rather than made again, and an idle conn holds
// none of them.
var batchWriters = sync.Pool{New: func() any {
	w := new(batchWriter)
	w.fn = w.writev
	return w
}}

// write hands the bytes of reqs to the kernel, blocking while its buffer
// is full.
func (w *batchWriter) write(reqs []writeReq) error {
	w.store = w.store[:0]
	for _, r := range reqs {
		if len(r.b) > 0 {
			w.store = append(w.store, r.b)
		}
	}
	defer clear(w.store) // the queue owns the bytes, not this
	if len(w.store) == 0 {
		return nil
	}
	w.bufs = w.store
	if w.c.rc == nil {
		w.view = w.store
		n, err := w.view.WriteTo(w.c.nc)
		w.c.taken.Add(n)
		return err
	}
	w.err = nil
	err := w.c.rc.Write(w.fn)
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
