package nodenet

import "fmt"

// Proxy joins a and b both ways, as a.Pipe(b) and b.Pipe(a): what one
// reads the other writes, with backpressure each way (a socket stops
// reading while the other's queue is full, so neither holds much more than
// its marks plus one read), and returns at once. Either socket may still be connecting (b made by
// Connect): data for it waits in its queue.
//
// Half-closes pass through: when a's peer ends, b is ended (its FIN goes
// after a's data) while b's data keeps flowing to a, until b's peer ends
// too; then both close. So that a socket keeps writing after its peer's
// end, Proxy turns AllowHalfOpen on for both (without it a socket ends its
// own side at its peer's end, which would cut the other direction).
//
// When either socket is destroyed (Destroy, a read or write error, a
// failed connect), the other is destroyed too, with Destroy, so no
// half-dead pair is left. One goroutine per pair watches for it; it
// returns when either socket closes.
//
// Nobody needs to read a's or b's Events; a consumer who does must
// receive until the channel closes (an end passes on once received).
//
// Errors: a nil socket, or a == b, gives an error wrapping
// ErrInvalidArgument; a socket never connected or already closed, one
// wrapping ErrSocketClosed; a socket that has already ended its side (End,
// or its peer's end without AllowHalfOpen), one wrapping ErrWriteAfterEnd;
// a socket with a Framing (its bytes go to its consumer as frames), one
// wrapping ErrInvalidArgument.
// After an error nothing is joined and both sockets are as they were:
// still the caller's to use or destroy.
//
// Safe for concurrent use.
func Proxy(a, b *Socket) error {
	switch {
	case a == nil && b == nil:
		return argError("Proxy: sockets a and b are nil")
	case a == nil:
		return argError("Proxy: socket a is nil")
	case b == nil:
		return argError("Proxy: socket b is nil")
	case a == b:
		return argError("Proxy: a and b are the same socket")
	}
	aDone, aHalfOpen, err := a.joinProxy("a")
	if err != nil {
		return err
	}
	bDone, _, err := b.joinProxy("b")
	if err != nil {
		a.lock()
		a.allowHalfOpen = aHalfOpen // as it was
		a.mu.Unlock()
		return err
	}
	// A Pipe fails here only if its destination has closed or ended
	// since joinProxy checked it: a close is watchProxy's to handle, as a
	// close just after Proxy returns.
	a.Pipe(b)
	b.Pipe(a)
	go watchProxy(a, b, aDone, bDone)
	return nil
}

// joinProxy checks that s can be proxied and turns AllowHalfOpen on, in
// one critical section, so that the peer's end cannot end s's side in
// between. It returns the connection's done channel and the previous
// AllowHalfOpen.
func (s *Socket) joinProxy(name string) (done <-chan struct{}, halfOpen bool, err error) {
	s.lock()
	defer s.mu.Unlock()
	c := s.c
	if err := c.joinErrLocked("Proxy: socket " + name); err != nil {
		return nil, false, err
	}
	if s.frame != nil {
		return nil, false, argError("Proxy: socket %s has a Framing: its bytes go into frames for its consumer", name)
	}
	halfOpen = s.allowHalfOpen
	s.allowHalfOpen = true
	return c.stopChan(), halfOpen, nil
}

// joinErrLocked says why the conn cannot be joined to another socket, as
// the destination of a Pipe or either side of a Proxy, or nil if it can:
// it is neither connecting nor open (ErrSocketClosed), or it has ended
// its side (ErrWriteAfterEnd). An EndEvent on offer is settled first, so
// that the peer's end cannot end the side just after the check. what
// names the socket in the error.
func (c *conn) joinErrLocked(what string) error {
	c.settleLocked(kindEnd)
	switch {
	case c.phase != phaseConnecting && c.phase != phaseOpen:
		return fmt.Errorf("nodenet: %s is not connected: %w", what, ErrSocketClosed)
	case c.writeSide != writeOpen:
		return fmt.Errorf("nodenet: %s has ended its side: %w", what, ErrWriteAfterEnd)
	}
	return nil
}

// watchProxy destroys one socket of a proxied pair when the other is
// destroyed. A graceful close needs nothing: it comes only after both
// ends have passed through, and the other socket then closes by itself
// once its queue is flushed.
func watchProxy(a, b *Socket, aDone, bDone <-chan struct{}) {
	select {
	case <-aDone:
		if a.wasDestroyed() {
			b.Destroy()
		}
	case <-bDone:
		if b.wasDestroyed() {
			a.Destroy()
		}
	}
}
