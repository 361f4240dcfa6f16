package nodenet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the event core's guarantees: Pause holds back data only, the
// write queue's size is what the kernel has not taken, and Destroy does
// not wait, so Shutdown meets its deadline.

// A paused socket that holds data and the peer's end still delivers every
// other event it owes (a DrainEvent, an ErrorEvent, a TimeoutEvent), in
// the order they were born, before the data and the EndEvent; Resume then
// delivers the data, the end and the close.
func TestCorePausedAfterFINOtherEventsPass(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	s.Pause()
	if _, err := raw.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	raw.CloseWrite()
	waitUntil(t, "the data and the FIN read", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.c.readSide == readEOF && s.c.q.held == len("request")
	})
	peerRead := make(chan []byte, 1)
	go func() { peerRead <- readAll(t, raw) }()

	// A Send of the mark returns false: a DrainEvent is owed, and comes
	// once the kernel has the bytes.
	if ok, err := s.Send(make([]byte, DefaultHighWaterMark), nil); ok || err != nil {
		t.Fatalf("Send of the high-water mark = %v, %v; want false, nil", ok, err)
	}
	r.waitFor("the DrainEvent, while paused", isKind[DrainEvent])
	// An error a write reports is emitted too.
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendString("late", "", nil); !errors.Is(err, ErrWriteAfterEnd) {
		t.Fatalf("Send after End = %v; want ErrWriteAfterEnd", err)
	}
	r.waitFor("the ErrorEvent, while paused", isKind[ErrorEvent])
	// And the idle timeout fires while paused.
	if err := s.SetTimeout(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the TimeoutEvent, while paused", isKind[TimeoutEvent])
	s.SetTimeout(0)
	if got, want := names(r.events()), "connect drain error(write after end) timeout"; got != want {
		t.Fatalf("events while paused %q; want %q", got, want)
	}

	s.Resume()
	if got, want := names(r.wait()), "connect drain error(write after end) timeout data end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if got := <-peerRead; len(got) != DefaultHighWaterMark {
		t.Errorf("peer read %d bytes; want %d", len(got), DefaultHighWaterMark)
	}
}

// Node's flow-control loop, ranging over events: on data, Send, and Pause
// when it returns false; on drain, Resume; on end, End. Clients that send
// and then end must all get their bytes back and the end: the drain a
// paused socket owes comes although the peer's end waits behind its data.
func TestCorePauseDrainLoopWithPeerEnd(t *testing.T) {
	const clients, size = 200, 256 << 10
	srv := createServer(t, ServerOptions{}, func(c *Socket) {
		// A small kernel send buffer makes the replies queue, so that
		// drains come late, often after the client's end.
		c.mu.Lock()
		c.c.nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
		c.mu.Unlock()
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				if ok, _ := c.Send(ev.Data, nil); !ok {
					c.Pause()
				}
			case DrainEvent:
				c.Resume()
			case EndEvent:
				c.End()
			}
		}
	})
	port := listenTCP(t, srv)
	payload := pattern(0, size)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(port, payload, i)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d clients failed", failed, clients)
	}
}

// echoOnce sends payload and its end to an echo server on port, and checks
// that the same bytes come back, then the server's end.
func echoOnce(port int, payload []byte, i int) error {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		wrote <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-wrote; werr != nil {
		return fmt.Errorf("client %d: write: %v", i, werr)
	}
	if err != nil {
		return fmt.Errorf("client %d: read %d of %d bytes: %v", i, len(got), len(payload), err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("client %d: %d bytes came back; want the %d sent", i, len(got), len(payload))
	}
	return nil
}

// BufferSize counts only what the kernel has not taken, also while the
// writer works through a batch: with several MiB written while
// connecting and a peer that reads nothing, once the writer stalls
// (WriteStallEvent), BufferSize plus the kernel's queues on both sides
// (ss: the socket's Send-Q, the peer's Recv-Q) is every byte written.
func TestCoreBufferSizeIsWhatTheKernelHasNotTaken(t *testing.T) {
	ssPath, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("ss (iproute2) is not installed: cannot read the kernel's queues")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	s, err := Connect(ConnectOptions{Port: port, Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	const chunks = 32 // 8 MiB: more than the kernel's buffers take
	for range chunks {
		if _, err := s.Send(chunk, nil); err != nil {
			t.Fatal(err)
		}
	}
	peer, err := ln.Accept() // it reads nothing
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s.SetWriteStallTimeout(50 * time.Millisecond)
	r := record(t, s)
	r.waitFor("the writer to stall", isKind[WriteStallEvent])

	sendQ := ssQueue(t, ssPath, s.LocalPort(), port, 2)
	recvQ := ssQueue(t, ssPath, port, s.LocalPort(), 1)
	written, queued := s.BytesWritten(), s.BufferSize()
	if written != chunks*int64(len(chunk)) {
		t.Fatalf("BytesWritten = %d; want %d", written, chunks*len(chunk))
	}
	if queued <= 0 || int64(queued) >= written {
		t.Fatalf("BufferSize = %d; want some but not all of the %d bytes written", queued, written)
	}
	if got := int64(queued) + sendQ + recvQ; got != written {
		t.Errorf("BufferSize %d + the socket's Send-Q %d + the peer's Recv-Q %d = %d; want the %d bytes written",
			queued, sendQ, recvQ, got, written)
	}
}

// ssQueue reads one of the kernel's queues of the established TCP socket
// on 127.0.0.1 with local port local and peer port remote: field 1 is the
// Recv-Q, field 2 the Send-Q.
func ssQueue(t *testing.T, ssPath string, local, remote, field int) int64 {
	t.Helper()
	filter := fmt.Sprintf("( sport = :%d and dport = :%d )", local, remote)
	f := ssLine(t, ssPath, "-tnH", "state", "established", filter)
	n, err := strconv.ParseInt(f[field-1], 10, 64)
	if err != nil {
		t.Fatalf("ss %q: %v", f, err)
	}
	return n
}

// ssLine runs ss with args, which must select exactly one socket, and
// returns the fields of its line.
func ssLine(t *testing.T, ssPath string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(ssPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ss %q: %v: %s", args, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("ss %q gave %d lines; want 1:\n%s", args, len(lines), out)
	}
	f := strings.Fields(lines[0])
	if len(f) < 4 {
		t.Fatalf("ss line %q has too few fields", lines[0])
	}
	return f
}

// Shutdown meets its deadline however many connections it must destroy:
// Destroy does not wait for the connection's goroutines (it used to close
// the descriptor itself, waiting for them to leave it: 7-13 ms for each
// busy connection). 40 connections stream through a Pipe echo, so none
// is idle. Half of them are destroyed one by one: the median Destroy
// takes under a millisecond (a scheduler on a loaded machine may delay
// any single call). Shutdown with a 200 ms context then returns a
// *ForcedError for the rest soon after its deadline.
func TestCoreShutdownMeetsItsDeadline(t *testing.T) {
	const conns = 40
	var mu sync.Mutex
	var accepted []*Socket
	srv := createServer(t, ServerOptions{}, func(c *Socket) {
		mu.Lock()
		accepted = append(accepted, c)
		mu.Unlock()
		c.Pipe(c)
	})
	port := listenTCP(t, srv)
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	var wg sync.WaitGroup
	var flowing sync.WaitGroup
	for _, c := range clients {
		flowing.Add(1)
		wg.Add(2)
		go func() { // writes until the server destroys the connection
			defer wg.Done()
			chunk := make([]byte, 64<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() { // reads the echo, and tells once 256 KiB came back
			defer wg.Done()
			buf := make([]byte, 64<<10)
			n, told := 0, false
			for {
				k, err := c.Read(buf)
				if n += k; n >= 256<<10 && !told {
					told = true
					flowing.Done()
				}
				if err != nil {
					if !told {
						flowing.Done()
					}
					return
				}
			}
		}()
	}
	flowing.Wait() // every connection echoes: its handler has run
	mu.Lock()
	some := accepted[:conns/2]
	mu.Unlock()
	took := make([]time.Duration, len(some))
	for i, s := range some {
		start := time.Now()
		s.Destroy()
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	if median := took[len(took)/2]; median > time.Millisecond {
		t.Errorf("Destroy of a busy connection took %v (median of %d; slowest %v); want under 1ms", median, len(took), took[len(took)-1])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// What Shutdown adds to the deadline is measured from the moment a
	// goroutine waiting on the same context wakes, so that the
	// scheduler's delay on a loaded machine does not count.
	woke := make(chan time.Time, 1)
	go func() {
		<-ctx.Done()
		woke <- time.Now()
	}()
	err := srv.Shutdown(ctx)
	returned := time.Now()
	late := returned.Sub(<-woke)
	var fe *ForcedError
	if !errors.As(err, &fe) || fe.Forced == 0 {
		t.Fatalf("Shutdown = %v; want a *ForcedError (the connections were busy)", err)
	}
	if late > 250*time.Millisecond {
		t.Errorf("Shutdown returned %v after its deadline, destroying %d connections; want within 250ms", late, fe.Forced)
	}
	wg.Wait()
}

// Every accepted write has its callback called exactly once: a write
// queued while connecting gets the error that ended the connect (here the
// context's, Code ABORT_ERR), and a write dropped by Destroy gets
// ErrDestroyed, both before the CloseEvent.
func TestCoreCallbackOfWriteQueuedWhileConnecting(t *testing.T) {
	port, err := byHang(t, netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := ConnectContext(ctx, ConnectOptions{Port: port, Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 2)
	if _, err := s.SendString("queued", "", func(err error) { got <- err }); err != nil {
		t.Fatalf("Send while connecting = %v", err)
	}
	r := record(t, s)
	cancel()
	evs := r.wait()
	if got, want := names(evs), "error(The operation was aborted) close(true)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	var ne *Error
	if err := <-got; !errors.As(err, &ne) || ne.Code != "ABORT_ERR" {
		t.Errorf("callback of the write queued while connecting got %v; want the ABORT_ERR", err)
	}
	select {
	case err := <-got:
		t.Errorf("callback called twice, again with %v", err)
	default:
	}
}
