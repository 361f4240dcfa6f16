package nodenet

import "fmt"

// pipeDst is one destination of Pipe. waiting is set while the
// destination's queue is at its high-water mark: the source holds its data
// until the destination drains.
type pipeDst struct {
	dst     *Socket
	waiting bool
}

// Pipe is Node's src.pipe(dst): data read by s is written to dst, with
// backpressure (s stops delivering, and so soon stops reading, while dst's
// queue is full, and goes on at dst's drain), and dst is ended when s
// ends. Pipe is one more listener, as in Node: a consumer of s.Events()
// still receives every event, DataEvents included. Piping a socket into
// itself makes an echo. A second Pipe to the same dst does nothing.
//
// Errors, as Proxy's: a nil dst gives an error wrapping
// ErrInvalidArgument; a dst never connected or already closed, one
// wrapping ErrSocketClosed; a dst that has ended its side (End, or its
// peer's end without AllowHalfOpen), one wrapping ErrWriteAfterEnd; a
// source with a Framing, one wrapping ErrInvalidArgument. After an error
// nothing is piped. Safe for concurrent use.
//
// Data flows as soon as there is a listener: to attach a Pipe and a reader
// of Events so that both see every byte, call Pause first and Resume after
// both are attached (Node attaches listeners within one tick).
func (s *Socket) Pipe(dst *Socket) error {
	if s == nil {
		return errNilSocket
	}
	if dst == nil {
		return argError("Pipe destination is nil")
	}
	// The source, then the destination, are checked before anything
	// changes, so that a refused Pipe changes nothing; no two sockets'
	// locks are held together.
	s.lock()
	dup, err := s.pipeCheckLocked(dst)
	s.mu.Unlock()
	if err != nil || dup {
		return err
	}
	dst.lock()
	err = dst.c.joinErrLocked("Pipe: the destination")
	dst.mu.Unlock()
	if err != nil {
		return err
	}
	s.lock()
	if dup, err := s.pipeCheckLocked(dst); err != nil || dup {
		s.mu.Unlock()
		return err // changed meanwhile
	}
	c := s.c
	// Copy on write: the conn's goroutine writes to the slice it read
	// under the lock, without it.
	c.pipes = append(c.pipes[:len(c.pipes):len(c.pipes)], &pipeDst{dst: dst})
	c.wakeLocked()
	s.mu.Unlock()
	dst.lock()
	dc := dst.c
	closed := dc.phase == phaseClosed
	if !closed {
		dc.pipeSrcs = append(dc.pipeSrcs[:len(dc.pipeSrcs):len(dc.pipeSrcs)], s)
	}
	dst.mu.Unlock()
	if closed {
		// dst closed since the check: the Pipe is taken back, and fails
		// as it would have then.
		s.Unpipe(dst)
		return fmt.Errorf("nodenet: Pipe: the destination is not connected: %w", ErrSocketClosed)
	}
	return nil
}

// pipeCheckLocked says whether s may pipe into dst: an error when s has a
// Framing, and dup when dst is one of its destinations already.
func (s *Socket) pipeCheckLocked(dst *Socket) (dup bool, err error) {
	if s.frame != nil {
		return false, argError("Pipe: the source socket has a Framing: its bytes go into frames for its consumer")
	}
	for _, pd := range s.c.pipes {
		if pd.dst == dst {
			return true, nil
		}
	}
	return false, nil
}

// Unpipe stops piping s into dst (every destination when dst is nil).
// Safe for concurrent use.
func (s *Socket) Unpipe(dst *Socket) {
	if !s.lock() {
		return
	}
	c := s.c
	kept := make([]*pipeDst, 0, len(c.pipes))
	for _, pd := range c.pipes {
		if dst != nil && pd.dst != dst {
			kept = append(kept, pd)
		}
	}
	c.pipes = kept
	c.endIfUnheardLocked()
	c.wakeLocked()
	s.mu.Unlock()
}

// onPipeDrain is called by dst when its queue has drained.
func (s *Socket) onPipeDrain(dst *Socket) {
	s.lock()
	c := s.c
	for _, pd := range c.pipes {
		if pd.dst == dst {
			pd.waiting = false
		}
	}
	c.wakeLocked()
	s.mu.Unlock()
}

// pipeData writes b, read by s, to the destinations. When b lies in the
// pooled read buffer buf, a single destination may keep buf if it must
// queue b (no copy: it gives buf back once written); with several, each
// copies what it queues, and buf goes back at once.
func (s *Socket) pipeData(pipes []*pipeDst, b []byte, buf *[]byte) {
	if buf != nil && len(pipes) == 1 {
		if !s.pipeWrite(pipes[0], b, buf) {
			readBufs.Put(buf)
		}
		return
	}
	for _, pd := range pipes {
		s.pipeWrite(pd, b, nil)
	}
	putReadBuf(buf)
}

// pipeWrite writes b to one destination and reports whether it kept lent.
// When the destination says it is full, the source waits for its drain;
// the check after marking closes the race with a drain that came in
// between. A destination that refuses the write is unpiped.
func (s *Socket) pipeWrite(pd *pipeDst, b []byte, lent *[]byte) (kept bool) {
	ok, kept, err := pd.dst.send(b, nil, false, lent)
	if err != nil {
		s.Unpipe(pd.dst)
		return false
	}
	if ok {
		return kept
	}
	s.mu.Lock()
	pd.waiting = true
	s.mu.Unlock()
	pd.dst.mu.Lock()
	dc := pd.dst.c
	still := dc.needDrain && dc.phase != phaseClosed
	pd.dst.mu.Unlock()
	if !still {
		s.onPipeDrain(pd.dst)
	}
	return kept
}
