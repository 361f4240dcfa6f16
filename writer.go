package nodenet

import (
	"net"
	"sync"
	"time"
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
		s.runCallbacks(reqs, nil)
		s.mu.Lock()
	}
	c.writing = false
	c.helperDoneLocked()
	s.mu.Unlock()
	clear(reqs[:cap(reqs)]) // the callbacks have run: nothing of the conn stays
	w.reqs = reqs[:0]
	w.c, w.view = nil, nil
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
		c.s.runCallbacks(reqs[i:i+1], e)
	}
	c.s.mu.Lock()
}

// runCallbacks calls the callbacks of written requests with err and gives
// lent read buffers back.
func (s *Socket) runCallbacks(reqs []writeReq, err error) {
	for i, r := range reqs {
		if r.cb != nil {
			s.callWriteCallback(r.cb, err)
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

// batch is the part of the batch writer that every system has. The
// batchWriter type itself is declared per system: with the state of the
// raw path's writev(2) in rawio_unix.go, with nothing more in
// rawio_windows.go. Its slices are reused from batch to batch, so a batch
// allocates nothing.
type batch struct {
	c     *conn
	reqs  []writeReq  // the batch's requests, taken from the queue
	store [][]byte    // the batch
	view  net.Buffers // the one WriteTo consumes, without the raw path
}

// batchWriters keeps the writers' state between runs of writeLoop. A
// conn's writer runs only while writes wait, and one without a descriptor
// (TLS) has every write queued, so it starts again for each: its slices
// and callback are reused rather than made again, and an idle conn holds
// none of them.
var batchWriters = sync.Pool{New: func() any { return new(batchWriter) }}

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
	return w.flush()
}

// writeBuffers writes the batch with net.Buffers.WriteTo: for a conn
// without the raw path, whose batch is counted once WriteTo returns.
func (w *batchWriter) writeBuffers() error {
	w.view = w.store
	n, err := w.view.WriteTo(w.c.nc)
	w.c.taken.Add(n)
	return err
}
