package nodenet

import (
	"context"
	"errors"
	"fmt"
)

// ShutdownEvent tells a socket that its server is shutting down
// (Server.Shutdown): the program should finish what it is doing and End
// the socket; at Shutdown's deadline the socket is destroyed. It is not a
// Node event (Node has no staged shutdown); it comes at most once.
type ShutdownEvent struct{}

func (ShutdownEvent) eventName() string { return "shutdown" }

// ForcedError is Shutdown's error when its context ended before the last
// connection had closed and the last connection handler had returned:
// Forced connections were destroyed then, and Running handlers were still
// running (Shutdown does not wait for them any more). It unwraps to the
// context's error. It is immutable and safe to share. The methods of a
// nil *ForcedError give "<nil>" and nil.
type ForcedError struct {
	Forced  int
	Running int
	Err     error
}

// Error says how many connections were destroyed and how many handlers
// were still running, and why.
func (e *ForcedError) Error() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("nodenet: shutdown destroyed %d connection(s), %d handler(s) still running: %v", e.Forced, e.Running, e.Err)
}

// Unwrap returns the context's error.
func (e *ForcedError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Shutdown closes the server in stages, as net/http's Shutdown does for
// HTTP: it stops accepting (Close); sends every open connection a
// ShutdownEvent; ends (half-closes) each connection that is idle, at once
// or as soon as it becomes idle: one that nobody consumes (no reader of
// Events, its handler has returned: a Pipe echo, say) with nothing queued
// to write and nothing unread; and waits until the last connection has
// closed (nil), or until ctx is done: it then destroys the connections
// that remain and returns a *ForcedError, which unwraps to ctx.Err().
// Connections with a reader of Events are left to the program, which has
// the ShutdownEvent. Like http.Server's Shutdown, it also waits for the
// connection handlers to return, so that what a program does after
// Shutdown does not race with them; at the deadline it reports those still
// running (ForcedError.Running). Shutdown may be called after Close, and
// again; Close keeps Node's meaning and waits for neither. A nil ctx is an
// error wrapping ErrInvalidArgument (then it does nothing).
func (srv *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return argError("Shutdown: nil context")
	}
	if !srv.lock() {
		return errNilServer
	}
	closed := srv.closed
	srv.mu.Unlock()
	if err := srv.Close(); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	if closed == nil {
		return nil // never listened
	}
	if !srv.shuttingDown.Swap(true) {
		for _, s := range srv.openConns() {
			s.notifyShutdown()
		}
	}
	select {
	case <-closed:
	case <-ctx.Done():
		return srv.forceClose(ctx)
	}
	srv.mu.Lock()
	done := srv.handlersDone
	if srv.handlers > 0 && done == nil {
		done = make(chan struct{})
		srv.handlersDone = done
	}
	srv.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return &ForcedError{Running: srv.runningHandlers(), Err: ctx.Err()}
	}
}

// runningHandlers is the number of connection handlers still running.
func (srv *Server) runningHandlers() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.handlers
}

// forceClose destroys the connections left at Shutdown's deadline.
// Destroy does not wait, so this takes microseconds per connection.
func (srv *Server) forceClose(ctx context.Context) error {
	conns := srv.openConns()
	for _, s := range conns {
		s.Destroy()
	}
	srv.forced.Add(int64(len(conns)))
	running := srv.runningHandlers()
	if len(conns) == 0 && running == 0 {
		return nil // the last one closed meanwhile
	}
	return &ForcedError{Forced: len(conns), Running: running, Err: ctx.Err()}
}

// openConns is a snapshot of the server's open connections.
func (srv *Server) openConns() []*Socket {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	conns := make([]*Socket, 0, len(srv.conns))
	for s := range srv.conns {
		conns = append(conns, s)
	}
	return conns
}

// notifyShutdown queues the ShutdownEvent; the conn's goroutine then ends
// the connection once it is idle (conn.endIfIdleLocked).
func (s *Socket) notifyShutdown() {
	s.mu.Lock()
	c := s.c
	if c.phase != phaseClosed {
		c.pushLocked(ShutdownEvent{})
		c.alerts.shutdowns++
		c.wakeWritersLocked() // a NetConn's blocked Write returns ErrServerShutdown
	}
	s.mu.Unlock()
}
