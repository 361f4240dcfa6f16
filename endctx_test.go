package nodenet

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestEndContextWaitsForTheFIN: EndContext returns once the queue is
// handed to the kernel and the FIN sent: the peer then reads every byte
// and EOF.
func TestEndContextWaitsForTheFIN(t *testing.T) {
	s, peer := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	data := bytes.Repeat([]byte("x"), 1<<20) // more than the kernel takes at once
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, peer) }()
	if err := s.EndContext(ctxTimeout(t), data); err != nil {
		t.Fatalf("EndContext = %v; want nil", err)
	}
	s.mu.Lock()
	finished := s.c.writeSide == writeShut
	s.mu.Unlock()
	if !finished {
		t.Error("EndContext returned before the FIN was sent")
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("the peer read %d bytes then EOF; want the %d written", len(b), len(data))
	}
}

// TestEndContextDeadline: against a peer that does not read, EndContext
// gives up at its context's deadline with the context's error; the socket
// goes on ending, and Destroy still closes it.
func TestEndContextDeadline(t *testing.T) {
	s, _ := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.EndContext(ctx, bytes.Repeat([]byte("x"), 32<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EndContext against a peer that does not read = %v; want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("EndContext returned after %v; want at least the 30ms deadline", d)
	}
	if got := s.BufferSize(); got == 0 {
		t.Error("BufferSize() = 0 after the deadline; want the bytes still queued")
	}
	s.Destroy()
	if got, want := names(r.wait()), "connect close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestEndContextErrors: EndContext reports End's error, and returns at once
// on a socket that has already ended or closed.
func TestEndContextErrors(t *testing.T) {
	s, _ := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	if err := s.EndContext(ctxTimeout(t)); err != nil {
		t.Fatalf("EndContext() = %v; want nil", err)
	}
	if err := s.EndContext(ctxTimeout(t), []byte("late")); !errors.Is(err, ErrWriteAfterEnd) {
		t.Errorf("EndContext(data) after End = %v; want %v", err, ErrWriteAfterEnd)
	}
	s.Destroy()
	r.wait()
	if err := s.EndContext(ctxTimeout(t)); err != nil {
		t.Errorf("EndContext() on a closed socket = %v; want nil", err)
	}
}
