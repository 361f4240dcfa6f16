// Panics of the program's code that the library calls on its own
// goroutines: the connection handler, write callbacks, the ConnState hook,
// a Framing's Split, and a tls.Config's callbacks during a handshake. A
// panic there would end the process from a goroutine the program does not
// own, so each is stopped where it happens, as net/http stops a handler's:
// logged with its stack, and made an error of the connection it concerns.

package nodenet

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"runtime"
)

// panicError logs v, the recovered panic of what, with the stack of the
// goroutine that panicked, and returns an error that says what panicked
// and wraps v when v is an error.
func panicError(what string, v any) error {
	stack := make([]byte, 64<<10)
	stack = stack[:runtime.Stack(stack, false)]
	log.Printf("nodenet: panic in %s: %v\n%s", what, v, stack)
	if e, ok := v.(error); ok {
		return fmt.Errorf("nodenet: %s panicked: %w", what, e)
	}
	return fmt.Errorf("nodenet: %s panicked: %v", what, v)
}

// recoverHandler, deferred by a connection handler's goroutine, stops a
// panic of the handler there, as net/http does: the panic and its stack go
// to the standard logger, the events of the connection are abandoned (the
// handler's loop over them is gone), the connection is destroyed with an
// error saying that the handler panicked, and the server's events carry
// the same error as an ErrorEvent. The handler then counts as returned.
func (srv *Server) recoverHandler(s *Socket) {
	v := recover()
	if v == nil {
		return
	}
	err := panicError("the connection handler for "+s.remoteForLog(), v)
	s.abandonEvents()
	s.failByPanic(err)
}

// recoverCallback is deferred around a call of the program's code made
// for s (a write callback, the ConnState hook). It stops the call's panic:
// the panic is logged, s is destroyed with the error, and s's server, if
// any, gets the error as an ErrorEvent. s's lock must not be held.
func (s *Socket) recoverCallback(what string) {
	v := recover()
	if v == nil {
		return
	}
	s.failByPanic(panicError(what+" of "+s.remoteForLog(), v))
}

// failByPanic destroys s with err, a recovered panic of the program's
// code, and tells s's server.
func (s *Socket) failByPanic(err error) {
	s.DestroyWithError(err)
	if srv := s.server; srv != nil {
		srv.mu.Lock()
		srv.pushLocked(ErrorEvent{Err: err})
		srv.mu.Unlock()
	}
}

// remoteForLog is the peer's address, for the log of a panic.
func (s *Socket) remoteForLog() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return remoteString(s.c.nc)
}

// callWriteCallback calls cb, a write's callback, with err.
func (s *Socket) callWriteCallback(cb func(error), err error) {
	defer s.recoverCallback("a write callback")
	cb(err)
}

// callConnState calls the server's ConnState hook.
func (s *Socket) callConnState(hook func(*Socket, bool), open bool) {
	defer s.recoverCallback("the ConnState hook")
	hook(s, open)
}

// splitRecovered is the framer's Split; a panic of it is its error, which
// breaks the stream as any error of Split does.
func (fr *framer) splitRecovered(data []byte, atEOF bool) (adv int, tok []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			adv, tok, err = 0, nil, panicError("Framing's Split", v)
		}
	}()
	return fr.split(data, atEOF)
}

// handshakeRecovered runs tc's handshake; a panic of one of the
// tls.Config's callbacks is its error.
func handshakeRecovered(ctx context.Context, tc *tls.Conn) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError("a tls.Config callback in the handshake with "+remoteString(tc.NetConn()), v)
		}
	}()
	return tc.HandshakeContext(ctx)
}
