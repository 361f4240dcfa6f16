package nodenet

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
// itself makes an echo. A second Pipe to the same dst does nothing. Safe
// for concurrent use.
//
// Data flows as soon as there is a listener: to attach a Pipe and a reader
// of Events so that both see every byte, call Pause first and Resume after
// both are attached (Node attaches listeners within one tick).
func (s *Socket) Pipe(dst *Socket) error {
	if dst == nil {
		return argError("Pipe destination is nil")
	}
	s.mu.Lock()
	for _, pd := range s.pipes {
		if pd.dst == dst {
			s.mu.Unlock()
			return nil
		}
	}
	// Copy on write: deliverToPipes reads the slice without the lock.
	s.pipes = append(s.pipes[:len(s.pipes):len(s.pipes)], &pipeDst{dst: dst})
	s.mu.Unlock()
	dst.mu.Lock()
	dst.pipeSrcs = append(dst.pipeSrcs, s)
	dst.mu.Unlock()
	dst.dispatch() // in case dst is already closed: s then unpipes it
	s.dispatch()
	return nil
}

// Unpipe stops piping s into dst (every destination when dst is nil).
// Safe for concurrent use.
func (s *Socket) Unpipe(dst *Socket) {
	s.unpipe(dst)
}

func (s *Socket) unpipe(dst *Socket) {
	s.mu.Lock()
	kept := make([]*pipeDst, 0, len(s.pipes))
	for _, pd := range s.pipes {
		if dst != nil && pd.dst != dst {
			kept = append(kept, pd)
		}
	}
	s.pipes = kept
	s.mu.Unlock()
	s.dispatch()
}

func (s *Socket) pipeWaitingLocked() bool {
	for _, pd := range s.pipes {
		if pd.waiting {
			return true
		}
	}
	return false
}

// onPipeDrain is called by dst when its queue has drained.
func (s *Socket) onPipeDrain(dst *Socket) {
	s.mu.Lock()
	for _, pd := range s.pipes {
		if pd.dst == dst {
			pd.waiting = false
		}
	}
	s.mu.Unlock()
	s.dispatch()
}

// deliverToPipes writes a data item to every destination, or ends them on
// the EndEvent (once per connection). exclusive means nobody else will see
// the item's bytes, so a single destination may take them without a copy.
func (s *Socket) deliverToPipes(st *stream, it item, exclusive bool) {
	s.mu.Lock()
	pipes := s.pipes
	if _, end := it.ev.(EndEvent); end {
		if st.endPiped {
			pipes = nil
		}
		st.endPiped = true
	}
	s.mu.Unlock()
	if len(pipes) == 0 {
		return
	}
	switch it.ev.(type) {
	case nil:
		b := it.data
		owned := exclusive && len(pipes) == 1
		if it.isText {
			b, owned = []byte(it.text), true
		}
		if it.buf != nil {
			// b lies in a pooled read buffer: a single destination may
			// keep it and give it back once written; several copy what
			// they queue, and it goes back at once.
			kept := false
			if owned {
				kept = s.pipeWrite(pipes[0], b, false, it.buf)
			} else {
				for _, pd := range pipes {
					s.pipeWrite(pd, b, false, nil)
				}
			}
			if !kept {
				readBufs.Put(it.buf)
			}
			return
		}
		for _, pd := range pipes {
			s.pipeWrite(pd, b, owned, nil)
		}
	case EndEvent:
		for _, pd := range pipes {
			pd.dst.End()
		}
	}
}

// pipeWrite writes b to one destination. When the destination says it is
// full, the source waits for its drain; the check after marking closes the
// race with a drain that came in between.
func (s *Socket) pipeWrite(pd *pipeDst, b []byte, owned bool, lent *[]byte) (kept bool) {
	ok, kept, err := pd.dst.send(b, nil, owned, lent)
	if err != nil {
		s.unpipe(pd.dst)
		return false
	}
	if ok {
		return kept
	}
	s.mu.Lock()
	pd.waiting = true
	s.mu.Unlock()
	pd.dst.mu.Lock()
	still := pd.dst.needDrain && !pd.dst.closed
	pd.dst.mu.Unlock()
	if !still {
		s.onPipeDrain(pd.dst)
	}
	return kept
}
