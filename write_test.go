// Writing: Send and Write, drain, MaxBufferSize, callbacks, BufferSize, write
// deadlines, blocked and concurrent writers.

package nodenet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
	s := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
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

// Every accepted write has its callback called exactly once: a write
// queued while connecting gets the error that ended the connect (here the
// context's, Code ABORT_ERR), and a write dropped by Destroy gets
// ErrDestroyed, both before the CloseEvent.
func TestCoreCallbackOfWriteQueuedWhileConnecting(t *testing.T) {
	port, err := hangingListener(t, netip.MustParseAddr("127.0.0.1"), 0)
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

// TestFlowConcurrentWriters proves that Send, Write and End used by many
// goroutines at once (under -race) lose and corrupt nothing: each call is
// queued whole, each goroutine's records arrive in its order, every call
// that succeeded is received and none that failed; calls after End fail
// with ErrWriteAfterEnd (those blocked in Write when End comes included).
// A 4 KiB HighWaterMark with a 1 KiB LowWaterMark, and the Sends piling
// up behind the writer, make the Writes wait on the marks now and then.
func TestFlowConcurrentWriters(t *testing.T) {
	t.Parallel()
	const (
		writers = 8
		records = 300
		recSize = 512
		endAt   = 100 // End once writer 0 has written this many records
	)
	s, peer, _ := connectedRawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 4096, LowWaterMark: 1024}})

	received := make(chan flowRead, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(testTimeout))
		b, err := io.ReadAll(peer)
		received <- flowRead{b, err}
	}()

	rec := func(id, seq int) []byte {
		p := make([]byte, recSize)
		p[0] = byte(id)
		binary.BigEndian.PutUint32(p[1:], uint32(seq))
		for i := 5; i < recSize; i++ {
			p[i] = byte(id*31 + seq*7 + i)
		}
		return p
	}
	var ok [writers]int
	var errs [writers]error
	ended := make(chan struct{})
	var wg sync.WaitGroup
	for id := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range records {
				var err error
				if id%2 == 0 {
					_, err = s.Write(rec(id, seq))
				} else {
					_, err = s.Send(rec(id, seq), nil)
				}
				if err != nil {
					errs[id] = err
					return
				}
				ok[id]++
				if id == 0 && seq == endAt {
					close(ended)
				}
				if id%2 == 1 {
					runtime.Gosched() // let Sends interleave with the blocked Writes
				}
			}
		}()
	}
	endErr := make(chan error, 1)
	go func() {
		<-ended
		endErr <- s.End()
	}()
	wg.Wait()
	if err := <-endErr; err != nil {
		t.Fatalf("End = %v", err)
	}
	got := flowRecv(t, "peer read", received)

	for id, err := range errs {
		if err != nil && !errors.Is(err, ErrWriteAfterEnd) {
			t.Errorf("writer %d: %v; want nil or ErrWriteAfterEnd", id, err)
		}
	}
	if errs[0] != nil && ok[0] <= endAt {
		t.Errorf("writer 0 failed after %d records, before it called for End", ok[0])
	}
	if len(got)%recSize != 0 {
		t.Fatalf("peer got %d bytes, not a whole number of records", len(got))
	}
	var next [writers]int
	for off := 0; off < len(got); off += recSize {
		p := got[off : off+recSize]
		id, seq := int(p[0]), int(binary.BigEndian.Uint32(p[1:]))
		if id >= writers {
			t.Fatalf("record at %d: writer %d", off, id)
		}
		if seq != next[id] {
			t.Fatalf("record at %d: writer %d's #%d; want #%d", off, id, seq, next[id])
		}
		if !bytes.Equal(p, rec(id, seq)) {
			t.Fatalf("record at %d (writer %d #%d) is corrupt", off, id, seq)
		}
		next[id]++
	}
	total := 0
	for id := range writers {
		total += ok[id]
		if next[id] != ok[id] {
			t.Errorf("writer %d: %d records received; %d calls succeeded", id, next[id], ok[id])
		}
	}
	if want := int64(total * recSize); s.BytesWritten() != want {
		t.Errorf("BytesWritten = %d; want %d", s.BytesWritten(), want)
	}
}

// A Write blocked on a peer that reads nothing gives up at the write
// deadline (os.ErrDeadlineExceeded, a net.Error whose Timeout is true),
// or when its context is done (ctx.Err()), and reports exactly what it
// queued: every byte it counts reaches the peer.
func TestWriteDeadlineAndContext(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"deadline", "context"} {
		t.Run(how, func(t *testing.T) {
			s, peer := flowPair(t, "unix", ConnectOptions{})
			recordConnected(t, s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var written atomic.Int64
			res := make(chan error, 1)
			go func() {
				chunk := make([]byte, 64<<10)
				for {
					var n int
					var err error
					if how == "context" {
						n, err = s.WriteContext(ctx, chunk)
					} else {
						n, err = s.Write(chunk)
					}
					written.Add(int64(n))
					if err != nil {
						res <- err
						return
					}
				}
			}()
			waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
			if how == "context" {
				cancel()
				if err := <-res; !errors.Is(err, context.Canceled) {
					t.Fatalf("blocked WriteContext after cancel = %v; want context.Canceled", err)
				}
			} else {
				s.SetWriteDeadline(time.Now())
				err := <-res
				var ne interface{ Timeout() bool }
				if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("blocked Write after the deadline = %v; want os.ErrDeadlineExceeded, a timeout", err)
				}
				if _, err := s.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Write past the deadline = %v; want os.ErrDeadlineExceeded at once", err)
				}
				s.SetWriteDeadline(time.Time{})
			}
			got := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(io.Discard, peer)
				got <- n
			}()
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			if n := <-got; n != written.Load() {
				t.Errorf("peer read %d bytes; want the %d Write reported", n, written.Load())
			}
		})
	}
}

// A Write blocked on a peer that reads nothing is released by Destroy,
// and on a server's socket by Shutdown's deadline, which destroys it:
// ErrSocketClosed, with how much it had queued.
func TestBlockedWriteReleasedByDestroyAndShutdown(t *testing.T) {
	writeUntilError := func(s *Socket) error {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := s.Write(chunk); err != nil {
				return err
			}
		}
	}
	t.Run("Destroy", func(t *testing.T) {
		s, _ := flowPair(t, "unix", ConnectOptions{})
		res := make(chan error, 1)
		go func() { res <- writeUntilError(s) }()
		waitUntil(t, "the Write to block on a full queue", func() bool { return flowWriteParked(s) })
		s.Destroy()
		if err := <-res; !errors.Is(err, ErrSocketClosed) {
			t.Errorf("blocked Write after Destroy = %v; want ErrSocketClosed", err)
		}
	})
	t.Run("Shutdown", func(t *testing.T) {
		parked := make(chan *Socket, 1)
		res := make(chan error, 1)
		srv := createServer(t, ServerOptions{}, func(c *Socket) {
			parked <- c
			res <- writeUntilError(c)
		})
		port := listenTCP(t, srv)
		dialRaw(t, port) // reads nothing
		c := <-parked
		waitUntil(t, "the handler's Write to block on a full queue", func() bool { return flowWriteParked(c) })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var forced *ForcedError
		if err := srv.Shutdown(ctx); !errors.As(err, &forced) || forced.Forced != 1 {
			t.Errorf("Shutdown = %v; want a *ForcedError with one connection forced", err)
		}
		if err := <-res; !errors.Is(err, ErrSocketClosed) {
			t.Errorf("handler's blocked Write after the forced Shutdown = %v; want ErrSocketClosed", err)
		}
	})
}

// TestWriteCallbacksInOrder ports pummel/test-net-write-callbacks, scaled
// to 20,000 writes: every callback runs once, in write order, all before
// the FIN of End; the peer receives every byte in order.
func TestWriteCallbacksInOrder(t *testing.T) {
	t.Parallel()
	const n = 20000
	s, raw, r := connectedRawPair(t, ConnectOptions{})

	var mu sync.Mutex
	var order []int
	var cbErrs []error
	var want bytes.Buffer
	for i := range n {
		p := fmt.Sprintf("hello world %05d\n", i)
		want.WriteString(p)
		if _, err := s.SendString(p, "", func(err error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, i)
			if err != nil {
				cbErrs = append(cbErrs, err)
			}
		}); err != nil {
			t.Fatalf("SendString #%d = %v", i, err)
		}
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, raw) // ends at the FIN, which follows the callbacks

	mu.Lock()
	if len(order) != n {
		t.Errorf("%d callbacks ran before the FIN; want %d", len(order), n)
	}
	for k, i := range order {
		if i != k {
			t.Errorf("callback #%d ran at place %d: out of order or repeated", i, k)
			break
		}
	}
	if len(cbErrs) != 0 {
		t.Errorf("callback errors: %v", cbErrs[0])
	}
	mu.Unlock()
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("peer got %d bytes, differing from the %d written", len(got), want.Len())
	}
	raw.Close()
	if got, want := names(eventsWithout[DrainEvent](r.wait())), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// writerChunk is chunk i of writer g: "g:iiiiii:" then the letter of g up to
// size-1 bytes, then a newline.
func writerChunk(g, i, size int) []byte {
	p := bytes.Repeat([]byte{byte('a' + g)}, size)
	copy(p, fmt.Sprintf("%d:%06d:", g, i))
	p[size-1] = '\n'
	return p
}

// TestConcurrentWriters: Writes from many goroutines each reach the peer
// whole, never interleaved with another, and in each goroutine's order.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	const writers, chunks, size = 8, 1000, 1024
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	destroyAfterTimeout(t, s) // Write returns once the socket is destroyed
	type result struct {
		b   []byte
		err error
	}
	read := make(chan result, 1)
	go func() {
		raw.SetReadDeadline(time.Now().Add(testTimeout))
		b, err := io.ReadAll(raw)
		read <- result{b, err}
	}()

	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range chunks {
				if _, err := s.Write(writerChunk(g, i, size)); err != nil {
					errs <- fmt.Errorf("writer %d, chunk %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	res := recv(t, read, "the peer's read")
	if res.err != nil {
		t.Fatalf("peer read: %v", res.err)
	}
	got := res.b
	if len(got) != writers*chunks*size {
		t.Fatalf("peer got %d bytes; want %d", len(got), writers*chunks*size)
	}
	next := make([]int, writers)
	for off := 0; off < len(got); off += size {
		rec := got[off : off+size]
		g := int(rec[0] - '0')
		var i int
		if g < 0 || g >= writers || rec[1] != ':' {
			t.Fatalf("chunk at offset %d is torn: %q...", off, rec[:16])
		}
		if _, err := fmt.Sscanf(string(rec[2:8]), "%06d", &i); err != nil || !bytes.Equal(rec, writerChunk(g, i, size)) {
			t.Fatalf("chunk at offset %d is torn: %q...", off, rec[:16])
		}
		if i != next[g] {
			t.Fatalf("writer %d: chunk %d at offset %d; want chunk %d", g, i, off, next[g])
		}
		next[g]++
	}
	raw.Close()
	if got, want := names(r.wait()), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestNoDrainWithoutFalseSend: Sends that all return true, flushed in
// full, owe no DrainEvent, over the whole life of the connection.
func TestNoDrainWithoutFalseSend(t *testing.T) {
	t.Parallel()
	s, raw, r := connectedRawPair(t, ConnectOptions{})
	done := make(chan error, 1)
	for i := range 100 {
		var cb func(error)
		if i == 99 {
			cb = func(err error) { done <- err }
		}
		if ok, err := s.Send(make([]byte, 100), cb); !ok || err != nil {
			t.Fatalf("Send(100 bytes) #%d = %v, %v; want true, nil", i, ok, err)
		}
	}
	if err := recv(t, done, "the last write callback"); err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, raw); len(got) != 100*100 {
		t.Errorf("peer got %d bytes; want %d", len(got), 100*100)
	}
	raw.Close()
	if got, want := names(r.wait()), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q (no drain)", got, want)
	}
}

// TestBufferSizeAgainstStalledPeer is scenario 6: against a peer that does
// not read, every 64 KiB Send returns false, BufferSize is the sum less
// what the kernel took, BytesWritten counts every byte; once the peer
// reads, the queue empties with a DrainEvent before the last write's
// callback, and there are never more DrainEvents than false Sends.
func TestBufferSizeAgainstStalledPeer(t *testing.T) {
	const chunk, chunks = 64 << 10, 64
	const kernel = 1 << 20 // generous bound on what the small kernel buffers hold
	s, raw, r := connectedRawPair(t, ConnectOptions{})
	raw.SetReadBuffer(64 << 10)
	openTCPConn(t, s).SetWriteBuffer(64 << 10)

	payload := make([]byte, chunk*chunks)
	rand.New(rand.NewSource(13)).Read(payload)
	done := make(chan error, 1)
	for i := range chunks {
		var cb func(error)
		if i == chunks-1 {
			cb = func(err error) { done <- err }
		}
		ok, err := s.Send(payload[i*chunk:(i+1)*chunk], cb)
		if ok || err != nil {
			t.Fatalf("Send(64 KiB) #%d = %v, %v; want false, nil", i, ok, err)
		}
	}
	sum := len(payload)
	if got := s.BytesWritten(); got != int64(sum) {
		t.Errorf("BytesWritten = %d; want %d", got, sum)
	}
	if got := s.BufferSize(); got > sum || got < sum-kernel {
		t.Errorf("BufferSize = %d; want between %d and %d (the sum less what the kernel took)", got, sum-kernel, sum)
	}
	select {
	case err := <-done:
		t.Fatalf("the last write's callback ran (err %v) though the peer reads nothing", err)
	default:
	}
	// A marker between the DrainEvents of Sends the kernel took whole and
	// the one owed for the queue: the idle socket times out while the peer
	// reads nothing.
	if err := s.SetTimeout(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.waitFor("timeout", isKind[TimeoutEvent])
	if err := s.SetTimeout(0); err != nil {
		t.Fatal(err)
	}
	if got := s.BufferSize(); got == 0 {
		t.Fatal("BufferSize = 0 though the peer reads nothing")
	}

	type result struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	read := make(chan result, 1)
	go func() {
		raw.SetReadDeadline(time.Now().Add(testTimeout))
		h := sha256.New()
		n, err := io.Copy(h, raw)
		var res result
		res.n, res.err = n, err
		copy(res.sum[:], h.Sum(nil))
		read <- res
	}()
	if err := recv(t, done, "the last write's callback"); err != nil {
		t.Fatal(err)
	}
	if got := s.BufferSize(); got != 0 {
		t.Errorf("BufferSize at the last write's callback = %d; want 0", got)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	res := recv(t, read, "the peer's read")
	if want := sha256.Sum256(payload); res.err != nil || res.n != int64(sum) || res.sum != want {
		t.Errorf("peer read %d bytes (err %v), checksum match %v; want %d bytes matching", res.n, res.err, res.sum == want, sum)
	}
	raw.Close()
	evs := r.wait()
	if n := count[DrainEvent](evs); n < 1 || n > chunks {
		t.Errorf("%d DrainEvents; want between 1 and %d (one per false Send at most)", n, chunks)
	}
	if got, want := names(eventsWithout[DrainEvent](eventsWithout[TimeoutEvent](evs))), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	// More than one TimeoutEvent may come before SetTimeout(0): a write
	// the kernel takes while the peer reads nothing (its window may still
	// grow) starts a new idle period. The owed drain comes after the last.
	for i := len(evs) - 1; i >= 0; i-- {
		if isKind[TimeoutEvent](evs[i]) {
			if got, want := names(evs[i+1:]), "drain end close(false)"; got != want {
				t.Errorf("events after the queue filled = %q; want %q", got, want)
			}
			break
		}
	}
}

func TestHighWaterMarkAndDrain(t *testing.T) {
	s, raw, r := connectedRawPair(t, ConnectOptions{})
	go io.Copy(io.Discard, raw)

	if ok, _ := s.Send(make([]byte, defaultHighWaterMark-1), nil); !ok {
		t.Error("Send(16383 bytes) = false; want true")
	}
	cb := make(chan error, 1)
	if ok, _ := s.Send(make([]byte, defaultHighWaterMark), func(err error) { cb <- err }); ok {
		t.Error("Send(16384 more bytes) = true; want false")
	}
	// Whatever this one returns (true if the kernel has taken the rest
	// meanwhile), it must not cancel the owed drain (v0.10.18's bug).
	s.Send([]byte("x"), nil)
	r.waitFor("drain", isKind[DrainEvent])
	if err := <-cb; err != nil {
		t.Errorf("callback error %v", err)
	}
	if got := s.BufferSize(); got != 0 {
		t.Errorf("BufferSize after drain = %d; want 0", got)
	}
	s.Destroy()
	drains := 0
	for _, ev := range r.wait() {
		if isKind[DrainEvent](ev) {
			drains++
		}
	}
	if drains != 1 {
		t.Errorf("%d DrainEvents; want 1", drains)
	}
}

func TestWritesWhileConnecting(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	if got := c.ReadyState(); got != "opening" {
		t.Errorf("ReadyState while connecting = %v; want opening", got)
	}
	for i := 1; i <= 9; i++ {
		c.SendString("a", "", nil)
		if got := c.BufferSize(); got > i {
			t.Errorf("BufferSize after %d one-byte writes = %d", i, got)
		}
	}
	called := make(chan error, 1)
	c.SendString("héllo", "", func(err error) { called <- err })
	cr := record(t, c)
	s := accept(t, conns)
	sr := record(t, s)
	cr.waitFor("connect", isKind[ConnectEvent])
	c.SendString("after", "", nil)
	if got, want := string(sr.waitData(len("aaaaaaaaahélloafter"))), "aaaaaaaaahélloafter"; got != want {
		t.Errorf("server got %q; want %q", got, want)
	}
	if got := c.BytesWritten(); got != int64(len("aaaaaaaaahélloafter")) {
		t.Errorf("BytesWritten = %d", got)
	}
	if err := <-called; err != nil {
		t.Errorf("callback of a write queued while connecting: %v", err)
	}
	if i := indexOf(cr.events(), isKind[ConnectEvent]); i != 0 {
		t.Errorf("ConnectEvent at %d; want first", i)
	}
}

// Write blocks while the queue is at the mark.
func TestWriteBlocksAtMark(t *testing.T) {
	t.Parallel()
	s, raw, _ := connectedRawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 1024}})
	payload := make([]byte, 4<<20)
	rand.New(rand.NewSource(3)).Read(payload)
	done := make(chan error, 1)
	go func() {
		for off := 0; off < len(payload); off += 4096 {
			if _, err := s.Write(payload[off : off+4096]); err != nil {
				done <- err
				return
			}
			if bs := s.BufferSize(); bs > 1024+4096 {
				done <- errors.New("BufferSize grew past the mark plus one write")
				return
			}
		}
		done <- s.End()
	}()
	got := readAll(t, raw)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("peer got %d bytes, differing", len(got))
	}
}

// Node scenario 27: a write to a peer that has gone gives EPIPE or
// ECONNRESET as an event, the callback gets it first, and close(true).
func TestWriteToClosedPeer(t *testing.T) {
	t.Parallel()
	s, raw := rawPair(t, ConnectOptions{AllowHalfOpen: true})
	r := record(t, s)
	raw.Close()
	r.waitFor("end", isKind[EndEvent])
	var cbErr error
	cbDone := make(chan struct{})
	for i := 0; ; i++ {
		_, err := s.Send(make([]byte, 1024), func(err error) {
			if err != nil && cbErr == nil {
				cbErr = err
				close(cbDone)
			}
		})
		if err != nil {
			break
		}
		select {
		case <-cbDone:
		case <-r.done:
		default:
			continue
		}
		break
	}
	evs := r.wait()
	last := evs[len(evs)-1]
	if last != (CloseEvent{HadError: true}) {
		t.Fatalf("events %s; want a close(true) last", names(evs))
	}
	var ne *Error
	if !errors.As(evs[len(evs)-2].(ErrorEvent).Err, &ne) || ne.Syscall != "write" || (ne.Code != "EPIPE" && ne.Code != "ECONNRESET") {
		t.Errorf("error %v; want write EPIPE or ECONNRESET", evs[len(evs)-2])
	}
	<-cbDone
	if cbErr == nil {
		t.Error("the failed write's callback got no error")
	}
}

// MaxBufferSize bounds the queue against a peer that never reads: Send
// fails with ErrBufferFull instead of growing, Write waits for room.
func TestMaxBufferSize(t *testing.T) {
	t.Parallel()
	s, raw, _ := connectedRawPair(t, ConnectOptions{Flow: Flow{MaxBufferSize: 64 << 10}})
	chunk := make([]byte, 16<<10)
	var err error
	queued := 0
	for i := 0; i < 10000 && err == nil; i++ {
		if _, err = s.Send(chunk, nil); err == nil {
			queued += len(chunk)
		}
	}
	if !errors.Is(err, ErrBufferFull) {
		t.Fatalf("Send against a peer that never reads: %v after %d bytes; want ErrBufferFull", err, queued)
	}
	if got := s.BufferSize(); got > 64<<10 {
		t.Errorf("BufferSize() = %d; want <= %d", got, 64<<10)
	}
	if err := s.End(make([]byte, 64<<10+1)); !errors.Is(err, ErrBufferFull) {
		t.Errorf("End with data past the bound = %v; want ErrBufferFull", err)
	}
	// Write blocks instead, and goes on once the peer reads.
	wrote := make(chan error, 1)
	go func() {
		_, err := s.Write(make([]byte, 200<<10)) // larger than the bound: written in parts
		if err == nil {
			err = s.End()
		}
		wrote <- err
	}()
	got := readAll(t, raw)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if len(got) != queued+200<<10 {
		t.Errorf("peer read %d bytes; want %d", len(got), queued+200<<10)
	}
	if _, err := Connect(ConnectOptions{Port: 1, Flow: Flow{MaxBufferSize: -1}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Connect with MaxBufferSize -1 = %v; want ErrInvalidArgument", err)
	}
}
