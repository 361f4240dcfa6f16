package nodenet

import "sync"

// refs counts the referenced handles: listening servers, open sockets and
// pending connects that have not been Unref'd. It is Node's "the process
// stays alive while a referenced handle is open", for Wait.
var refs struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n == 0; replaced when n leaves 0
}

func init() {
	refs.zero = make(chan struct{})
	close(refs.zero)
}

func addRef(delta int) {
	refs.mu.Lock()
	defer refs.mu.Unlock()
	if refs.n == 0 && delta > 0 {
		refs.zero = make(chan struct{})
	}
	refs.n += delta
	if refs.n == 0 && delta < 0 {
		close(refs.zero)
	}
}

// handleRef is the ref state of one handle; its methods are called with
// the owner's lock held.
type handleRef struct {
	unref  bool // Unref was called (sticky until Ref)
	active bool // the handle is open
}

func (h *handleRef) counted() bool { return h.active && !h.unref }

func (h *handleRef) set(active, unref bool) {
	before := h.counted()
	h.active, h.unref = active, unref
	switch after := h.counted(); {
	case after && !before:
		addRef(1)
	case before && !after:
		addRef(-1)
	}
}

// Wait blocks until no referenced server, socket or pending connect
// remains: the Go form of Node's process staying alive while a referenced
// handle is open. Servers and sockets are referenced unless Unref was
// called. It returns at once when none is open, and is safe to call from
// any goroutine.
func Wait() {
	refs.mu.Lock()
	ch := refs.zero
	refs.mu.Unlock()
	<-ch
}
