package nodenet

import (
	"net"
	"testing"
	"time"
)

// slowCloseConn is a conn without a descriptor whose Close and CloseWrite
// block until release is closed, as a *tls.Conn's do while close_notify
// waits on a peer that does not read (crypto/tls allows that 5 seconds).
type slowCloseConn struct {
	net.Conn
	release chan struct{}
	closing chan struct{} // 1-buffered: Close or CloseWrite has begun
}

func (c *slowCloseConn) Close() error {
	c.began()
	<-c.release
	return c.Conn.Close()
}

func (c *slowCloseConn) CloseWrite() error {
	c.began()
	<-c.release
	return nil
}

func (c *slowCloseConn) began() {
	select {
	case c.closing <- struct{}{}:
	default:
	}
}

func newSlowCloseSocket(t *testing.T) (*Socket, *slowCloseConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	c := &slowCloseConn{Conn: a, release: make(chan struct{}), closing: make(chan struct{}, 1)}
	s, err := WrapConn(c, SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, b
}

// TestSlowCloseDestroyDoesNotWait: Destroy of a socket whose conn takes
// long to close (TLS) returns at once; the CloseEvent waits for the close.
func TestSlowCloseDestroyDoesNotWait(t *testing.T) {
	s, c, _ := newSlowCloseSocket(t)
	r := record(t, s)
	done := make(chan struct{})
	go func() { s.Destroy(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("Destroy waited for the conn's Close")
	}
	<-c.closing
	if got := s.BufferSize(); got != 0 { // the lock is free meanwhile
		t.Errorf("BufferSize() = %d while the conn closes; want 0", got)
	}
	if got := names(r.events()); got != "" {
		t.Errorf("events before the conn has closed = %q; want none", got)
	}
	close(c.release)
	if got := names(r.wait()); got != "close(false)" {
		t.Errorf("events = %q; want %q", got, "close(false)")
	}
}

// TestSlowCloseEndDoesNotBlockTheSocket: End's CloseWrite on such a conn
// runs without the socket's lock: End returns, and other methods answer
// while it waits.
func TestSlowCloseEndDoesNotBlockTheSocket(t *testing.T) {
	s, c, peer := newSlowCloseSocket(t)
	r := record(t, s)
	go func() { // the peer reads what comes
		buf := make([]byte, 512)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := s.EndString("bye", ""); err != nil {
		t.Fatal(err)
	}
	<-c.closing // CloseWrite has begun, and blocks
	if got := s.ReadyState(); got != StateReadOnly {
		t.Errorf("ReadyState() while CloseWrite waits = %v; want %v", got, StateReadOnly)
	}
	s.Destroy() // returns though CloseWrite still waits
	close(c.release)
	if got := names(r.wait()); got != "close(false)" {
		t.Errorf("events = %q; want %q", got, "close(false)")
	}
}
