package nodenet

import "context"

// Context returns a context of the socket's current connection: it is
// cancelled when the connection closes, gracefully or not, and
// context.Cause gives the error that closed it, or ErrSocketClosed after a
// graceful close or Destroy. Pass it to the work a connection handler
// starts for the connection (a query, a call to another service), so that
// the work stops when the client goes away. A server's Shutdown does not
// cancel it: the connection hears of the shutdown as a ShutdownEvent (or,
// through NetConn, as an error), and its context ends when it closes.
// Every call returns the same context until the socket reconnects. Safe
// for concurrent use.
func (s *Socket) Context() context.Context {
	if !s.lock() {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errNilSocket)
		return ctx
	}
	defer s.mu.Unlock()
	c := s.c
	if c.cx == nil {
		ctx, cancel := context.WithCancelCause(context.Background())
		c.cx = &connContext{ctx: ctx, cancel: cancel}
		if c.phase == phaseClosed {
			c.cancelContextLocked()
		}
	}
	return c.cx.ctx
}

// connContext is a conn's context, made by the first call to Context.
type connContext struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// cancelContextLocked cancels the conn's context, if it has one, with the
// error that closed the conn.
func (c *conn) cancelContextLocked() {
	if c.cx == nil {
		return
	}
	cause := c.closeErr
	if cause == nil {
		cause = ErrSocketClosed
	}
	c.cx.cancel(cause)
}
