// Reading: Pause and Resume, data with no consumer, the order of events around FIN.

package nodenet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// A paused socket that holds data and the peer's end still delivers every
// other event it owes (a DrainEvent, an ErrorEvent, a TimeoutEvent), in
// the order they were born, before the data and the EndEvent; Resume then
// delivers the data, the end and the close.
func TestCorePausedAfterFINOtherEventsPass(t *testing.T) {
	s, raw, r := connectedRawPair(t, ConnectOptions{})
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
	if ok, err := s.Send(make([]byte, defaultHighWaterMark), nil); ok || err != nil {
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
	if got := <-peerRead; len(got) != defaultHighWaterMark {
		t.Errorf("peer read %d bytes; want %d", len(got), defaultHighWaterMark)
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

// TestFlowReadHighWaterMark proves the read-ahead bound apart from the
// write mark. readLoop reads while the undelivered bytes are under
// ReadHighWaterMark and each read takes at most readBufSize (64 KiB), so
// a paused socket holds at most ReadHighWaterMark - 1 + 64 KiB.
//
// Under the write mark: a paused accepted socket with ReadHighWaterMark
// 4 KiB and HighWaterMark 64 KiB, fed exactly 4 KiB first, stops reading
// at exactly 4 KiB (it reached the bound, so no read may follow), while
// the peer writes up to 2 MiB more until its writes stall; after Resume every
// byte arrives in order.
//
// Over the write mark: a paused socket with HighWaterMark 4 KiB and
// ReadHighWaterMark 256 KiB reads ahead at least 256 KiB, and at most
// 256 KiB - 1 + 64 KiB.
func TestFlowReadHighWaterMark(t *testing.T) {
	t.Run("under the write mark", func(t *testing.T) {
		const rhwm = 4096
		_, port, conns := newServer(t, ServerOptions{Flow: Flow{HighWaterMark: 64 << 10, ReadHighWaterMark: rhwm}})
		peer := dialRaw(t, port)
		s := accept(t, conns)
		s.Pause()
		r := record(t, s)
		payload := flowPayload(2<<20, 11)

		if _, err := peer.Write(payload[:rhwm]); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the first 4 KiB read", func() bool { return s.BytesRead() >= rhwm })
		if err := peer.SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
		// Write until the kernel buffers are full: a write that makes no
		// progress for 100 ms. The socket, at its bound, must read nothing
		// meanwhile.
		sent := rhwm
		for {
			peer.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := peer.Write(payload[sent:])
			sent += n
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("peer write: %v", err)
				}
				if n == 0 {
					break
				}
			}
			if sent == len(payload) {
				t.Fatal("2 MiB went into the kernel buffers: cannot test the bound")
			}
		}
		if got := s.BytesRead(); got != rhwm {
			t.Errorf("BytesRead while paused at the read mark = %d; want %d", got, rhwm)
		}
		if st := s.Stats(); st.Unread != rhwm || !s.IsPaused() {
			t.Errorf("Stats while paused = Unread %d, IsPaused %v; want %d, true", st.Unread, s.IsPaused(), rhwm)
		}
		if got := dataOf(r.events()); len(got) != 0 {
			t.Errorf("%d bytes delivered while paused", len(got))
		}

		peer.SetWriteBuffer(1 << 20)
		s.Resume()
		wrote := writeThenCloseWrite(peer, payload[sent:])
		if got := r.waitData(len(payload)); !bytes.Equal(got, payload) {
			t.Errorf("data after Resume differs (%d bytes)", len(got))
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("over the write mark", func(t *testing.T) {
		const rhwm = 256 << 10
		s, peer := rawPair(t, ConnectOptions{Flow: Flow{HighWaterMark: 4096, ReadHighWaterMark: rhwm}})
		s.Pause()
		r := recordConnected(t, s)
		payload := flowPayload(2<<20, 12)
		wrote := writeThenCloseWrite(peer, payload)
		waitUntil(t, "the read mark read ahead", func() bool { return s.BytesRead() >= rhwm })
		if got, max := s.Stats().Unread, rhwm-1+readBufSize; got > max {
			t.Errorf("Unread while paused = %d; want <= %d", got, max)
		}
		if got := dataOf(r.events()); len(got) != 0 {
			t.Errorf("%d bytes delivered while paused", len(got))
		}
		s.Resume()
		if got := r.waitData(len(payload)); !bytes.Equal(got, payload) {
			t.Errorf("data after Resume differs (%d bytes)", len(got))
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})
}

// TestBinaryEcho ports test-net-binary: every byte value, written as a
// latin-1 string with "binary" and decoded with "binary", comes back from
// a Pipe echo server unchanged.
func TestBinaryEcho(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	port := listenTCP(t, srv)
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	fired := destroyAfterTimeout(t, c)
	if err := c.SetEncoding("binary"); err != nil {
		t.Fatal(err)
	}
	var binaryString strings.Builder
	for i := 255; i >= 0; i-- {
		binaryString.WriteRune(rune(i))
	}

	var recv strings.Builder
	j := 0
	for ev := range c.Events() {
		switch e := ev.(type) {
		case ConnectEvent:
			if _, err := c.SendString(binaryString.String(), "binary", nil); err != nil {
				t.Errorf("SendString(binary string) = %v", err)
			}
		case DataEvent:
			if j < 256 {
				if _, err := c.SendString(string(rune(j)), "binary", nil); err != nil {
					t.Errorf("SendString(%q) = %v", rune(j), err)
				}
				j++
			} else {
				c.End()
			}
			recv.WriteString(e.Text)
		case ErrorEvent:
			t.Errorf("client error: %v", e.Err)
		}
	}
	if fired.Load() {
		t.Error("timed out: the client was destroyed")
	}
	got := []rune(recv.String())
	if len(got) != 2*256 {
		t.Fatalf("received %d characters; want %d", len(got), 2*256)
	}
	for i := 0; i < 256; i++ {
		if got[255-i] != rune(i) || got[256+i] != rune(i) {
			t.Fatalf("character %d: got %U and %U; want %U for both", i, got[255-i], got[256+i], rune(i))
		}
	}
	if c.BytesRead() != 512 || c.BytesWritten() != 512 {
		t.Errorf("BytesRead %d, BytesWritten %d; want 512 and 512", c.BytesRead(), c.BytesWritten())
	}
}

// TestPauseResumeBeforeConnect ports test-net-pause-resume-connecting
// (scenario 17): Pause and Resume before Connect carry over; only the
// clients whose last call was Resume get data, and the paused ones hold
// it, read but undelivered, until they resume.
func TestPauseResumeBeforeConnect(t *testing.T) {
	t.Parallel()
	const msg = "This was the year he fell to pieces."
	_, port, conns := newServer(t, ServerOptions{})
	tests := []struct {
		name     string
		give     string // p for Pause, r for Resume, in order
		wantData bool
	}{
		{name: "resume", give: "r", wantData: true},
		{name: "pause,resume", give: "pr", wantData: true},
		{name: "pause", give: "p", wantData: false},
		{name: "resume,pause,resume", give: "rpr", wantData: true},
		{name: "resume,resume,pause", give: "rrp", wantData: false},
	}
	clients := make([]*Socket, len(tests))
	recs := make([]*recorder, len(tests))
	for i, tt := range tests {
		c, err := NewSocket(SocketOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range tt.give {
			if op == 'p' {
				c.Pause()
			} else {
				c.Resume()
			}
		}
		if got := c.IsPaused(); got == tt.wantData {
			t.Errorf("%s: IsPaused() = %v; want %v", tt.name, got, !tt.wantData)
		}
		recs[i] = record(t, c) // subscribing does not undo Pause
		if err := c.Connect(ConnectOptions{Port: port, Host: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		if err := accept(t, conns).EndString(msg, ""); err != nil {
			t.Fatal(err)
		}
	}

	for i, tt := range tests {
		if tt.wantData {
			if got := string(recs[i].waitData(len(msg))); got != msg {
				t.Errorf("%s: data %q; want %q", tt.name, got, msg)
			}
		}
	}
	for i, tt := range tests {
		if tt.wantData {
			continue
		}
		c := clients[i]
		waitUntil(t, tt.name+": the message read", func() bool { return c.BytesRead() == int64(len(msg)) })
		if n := count[DataEvent](recs[i].events()); n != 0 {
			t.Errorf("%s: %d DataEvents while paused; want 0", tt.name, n)
		}
		c.mu.Lock()
		held := c.c.q.held
		c.mu.Unlock()
		if held != len(msg) {
			t.Errorf("%s: %d bytes held while paused; want %d", tt.name, held, len(msg))
		}
		c.Resume()
		if got := string(recs[i].waitData(len(msg))); got != msg {
			t.Errorf("%s: data after Resume %q; want %q", tt.name, got, msg)
		}
	}
	for i, tt := range tests {
		if got, want := names(recs[i].wait()), "connect data end close(false)"; got != want {
			t.Errorf("%s: events = %q; want %q", tt.name, got, want)
		}
	}
}

// The consumer's contract: a socket whose events nobody reads buffers up
// to the mark, keeps the data across the peer's FIN, and closes last.
func TestNoConsumerKeepsDataThenCloses(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	raw.Write([]byte("payload"))
	raw.CloseWrite()
	waitUntil(t, "the payload read", func() bool { return s.BytesRead() == 7 })
	// It stays open until its data is consumed: close comes last.
	r := record(t, s)
	checkEventsAndData(t, "the server's socket", r.wait(), "data end close(false)", "payload")
	if got := readAll(t, raw); len(got) != 0 {
		t.Errorf("peer read %q", got)
	}
}

// A FIN with no unread data closes a socket whose events nobody reads.
func TestNoConsumerFINCloses(t *testing.T) {
	t.Parallel()
	srv, port, conns := newServer(t, ServerOptions{})
	raw := dialRaw(t, port)
	accept(t, conns)
	raw.CloseWrite()
	readAll(t, raw)
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown: %v (the connection did not close)", err)
	}
}

// Pause stops reading from the kernel at the mark: the peer's writes back
// up, and nothing is lost.
func TestPauseStopsReading(t *testing.T) {
	t.Parallel()
	s, raw := rawPair(t, ConnectOptions{})
	s.Pause()
	r := recordConnected(t, s)

	payload := make([]byte, 8<<20)
	rand.New(rand.NewSource(1)).Read(payload)
	wrote := make(chan error, 1)
	go func() {
		_, err := raw.Write(payload)
		raw.CloseWrite()
		wrote <- err
	}()
	// While paused the socket reads at most the mark plus one read; the
	// rest stays in the kernel buffers and the peer's Write blocks.
	raw.SetWriteDeadline(time.Now().Add(testTimeout))
	waitUntil(t, "the mark read", func() bool { return s.BytesRead() >= defaultHighWaterMark })
	if got := dataOf(r.events()); len(got) != 0 {
		t.Fatalf("%d bytes delivered while paused", len(got))
	}
	select {
	case err := <-wrote:
		t.Fatalf("the peer wrote 8 MiB to a paused socket (err %v)", err)
	default:
	}
	if got, max := s.BytesRead(), int64(defaultHighWaterMark+readBufSize); got > max {
		t.Errorf("BytesRead while paused = %d; want <= %d", got, max)
	}
	s.Resume()
	got := r.waitData(len(payload))
	if !bytes.Equal(got, payload) {
		t.Errorf("data differs after resume (%d bytes)", len(got))
	}
	if err := <-wrote; err != nil {
		t.Error(err)
	}
}

func TestPausedDataAndFINCloseLast(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	c.Pause()
	r := record(t, c)
	s := accept(t, conns)
	s.EndString("payload", "")
	r.waitFor("connect", isKind[ConnectEvent])
	waitUntil(t, "7 bytes read", func() bool { return c.BytesRead() >= 7 })
	if got := names(r.events()); got != "connect" {
		t.Errorf("events while paused %q; want connect", got)
	}
	c.Resume()
	if got, want := names(r.wait()), "connect data end close(false)"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

func TestBigTransferChecksum(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	port := listenTCP(t, srv)
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	r := record(t, c)
	payload := make([]byte, 8<<20)
	rand.New(rand.NewSource(2)).Read(payload)
	go func() {
		for off := 0; off < len(payload); off += 100_000 {
			c.Write(payload[off:min(off+100_000, len(payload))])
		}
		c.End()
	}()
	evs := r.wait()
	if got, want := sha256.Sum256(dataOf(evs)), sha256.Sum256(payload); got != want {
		t.Errorf("echoed data differs: %d bytes back", len(dataOf(evs)))
	}
	if got := names(evs); got != "connect data end close(false)" {
		t.Errorf("events %q", got)
	}
}
