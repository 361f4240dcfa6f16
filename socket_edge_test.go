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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// Edge cases of Socket: idle timeout, encodings, pause before connect,
// ready states, unconnected and closed sockets, bad arguments, sockets
// made from a descriptor, write callbacks, concurrent writers, bufferSize
// and Pipe backpressure.

// edgePipeSocket starts a Socket over one end of net.Pipe the way the
// server starts an accepted socket, and returns it with the other end.
// net.Pipe is unbuffered, so each Write on the peer end is one read of
// the socket, and inside a synctest bubble its reads block durably.
//
// The socket is Unref'd before it starts, so that one made inside a bubble
// never moves the package's ref count: that count's channel would then
// belong to the bubble and panic in Wait outside it. Cleanup destroys the
// socket and closes the peer end.
func edgePipeSocket(t *testing.T) (*Socket, net.Conn) {
	t.Helper()
	conn, peer := net.Pipe()
	s := newSocket(false, defaultFlow)
	s.Unref()
	s.mu.Lock()
	s.startLocked(conn)
	s.mu.Unlock()
	t.Cleanup(func() {
		s.Destroy()
		peer.Close()
	})
	return s, peer
}

// edgeAt sleeps on the bubble's fake clock until d after start, then lets
// every goroutine of the bubble settle.
func edgeAt(start time.Time, d time.Duration) {
	time.Sleep(d - time.Since(start))
	synctest.Wait()
}

// edgeCount counts the events of kind T in evs.
func edgeCount[T Event](evs []Event) int {
	n := 0
	for _, ev := range evs {
		if isKind[T](ev) {
			n++
		}
	}
	return n
}

// edgeTexts returns the Text of every DataEvent in evs, and reports each
// DataEvent that carries bytes or an empty text.
func edgeTexts(t *testing.T, evs []Event) []string {
	t.Helper()
	var texts []string
	for _, ev := range evs {
		d, ok := ev.(DataEvent)
		if !ok {
			continue
		}
		if d.Data != nil || d.Text == "" {
			t.Errorf("DataEvent with an encoding = %#v; want a non-empty Text and nil Data", d)
		}
		texts = append(texts, d.Text)
	}
	return texts
}

// edgeWithout returns evs without the events of kind T.
func edgeWithout[T Event](evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if !isKind[T](ev) {
			out = append(out, ev)
		}
	}
	return out
}

// edgeTCPConn returns the open TCP connection under s, to size its kernel
// buffers.
func edgeTCPConn(t *testing.T, s *Socket) *net.TCPConn {
	t.Helper()
	waitUntil(t, "the socket open", func() bool { return s.ReadyState() == StateOpen })
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.c.nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("the socket's connection is a %T; want *net.TCPConn", s.c.nc)
	}
	return c
}

// edgeGuard destroys s if the test still runs after testTimeout, so that a
// loop over its events ends instead of hanging; it reports whether it
// fired.
func edgeGuard(t *testing.T, s *Socket) *atomic.Bool {
	fired := new(atomic.Bool)
	tm := time.AfterFunc(testTimeout, func() {
		fired.Store(true)
		s.Destroy()
	})
	t.Cleanup(func() { tm.Stop() })
	return fired
}

// edgeRecv receives from ch, failing the test after testTimeout.
func edgeRecv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// edgeCall runs f on its own goroutine and returns its error; a panic
// comes back as an error, and a call that does not return fails the test.
func edgeCall(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatal("the call did not return")
		return nil
	}
}

// TestIdleTimeoutFakeClock is Node's idle timeout on a fake clock: a timeout
// once per idle period, re-armed by the peer's data and by the socket's
// own writes; a negative value is an error that changes nothing; 0
// disables; the socket stays open; nothing after Destroy.
func TestIdleTimeoutFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ms = time.Millisecond
		s, peer := edgePipeSocket(t)
		r := record(t, s)
		go io.Copy(io.Discard, peer) // the peer reads what the socket sends; ends when the pipe closes

		start := time.Now()
		if err := s.SetTimeout(100 * ms); err != nil {
			t.Fatalf("SetTimeout(100ms) = %v; want nil", err)
		}
		check := func(at time.Duration, want int) {
			t.Helper()
			edgeAt(start, at)
			if got := edgeCount[TimeoutEvent](r.events()); got != want {
				t.Errorf("TimeoutEvents at %v = %d; want %d", at, got, want)
			}
			if got := s.ReadyState(); got != StateOpen {
				t.Errorf("ReadyState at %v = %v; want open", at, got)
			}
		}
		send := func(at time.Duration, p string) {
			t.Helper()
			edgeAt(start, at)
			if _, err := s.SendString(p, "", nil); err != nil {
				t.Fatalf("SendString at %v = %v; want nil", at, err)
			}
			synctest.Wait()
		}

		check(99*ms, 0)
		check(100*ms, 1)
		check(249*ms, 1) // idle: no second timeout

		// The peer's data re-arms it.
		edgeAt(start, 250*ms)
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		check(349*ms, 1)
		check(350*ms, 2)

		// A write of the socket re-arms it.
		send(500*ms, "y")
		check(599*ms, 2)
		check(600*ms, 3)

		// A negative timeout is an error and leaves the timeout in force.
		send(650*ms, "z")
		edgeAt(start, 700*ms)
		if err := s.SetTimeout(-1); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetTimeout(-1) = %v; want an error wrapping ErrInvalidArgument", err)
		}
		check(749*ms, 3)
		check(800*ms, 4)

		// 0 disables it, even when armed.
		send(900*ms, "w")
		edgeAt(start, 950*ms)
		if err := s.SetTimeout(0); err != nil {
			t.Errorf("SetTimeout(0) = %v; want nil", err)
		}
		check(2000*ms, 4)

		// Destroy cancels an armed timeout.
		if err := s.SetTimeout(100 * ms); err != nil {
			t.Fatal(err)
		}
		edgeAt(start, 2050*ms)
		s.Destroy()
		edgeAt(start, 3000*ms)
		evs := r.wait()
		if got, want := names(evs), "timeout data timeout timeout timeout close(false)"; got != want {
			t.Errorf("events = %q; want %q", got, want)
		}
	})
}

// TestTimeoutHandlerWriteRearms ports test-net-can-reset-timeout: a
// consumer that writes on every TimeoutEvent re-arms the timeout with
// that write, so it gets one TimeoutEvent per idle period until the peer
// ends; with a peer that ends at once, exactly one.
func TestTimeoutHandlerWriteRearms(t *testing.T) {
	tests := []struct {
		name string
		give time.Duration // how long the peer stays after the first reply
		want int
	}{
		{name: "peer ends at once", give: 0, want: 1},
		{name: "peer stays 250ms", give: 250 * time.Millisecond, want: 3},
		{name: "peer stays 450ms", give: 450 * time.Millisecond, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := edgePipeSocket(t)
				if err := s.SetTimeout(100 * time.Millisecond); err != nil {
					t.Fatal(err)
				}
				timeouts := 0
				done := make(chan []Event, 1)
				go func() {
					var evs []Event
					for ev := range s.Events() {
						evs = append(evs, ev)
						switch ev.(type) {
						case TimeoutEvent:
							timeouts++
							if _, err := s.SendString("WHAT.", "", nil); err != nil {
								t.Errorf("SendString in the timeout handler = %v; want nil", err)
							}
						case EndEvent:
							s.End()
						}
					}
					done <- evs
				}()

				buf := make([]byte, len("WHAT."))
				if _, err := io.ReadFull(peer, buf); err != nil {
					t.Fatalf("peer read: %v", err)
				}
				copied := make(chan struct{})
				go func() {
					io.Copy(io.Discard, peer)
					close(copied)
				}()
				time.Sleep(tt.give)
				peer.Close() // EOF for the socket: net.Pipe has no CloseWrite
				edgeRecv(t, "the peer's reader to end", copied)
				evs := edgeRecv(t, "the events to end", done)
				if timeouts != tt.want {
					t.Errorf("TimeoutEvents = %d; want %d (events %s)", timeouts, tt.want, names(evs))
				}
				if got := evs[len(evs)-1]; got != (CloseEvent{}) {
					t.Errorf("last event = %v; want close(false) (events %s)", got, names(evs))
				}
			})
		})
	}
}

// TestSetEncodingOneBytePerRead is encodings split at every byte, over net.Pipe: every
// byte is its own read, and each DataEvent carries whole characters only,
// never an empty text; the decoder's remainder comes before the EndEvent.
func TestSetEncodingOneBytePerRead(t *testing.T) {
	in := []byte("a€b😀c") // 61 | e2 82 ac | 62 | f0 9f 98 80 | 63
	ucs2 := []byte{0x61, 0x00, 0xac, 0x20, 0x62, 0x00, 0x3d, 0xd8, 0x00, 0xde, 0x63, 0x00}
	chars := []string{"a", "€", "b", "😀", "c"}
	tests := []struct {
		name string
		enc  string
		give []byte
		want []string
	}{
		{name: "utf8", enc: "utf8", give: in, want: chars},
		{name: "UTF-8", enc: "UTF-8", give: in, want: chars},
		{name: "ucs2", enc: "ucs2", give: ucs2, want: chars},
		{name: "utf16le", enc: "utf16le", give: ucs2, want: chars},
		{name: "base64", enc: "base64", give: in, want: []string{"YeKC", "rGLw", "n5iA", "Yw=="}},
		{name: "hex", enc: "hex", give: in, want: []string{"61", "e2", "82", "ac", "62", "f0", "9f", "98", "80", "63"}},
		{name: "binary", enc: "binary", give: in, want: []string{"a", "\u00e2", "\u0082", "\u00ac", "b", "\u00f0", "\u009f", "\u0098", "\u0080", "c"}},
		{name: "latin1", enc: "latin1", give: in, want: []string{"a", "\u00e2", "\u0082", "\u00ac", "b", "\u00f0", "\u009f", "\u0098", "\u0080", "c"}},
		{name: "ascii", enc: "ascii", give: in, want: []string{"a", "b", "\x02", ",", "b", "p", "\x1f", "\x18", "\x00", "c"}},
		{name: "utf8 cut at EOF", enc: "utf8", give: []byte{0x61, 0xe2, 0x82}, want: []string{"a", "\uFFFD\uFFFD"}},
		{name: "ucs2 odd byte at EOF", enc: "ucs2", give: []byte{0x61, 0x00, 0x62}, want: []string{"a"}},
		{name: "base64 padded at EOF", enc: "base64", give: []byte{0x61, 0x62}, want: []string{"YWI="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := edgePipeSocket(t)
				if err := s.SetEncoding(tt.enc); err != nil {
					t.Fatalf("SetEncoding(%q) = %v; want nil", tt.enc, err)
				}
				r := record(t, s)
				for _, b := range tt.give {
					if _, err := peer.Write([]byte{b}); err != nil {
						t.Fatal(err)
					}
					synctest.Wait() // delivered before the next byte can join it
				}
				peer.Close()
				evs := r.wait()
				if diff := cmp.Diff(tt.want, edgeTexts(t, evs)); diff != "" {
					t.Errorf("DataEvent texts (-want +got):\n%s", diff)
				}
				if got, want := names(evs), "data end close(false)"; got != want {
					t.Errorf("events = %q; want %q", got, want)
				}
			})
		})
	}
}

// TestSetEncodingOneBytePerReadTCP is scenario 29 on a real TCP socket:
// the peer sends one byte at a time and waits for each to be read.
func TestSetEncodingOneBytePerReadTCP(t *testing.T) {
	s, raw := rawPair(t, ConnectOptions{})
	if err := s.SetEncoding("utf8"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNoDelay(true); err != nil {
		t.Errorf("SetNoDelay(true) = %v; want nil", err)
	}
	raw.SetNoDelay(true)
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])

	in := []byte("a€b😀c")
	for i, b := range in {
		if _, err := raw.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, fmt.Sprintf("%d bytes read", i+1), func() bool { return s.BytesRead() == int64(i+1) })
		// Wait until the complete characters so far are received, so
		// the next read cannot join a chunk still queued.
		k := i + 1
		for !utf8.Valid(in[:k]) {
			k--
		}
		r.waitFor(fmt.Sprintf("text %q", in[:k]), func(Event) bool {
			return string(dataOf(r.events())) == string(in[:k])
		})
	}
	raw.CloseWrite()
	evs := r.wait()
	if diff := cmp.Diff([]string{"a", "€", "b", "😀", "c"}, edgeTexts(t, evs)); diff != "" {
		t.Errorf("DataEvent texts (-want +got):\n%s", diff)
	}
	if got, want := names(evs), "connect data end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestSetEncodingBufferedData: data read before anyone subscribed is
// decoded by a later SetEncoding, a character split by that moment
// included.
func TestSetEncodingBufferedData(t *testing.T) {
	tests := []struct {
		name   string
		before []string // read before SetEncoding
		after  []string // read after it, still before Events
		want   []Event
	}{
		{
			name:   "all before",
			before: []string{"héllo"},
			want:   []Event{DataEvent{Text: "héllo"}, EndEvent{}, CloseEvent{}},
		},
		{
			name:   "character split at SetEncoding",
			before: []string{"h\xc3"},
			after:  []string{"\xa9llo"},
			want:   []Event{DataEvent{Text: "héllo"}, EndEvent{}, CloseEvent{}},
		},
		{
			name:   "character cut at EOF",
			before: []string{"h\xc3"},
			want:   []Event{DataEvent{Text: "h"}, DataEvent{Text: "\uFFFD"}, EndEvent{}, CloseEvent{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := edgePipeSocket(t)
				n := 0
				write := func(chunks []string) {
					for _, c := range chunks {
						if _, err := peer.Write([]byte(c)); err != nil {
							t.Fatal(err)
						}
						n += len(c)
						synctest.Wait()
					}
				}
				write(tt.before)
				if got := s.BytesRead(); got != int64(n) {
					t.Fatalf("BytesRead before SetEncoding = %d; want %d", got, n)
				}
				if err := s.SetEncoding("utf8"); err != nil {
					t.Fatal(err)
				}
				write(tt.after)
				r := record(t, s)
				synctest.Wait()
				peer.Close()
				if diff := cmp.Diff(tt.want, r.wait()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestSetEncodingUnknown: an unknown name is Node's ERR_UNKNOWN_ENCODING
// with its message, and the socket keeps what it had (bytes, or the old encoding).
func TestSetEncodingUnknown(t *testing.T) {
	tests := []struct {
		name  string
		first string // a valid encoding set before, or ""
		give  string
		want  DataEvent
	}{
		{name: "no encoding", give: "utf_8", want: DataEvent{Data: []byte("héllo")}},
		{name: "after hex", first: "hex", give: "utf16", want: DataEvent{Text: "68c3a96c6c6f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := edgePipeSocket(t)
				if tt.first != "" {
					if err := s.SetEncoding(tt.first); err != nil {
						t.Fatal(err)
					}
				}
				err := s.SetEncoding(tt.give)
				checkUnknownEncoding(t, "SetEncoding("+tt.give+")", err, tt.give)
				if want := "Unknown encoding: " + tt.give; err == nil || err.Error() != want {
					t.Errorf("SetEncoding(%q) message = %v; want %q", tt.give, err, want)
				}
				r := record(t, s)
				if _, err := peer.Write([]byte("héllo")); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				peer.Close()
				want := []Event{tt.want, EndEvent{}, CloseEvent{}}
				if diff := cmp.Diff(want, r.wait()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestLargeStringUTF8 ports test-net-large-string: 40960 'あ' written with
// "UTF-8" arrive whole at a receiver decoding "UTF-8", though TCP splits
// the characters across reads.
func TestLargeStringUTF8(t *testing.T) {
	const n = 40 * 1024
	data := strings.Repeat("あ", n)
	_, port, conns := newServer(t, ServerOptions{})
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cr := record(t, c)
	if _, err := c.SendString(data, "UTF-8", nil); err != nil {
		t.Fatalf("SendString(..., \"UTF-8\") = %v; want nil", err)
	}
	if err := c.End(); err != nil {
		t.Fatal(err)
	}

	s := accept(t, conns)
	fired := edgeGuard(t, s)
	if err := s.SetEncoding("UTF-8"); err != nil {
		t.Fatalf("SetEncoding(\"UTF-8\") = %v; want nil", err)
	}
	var got strings.Builder
	for ev := range s.Events() {
		switch e := ev.(type) {
		case DataEvent:
			if e.Data != nil || e.Text == "" || !utf8.ValidString(e.Text) || strings.ContainsRune(e.Text, utf8.RuneError) {
				t.Errorf("DataEvent %v: want whole characters as non-empty text", e)
			}
			got.WriteString(e.Text)
		case EndEvent:
			s.End()
		case ErrorEvent:
			t.Errorf("server socket: %v", e.Err)
		}
	}
	if fired.Load() {
		t.Fatal("timed out: the server socket was destroyed")
	}
	if got := utf8.RuneCountInString(got.String()); got != n {
		t.Errorf("received %d runes; want %d", got, n)
	}
	if got.String() != data {
		t.Error("received text differs from the sent text")
	}
	// The 120 KiB Send is over the mark: a DrainEvent is owed.
	if got, want := names(cr.wait()), "connect drain end close(false)"; got != want {
		t.Errorf("client events = %q; want %q", got, want)
	}
}

// TestSendStringEncodings: SendString puts the bytes of each encoding on
// the wire, as Node's Buffer(string, encoding).
func TestSendStringEncodings(t *testing.T) {
	tests := []struct {
		name string
		enc  string
		give string
		want []byte
	}{
		{name: "default", enc: "", give: "héllo", want: []byte("héllo")},
		{name: "utf8", enc: "utf8", give: "héllo €", want: []byte("héllo €")},
		{name: "UTF-8", enc: "UTF-8", give: "😀", want: []byte{0xf0, 0x9f, 0x98, 0x80}},
		{name: "hex", enc: "hex", give: "00ff7Fa0", want: []byte{0x00, 0xff, 0x7f, 0xa0}},
		{name: "base64", enc: "base64", give: "aGVsbG8=", want: []byte("hello")},
		{name: "base64 unpadded", enc: "base64", give: "YWI", want: []byte("ab")},
		{name: "ascii", enc: "ascii", give: "héllo", want: []byte{'h', 0xe9, 'l', 'l', 'o'}},
		{name: "binary", enc: "binary", give: "h\u00e9\u00ff\u0000", want: []byte{'h', 0xe9, 0xff, 0x00}},
		{name: "latin1", enc: "latin1", give: "\u00ffA\u0080", want: []byte{0xff, 'A', 0x80}},
		{name: "ucs2", enc: "ucs2", give: "h€", want: []byte{'h', 0x00, 0xac, 0x20}},
		{name: "ucs-2", enc: "ucs-2", give: "a", want: []byte{'a', 0x00}},
		{name: "utf16le", enc: "utf16le", give: "😀", want: []byte{0x3d, 0xd8, 0x00, 0xde}},
		{name: "utf-16le", enc: "utf-16le", give: "hé", want: []byte{'h', 0x00, 0xe9, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, raw := rawPair(t, ConnectOptions{})
			ok, err := s.SendString(tt.give, tt.enc, nil)
			if !ok || err != nil {
				t.Fatalf("SendString(%q, %q) = %v, %v; want true, nil", tt.give, tt.enc, ok, err)
			}
			if got := s.BytesWritten(); got != int64(len(tt.want)) {
				t.Errorf("BytesWritten = %d; want %d", got, len(tt.want))
			}
			if err := s.End(); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, raw); !bytes.Equal(got, tt.want) {
				t.Errorf("peer got % x; want % x", got, tt.want)
			}
		})
	}
}

// TestSendStringRejectedQueuesNothing: an unknown encoding (or bad hex)
// returns an error and queues nothing: BufferSize, BytesWritten and the
// bytes on the wire are unchanged, and End with a bad encoding does not
// end the socket.
func TestSendStringRejectedQueuesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := edgePipeSocket(t)
		// The peer does not read yet: "abc" stays queued in the writer.
		if _, err := s.SendString("abc", "", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := s.BufferSize(); got != 3 {
			t.Fatalf("BufferSize with 3 bytes unread = %d; want 3", got)
		}

		_, err := s.SendString("x", "utf_8", nil)
		checkUnknownEncoding(t, `SendString("x", "utf_8")`, err, "utf_8")
		if _, err := s.SendString("abc", "hex", nil); err == nil {
			t.Error("SendString(\"abc\", \"hex\") = nil error; want an error")
		}
		checkUnknownEncoding(t, `EndString("x", "bogus")`, s.EndString("x", "bogus"), "bogus")
		synctest.Wait()
		if got := s.BufferSize(); got != 3 {
			t.Errorf("BufferSize after rejected writes = %d; want 3", got)
		}
		if got := s.BytesWritten(); got != 3 {
			t.Errorf("BytesWritten after rejected writes = %d; want 3", got)
		}
		if got := s.ReadyState(); got != StateOpen {
			t.Errorf("ReadyState after a rejected EndString = %v; want open", got)
		}

		if _, err := s.SendString("ok", "", nil); err != nil {
			t.Fatalf("SendString after rejected writes = %v; want nil", err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatal(err)
		}
		if got := string(buf); got != "abcok" {
			t.Errorf("peer got %q; want %q", got, "abcok")
		}
		synctest.Wait()
		if got := s.BufferSize(); got != 0 {
			t.Errorf("BufferSize when all is read = %d; want 0", got)
		}
	})
}

// TestBinaryEcho ports test-net-binary: every byte value, written as a
// latin-1 string with "binary" and decoded with "binary", comes back from
// a Pipe echo server unchanged.
func TestBinaryEcho(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	port := listenTCP(t, srv)
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Destroy)
	fired := edgeGuard(t, c)
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
		if n := edgeCount[DataEvent](recs[i].events()); n != 0 {
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

// edgeBlackHole returns the port of a loopback listener that never
// accepts and whose queue is full, so that the kernel drops every SYN
// sent to it and a connect stays in progress until it is abandoned.
// (Listen with backlog 0 leaves room for one connection, taken here.)
func edgeBlackHole(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "black hole")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return port
}

// TestReadyStateTransitions ports net-socket-readystate: closed, opening,
// open, readOnly after End, closed at close. The checks that Node makes
// synchronously are made where nothing can move the state meanwhile: the
// connect goes to a black hole, and the peer holds its FIN (half-open).
func TestReadyStateTransitions(t *testing.T) {
	check := func(when string, s *Socket, want ReadyState, wantName string) {
		t.Helper()
		if got := s.ReadyState(); got != want || got.String() != wantName {
			t.Errorf("ReadyState %s = %v; want %s", when, got, wantName)
		}
	}

	pending, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("of a new socket", pending, StateClosed, "closed")
	if err := pending.Connect(ConnectOptions{Port: edgeBlackHole(t), Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	check("while connecting", pending, StateOpening, "opening")
	pr := record(t, pending)
	pending.Destroy()
	if got, want := names(pr.wait()), "close(false)"; got != want {
		t.Errorf("events of a socket destroyed while connecting = %q; want %q", got, want)
	}
	check("after Destroy while connecting", pending, StateClosed, "closed")

	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	c, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ConnectOptions{Port: port, Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	r.waitFor("connect", isKind[ConnectEvent])
	check("after ConnectEvent", c, StateOpen, "open")
	s := accept(t, conns)
	check("of the accepted socket", s, StateOpen, "open")
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	check("after End", c, StateReadOnly, "readOnly")
	if err := s.End(); err != nil { // the server's FIN: c closes
		t.Fatal(err)
	}
	if got, want := names(r.wait()), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	check("after close", c, StateClosed, "closed")
}

// TestTimeoutWhileConnecting: the idle timeout covers the connecting
// phase (Node v0.10's net.js): a connect that hangs gives a TimeoutEvent while
// the socket is still opening, and nothing is aborted.
func TestTimeoutWhileConnecting(t *testing.T) {
	c, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetTimeout(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ConnectOptions{Port: edgeBlackHole(t), Host: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	r := record(t, c)
	r.waitFor("timeout", isKind[TimeoutEvent])
	if got := c.ReadyState(); got != StateOpening {
		t.Errorf("ReadyState at the TimeoutEvent = %v; want opening", got)
	}
	c.Destroy()
	if got, want := names(r.wait()), "timeout close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestReadyStateHalfOpenServer: an AllowHalfOpen server socket is
// writeOnly after the peer's end, and closed once it ends too.
func TestReadyStateHalfOpenServer(t *testing.T) {
	_, port, conns := newServer(t, ServerOptions{AllowHalfOpen: true})
	raw := dialRaw(t, port)
	s := accept(t, conns)
	r := record(t, s)
	if got := s.ReadyState(); got != StateOpen {
		t.Errorf("ReadyState of the accepted socket = %v; want open", got)
	}
	raw.CloseWrite()
	r.waitFor("end", isKind[EndEvent])
	if got := s.ReadyState(); got != StateWriteOnly || got.String() != "writeOnly" {
		t.Errorf("ReadyState after EndEvent = %v; want writeOnly", got)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if got := s.ReadyState(); got != StateClosed {
		t.Errorf("ReadyState after End = %v; want closed", got)
	}
	if got := readAll(t, raw); len(got) != 0 {
		t.Errorf("peer got %q; want nothing", got)
	}
	if got, want := names(r.wait()), "end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// TestUnconnectedSocket is scenario 30 (a, b) and test-net-end-without-
// connect: a socket that never connected has no address, its setters do
// nothing, writes fail, and End or Destroy close its event stream.
func TestUnconnectedSocket(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		close func(s *Socket) error
		want  []Event
		// wantWrite is the error of a write after close.
		wantWrite error
	}{
		{name: "End", close: func(s *Socket) error { return s.End() }, want: []Event{CloseEvent{}}, wantWrite: ErrWriteAfterEnd},
		{name: "Destroy", close: func(s *Socket) error { s.Destroy(); s.Destroy(); return nil }, want: []Event{CloseEvent{}}, wantWrite: ErrSocketClosed},
		{name: "DestroyWithError", close: func(s *Socket) error { s.DestroyWithError(boom); return nil }, want: []Event{ErrorEvent{Err: boom}, CloseEvent{HadError: true}}, wantWrite: ErrSocketClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Destroy)
			if got := s.Address(); got != (Addr{}) {
				t.Errorf("Address() = %+v; want the zero Addr", got)
			}
			if s.RemoteAddress() != "" || s.RemotePort() != 0 || s.LocalAddress() != "" || s.LocalPort() != 0 {
				t.Errorf("remote %q %d, local %q %d; want empty and 0", s.RemoteAddress(), s.RemotePort(), s.LocalAddress(), s.LocalPort())
			}
			if s.BufferSize() != 0 || s.BytesRead() != 0 || s.BytesWritten() != 0 {
				t.Errorf("BufferSize %d, BytesRead %d, BytesWritten %d; want 0, 0, 0", s.BufferSize(), s.BytesRead(), s.BytesWritten())
			}
			if got := s.ReadyState(); got != StateClosed {
				t.Errorf("ReadyState() = %v; want closed", got)
			}
			if got := s.Server(); got != nil {
				t.Errorf("Server() = %v; want nil", got)
			}
			if err := s.SetNoDelay(true); err != nil {
				t.Errorf("SetNoDelay(true) = %v; want nil", err)
			}
			if err := s.SetKeepAlive(true, 2*time.Second); err != nil {
				t.Errorf("SetKeepAlive(true, 2s) = %v; want nil", err)
			}
			s.Ref()
			s.Unref()
			s.Ref()
			s.Pause()
			s.Resume()
			if _, err := s.Send([]byte("x"), nil); !errors.Is(err, ErrSocketClosed) {
				t.Errorf("Send before Connect = %v; want %v", err, ErrSocketClosed)
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, ErrSocketClosed) {
				t.Errorf("Write before Connect = %v; want %v", err, ErrSocketClosed)
			}

			if err := tt.close(s); err != nil {
				t.Errorf("%s() = %v; want nil", tt.name, err)
			}
			evs := untilClosed(t, "Events() after "+tt.name, s.Events())
			if diff := cmp.Diff(tt.want, evs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if _, err := s.SendString("x", "", nil); !errors.Is(err, tt.wantWrite) {
				t.Errorf("SendString after %s = %v; want %v", tt.name, err, tt.wantWrite)
			}
			if got := s.BufferSize(); got != 0 {
				t.Errorf("BufferSize after %s = %d; want 0", tt.name, got)
			}
		})
	}
}

// TestMethodsAfterClose ports test-net-after-close: every method of a
// closed socket returns, without a panic, and the getters give their zero
// values.
func TestMethodsAfterClose(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(s *Socket) { s.End() })
	port := listenTCP(t, srv)
	c, err := ConnectTCP(port, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(record(t, c).wait()), "connect end close(false)"; got != want {
		t.Fatalf("events = %q; want %q", got, want)
	}
	other, err := NewSocket(SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Destroy)

	calls := []struct {
		name    string
		call    func() error
		wantErr bool
	}{
		{name: "SetNoDelay", call: func() error { return c.SetNoDelay(true) }},
		{name: "SetKeepAlive", call: func() error { return c.SetKeepAlive(true, 3*time.Second) }},
		{name: "SetTimeout", call: func() error { return c.SetTimeout(time.Second) }},
		{name: "SetTimeout(0)", call: func() error { return c.SetTimeout(0) }},
		{name: "SetEncoding", call: func() error { return c.SetEncoding("hex") }},
		{name: "Pause", call: func() error { c.Pause(); return nil }},
		{name: "Resume", call: func() error { c.Resume(); return nil }},
		{name: "IsPaused", call: func() error { c.IsPaused(); return nil }},
		{name: "Ref", call: func() error { c.Ref(); return nil }},
		{name: "Unref", call: func() error { c.Unref(); return nil }},
		{name: "BufferSize", call: func() error { return edgeWant(c.BufferSize(), 0) }},
		{name: "BytesRead", call: func() error { return edgeWant(c.BytesRead(), 0) }},
		{name: "Address", call: func() error { return edgeWant(c.Address(), Addr{}) }},
		{name: "RemoteAddress", call: func() error { return edgeWant(c.RemoteAddress(), "") }},
		{name: "RemotePort", call: func() error { return edgeWant(c.RemotePort(), 0) }},
		{name: "LocalAddress", call: func() error { return edgeWant(c.LocalAddress(), "") }},
		{name: "LocalPort", call: func() error { return edgeWant(c.LocalPort(), 0) }},
		{name: "ReadyState", call: func() error { return edgeWant(c.ReadyState(), StateClosed) }},
		{name: "Server", call: func() error { return edgeWant(c.Server(), (*Server)(nil)) }},
		{name: "Send", call: func() error { _, err := c.Send([]byte("x"), func(error) {}); return err }, wantErr: true},
		{name: "SendString", call: func() error { _, err := c.SendString("x", "utf8", nil); return err }, wantErr: true},
		{name: "Write", call: func() error { _, err := c.Write([]byte("x")); return err }, wantErr: true},
		{name: "End(data)", call: func() error { return c.End([]byte("x")) }, wantErr: true},
		{name: "EndString", call: func() error { return c.EndString("x", "") }, wantErr: true},
		{name: "End", call: func() error { return c.End() }},
		// A destination never connected (other) or closed (c) is refused,
		// as Proxy refuses it.
		{name: "Pipe", call: func() error { return c.Pipe(other) }, wantErr: true},
		{name: "Pipe into it", call: func() error { return other.Pipe(c) }, wantErr: true},
		{name: "Unpipe", call: func() error { c.Unpipe(nil); return nil }},
		{name: "Destroy", call: func() error { c.Destroy(); return nil }},
		{name: "DestroyWithError", call: func() error { c.DestroyWithError(errors.New("late")); return nil }},
		{name: "Events", call: func() error {
			select {
			case ev, ok := <-c.Events():
				if ok {
					return fmt.Errorf("event %v after close", ev)
				}
				return nil
			case <-time.After(testTimeout):
				return errors.New("Events() is not closed")
			}
		}},
	}
	for _, tt := range calls {
		err := edgeCall(t, tt.call)
		if err != nil && strings.HasPrefix(err.Error(), "panic") || (err != nil) != tt.wantErr {
			t.Errorf("%s on a closed socket = %v; want error: %v", tt.name, err, tt.wantErr)
		}
	}
}

// edgeWant returns an error unless got equals want.
func edgeWant[T comparable](got, want T) error {
	if got != want {
		return fmt.Errorf("got %v; want %v", got, want)
	}
	return nil
}

// TestBadArguments: every Socket-side function given an invalid argument
// returns an error (wrapping ErrInvalidArgument; Node's ERR_UNKNOWN_ENCODING
// for an encoding name), and none panics or hangs.
func TestBadArguments(t *testing.T) {
	fileName := filepath.Join(t.TempDir(), "regular")
	if err := os.WriteFile(fileName, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	regular, err := os.Open(fileName)
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpFile, err := udp.File()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()

	connected, _ := rawPair(t, ConnectOptions{})
	waitUntil(t, "the socket open", func() bool { return connected.ReadyState() == StateOpen })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnPort := ln.Addr().(*net.TCPAddr).Port

	connect := func(o ConnectOptions) func() error {
		return func() error {
			s, err := Connect(o)
			if s != nil {
				s.Destroy()
			}
			return err
		}
	}
	socketConnect := func(o ConnectOptions) func() error {
		return func() error {
			s, err := NewSocket(SocketOptions{})
			if err != nil {
				return err
			}
			defer s.Destroy()
			err = s.Connect(o)
			if got := s.ReadyState(); err != nil && got != StateClosed {
				return fmt.Errorf("ReadyState after a refused Connect = %v; want closed", got)
			}
			return err
		}
	}
	newSocket := func(o SocketOptions) func() error {
		return func() error {
			s, err := NewSocket(o)
			if s != nil {
				s.Destroy()
			}
			if s != nil && err != nil {
				return fmt.Errorf("NewSocket returned a socket and the error %w", err)
			}
			return err
		}
	}
	// encErr stands for "an *Error ERR_UNKNOWN_ENCODING" in want.
	encErr := errors.New("an *Error ERR_UNKNOWN_ENCODING")
	tests := []struct {
		name string
		call func() error
		want []error // the error must match one of these with errors.Is
	}{
		{name: "Connect Port -1", call: connect(ConnectOptions{Port: -1, Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Connect Port 65536", call: connect(ConnectOptions{Port: 65536, Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Connect Port 0 without Path", call: connect(ConnectOptions{Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Connect LocalAddress not an IP", call: connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1", LocalAddress: "localhost"}), want: []error{ErrInvalidArgument}},
		{name: "Connect LocalAddress 1.2.3", call: connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1", LocalAddress: "1.2.3"}), want: []error{ErrInvalidArgument}},
		{name: "Connect negative HighWaterMark", call: connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1", Flow: Flow{HighWaterMark: -1}}), want: []error{ErrInvalidArgument}},
		{name: "ConnectTCP -1", call: func() error {
			s, err := ConnectTCP(-1, "127.0.0.1")
			if s != nil {
				s.Destroy()
			}
			return err
		}, want: []error{ErrInvalidArgument}},
		{name: "ConnectUnix empty path", call: func() error {
			s, err := ConnectUnix("")
			if s != nil {
				s.Destroy()
			}
			return err
		}, want: []error{ErrInvalidArgument}},
		{name: "Socket.Connect Port -1", call: socketConnect(ConnectOptions{Port: -1, Host: "127.0.0.1"}), want: []error{ErrInvalidArgument}},
		{name: "Socket.Connect Port 70000", call: socketConnect(ConnectOptions{Port: 70000}), want: []error{ErrInvalidArgument}},
		{name: "Socket.Connect negative HighWaterMark", call: socketConnect(ConnectOptions{Port: lnPort, Flow: Flow{HighWaterMark: -5}}), want: []error{ErrInvalidArgument}},
		{name: "NewSocket Type udp", call: newSocket(SocketOptions{Type: "udp"}), want: []error{ErrInvalidArgument}},
		{name: "NewSocket negative HighWaterMark", call: newSocket(SocketOptions{Flow: Flow{HighWaterMark: -1}}), want: []error{ErrInvalidArgument}},
		// Node throws "Unsupported fd type: FILE"; a descriptor that is not
		// a socket may also be reported by its errno.
		{name: "NewSocket FD of a regular file", call: newSocket(SocketOptions{FD: regular}), want: []error{ErrInvalidArgument, syscall.ENOTSOCK}},
		{name: "NewSocket FD of a UDP socket", call: newSocket(SocketOptions{FD: udpFile}), want: []error{ErrInvalidArgument}},
		{name: "SetTimeout negative", call: func() error { return connected.SetTimeout(-time.Second) }, want: []error{ErrInvalidArgument}},
		{name: "SetKeepAlive negative delay", call: func() error { return connected.SetKeepAlive(true, -time.Second) }, want: []error{ErrInvalidArgument}},
		{name: "SetEncoding utf_8", call: func() error { return connected.SetEncoding("utf_8") }, want: []error{encErr}},
		{name: "SetEncoding utf16", call: func() error { return connected.SetEncoding("utf16") }, want: []error{encErr}},
		{name: "SendString unknown encoding", call: func() error { _, err := connected.SendString("x", "utf_8", nil); return err }, want: []error{encErr}},
		{name: "SendString hex of odd length", call: func() error { _, err := connected.SendString("abc", "hex", nil); return err }, want: []error{ErrInvalidArgument}},
		{name: "SendString hex not hex", call: func() error { _, err := connected.SendString("zz", "hex", nil); return err }, want: []error{ErrInvalidArgument}},
		{name: "EndString unknown encoding", call: func() error { return connected.EndString("x", "bogus") }, want: []error{encErr}},
		{name: "EndString hex of odd length", call: func() error { return connected.EndString("abc", "hex") }, want: []error{ErrInvalidArgument}},
		{name: "Pipe(nil)", call: func() error { return connected.Pipe(nil) }, want: []error{ErrInvalidArgument}},
		{name: "Connect on a connected socket", call: func() error { return connected.Connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1"}) }, want: []error{ErrAlreadyConnected}},
		{name: "Connect on a connecting socket", call: func() error {
			s, err := Connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1"})
			if err != nil {
				return err
			}
			defer s.Destroy()
			return s.Connect(ConnectOptions{Port: lnPort, Host: "127.0.0.1"})
		}, want: []error{ErrAlreadyConnected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := edgeCall(t, tt.call)
			ok := false
			for _, w := range tt.want {
				var ne *Error
				if w == encErr && errors.As(err, &ne) && ne.Code == "ERR_UNKNOWN_ENCODING" && errors.Is(err, ErrInvalidArgument) ||
					w != encErr && errors.Is(err, w) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("error = %v; want one matching %v", err, tt.want)
			}
		})
	}
	// Nothing of the refused calls was queued on the connected socket.
	if got := connected.BytesWritten(); got != 0 {
		t.Errorf("BytesWritten after refused writes = %d; want 0", got)
	}
	if got := connected.ReadyState(); got != StateOpen {
		t.Errorf("ReadyState after refused calls = %v; want open", got)
	}
}

// edgeTCPPair returns the two ends of a loopback TCP connection.
func edgeTCPPair(t *testing.T) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d.(*net.TCPConn), a.(*net.TCPConn)
}

// TestNewSocketFD wraps one end of a TCP connection by its descriptor:
// the socket reads and writes over it, ends, and closes, after the
// original descriptor and connection are closed.
func TestNewSocketFD(t *testing.T) {
	dialed, peer := edgeTCPPair(t)
	f, err := dialed.File()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSocket(SocketOptions{FD: f, Type: "tcp"})
	f.Close()
	dialed.Close()
	if err != nil {
		t.Fatalf("NewSocket(FD of a TCP socket, tcp) = %v; want nil", err)
	}
	r := record(t, s)
	if got := s.ReadyState(); got != StateOpen {
		t.Errorf("ReadyState = %v; want open", got)
	}
	if got, want := s.RemotePort(), peer.LocalAddr().(*net.TCPAddr).Port; got != want {
		t.Errorf("RemotePort() = %d; want %d", got, want)
	}

	if _, err := peer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := string(r.waitData(4)); got != "ping" {
		t.Errorf("socket got %q; want ping", got)
	}
	if _, err := s.SendString("pong", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, peer)); got != "pong" {
		t.Errorf("peer got %q; want pong, then EOF", got)
	}
	peer.CloseWrite()
	if got, want := names(r.wait()), "data end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if s.BytesRead() != 4 || s.BytesWritten() != 4 {
		t.Errorf("BytesRead %d, BytesWritten %d; want 4 and 4", s.BytesRead(), s.BytesWritten())
	}
}

// TestNewSocketFDType checks Type against the descriptor's kind.
func TestNewSocketFDType(t *testing.T) {
	dialed, _ := edgeTCPPair(t)
	path := sockPath(t)
	uln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer uln.Close()
	uc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	ua, err := uln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()

	tests := []struct {
		name    string
		conn    interface{ File() (*os.File, error) }
		give    string
		wantErr bool
	}{
		{name: "tcp fd, no type", conn: dialed, give: ""},
		{name: "tcp fd, tcp", conn: dialed, give: "tcp"},
		{name: "tcp fd, tcp4", conn: dialed, give: "tcp4"},
		{name: "tcp fd, tcp6", conn: dialed, give: "tcp6", wantErr: true},
		{name: "tcp fd, unix", conn: dialed, give: "unix", wantErr: true},
		{name: "unix fd, unix", conn: uc.(*net.UnixConn), give: "unix"},
		{name: "unix fd, tcp", conn: uc.(*net.UnixConn), give: "tcp", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.conn.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := NewSocket(SocketOptions{FD: f, Type: tt.give})
			if s != nil {
				defer s.Destroy()
			}
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidArgument) || s != nil {
					t.Errorf("NewSocket(Type %q) = (socket %v), %v; want no socket and an error wrapping ErrInvalidArgument", tt.give, s != nil, err)
				}
				return
			}
			if err != nil || s.ReadyState() != StateOpen {
				t.Errorf("NewSocket(Type %q) = %v; want an open socket", tt.give, err)
			}
		})
	}

	// The Unix one carries data too.
	f, err := uc.(*net.UnixConn).File()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSocket(SocketOptions{FD: f, Type: "unix"})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, s)
	ua.Write([]byte("over unix"))
	if got := string(r.waitData(len("over unix"))); got != "over unix" {
		t.Errorf("socket got %q", got)
	}
	s.SendString("back", "", nil)
	buf := make([]byte, 4)
	ua.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(ua, buf); err != nil || string(buf) != "back" {
		t.Errorf("peer got %q, %v; want back", buf, err)
	}
}

// TestWriteCallbacksInOrder ports pummel/test-net-write-callbacks, scaled
// to 20,000 writes: every callback runs once, in write order, all before
// the FIN of End; the peer receives every byte in order.
func TestWriteCallbacksInOrder(t *testing.T) {
	const n = 20000
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])

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
	if got, want := names(edgeWithout[DrainEvent](r.wait())), "connect end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
}

// edgeChunk is chunk i of writer g: "g:iiiiii:" then the letter of g up to
// size-1 bytes, then a newline.
func edgeChunk(g, i, size int) []byte {
	p := bytes.Repeat([]byte{byte('a' + g)}, size)
	copy(p, fmt.Sprintf("%d:%06d:", g, i))
	p[size-1] = '\n'
	return p
}

// TestConcurrentWriters: Writes from many goroutines each reach the peer
// whole, never interleaved with another, and in each goroutine's order.
func TestConcurrentWriters(t *testing.T) {
	const writers, chunks, size = 8, 1000, 1024
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	edgeGuard(t, s) // Write returns once the socket is destroyed
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
				if _, err := s.Write(edgeChunk(g, i, size)); err != nil {
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
	res := edgeRecv(t, "the peer's read", read)
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
		if _, err := fmt.Sscanf(string(rec[2:8]), "%06d", &i); err != nil || !bytes.Equal(rec, edgeChunk(g, i, size)) {
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
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
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
	if err := edgeRecv(t, "the last write callback", done); err != nil {
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
	s, raw := rawPair(t, ConnectOptions{})
	r := record(t, s)
	r.waitFor("connect", isKind[ConnectEvent])
	raw.SetReadBuffer(64 << 10)
	edgeTCPConn(t, s).SetWriteBuffer(64 << 10)

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
	if err := edgeRecv(t, "the last write's callback", done); err != nil {
		t.Fatal(err)
	}
	if got := s.BufferSize(); got != 0 {
		t.Errorf("BufferSize at the last write's callback = %d; want 0", got)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	res := edgeRecv(t, "the peer's read", read)
	if want := sha256.Sum256(payload); res.err != nil || res.n != int64(sum) || res.sum != want {
		t.Errorf("peer read %d bytes (err %v), checksum match %v; want %d bytes matching", res.n, res.err, res.sum == want, sum)
	}
	raw.Close()
	evs := r.wait()
	if n := edgeCount[DrainEvent](evs); n < 1 || n > chunks {
		t.Errorf("%d DrainEvents; want between 1 and %d (one per false Send at most)", n, chunks)
	}
	if got, want := names(edgeWithout[DrainEvent](edgeWithout[TimeoutEvent](evs))), "connect end close(false)"; got != want {
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

// TestPipeBackpressure: a source piped into a destination whose peer does
// not read stops reading (its peer's Write blocks), with about the two
// high-water marks and the destination's kernel buffers read; once the
// destination's peer reads, everything arrives intact and the
// destination is ended after the source's end.
func TestPipeBackpressure(t *testing.T) {
	src, srcPeer := rawPair(t, ConnectOptions{})
	dst, dstPeer := rawPair(t, ConnectOptions{})
	dr := record(t, dst)
	dr.waitFor("connect", isKind[ConnectEvent])
	// Small kernel buffers, so they hold little next to the payload.
	const kbuf = 64 << 10
	srcPeer.SetWriteBuffer(kbuf)
	edgeTCPConn(t, src).SetReadBuffer(kbuf)
	edgeTCPConn(t, dst).SetWriteBuffer(kbuf)
	dstPeer.SetReadBuffer(kbuf)
	if err := src.Pipe(dst); err != nil {
		t.Fatal(err)
	}

	payload := make([]byte, 16<<20)
	rand.New(rand.NewSource(14)).Read(payload)
	wrote := make(chan error, 1)
	srcPeer.SetWriteDeadline(time.Now().Add(testTimeout))
	go func() {
		_, err := srcPeer.Write(payload)
		if err == nil {
			err = srcPeer.CloseWrite()
		}
		wrote <- err
	}()

	// The stall: src waits for dst's drain with a mark's worth held, so
	// its reader has stopped (no event announces it: read src's state).
	waitUntil(t, "the pipe to stall", func() bool {
		if dst.BufferSize() == 0 {
			return false // dst is about to drain
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		return !src.c.flowingLocked() && src.c.q.held >= src.hwm
	})
	held := src.BytesRead() - dst.BytesWritten()
	if max := int64(DefaultHighWaterMark + readBufSize); held > max {
		t.Errorf("source holds %d bytes; want <= %d (its mark plus one read)", held, max)
	}
	// src's mark and one read, dst's queue (mark plus one joined chunk),
	// and dst's kernel buffers, with room to spare.
	limit := int64(2*(DefaultHighWaterMark+readBufSize) + DefaultHighWaterMark + 1<<20)
	if got := src.BytesRead(); got > limit {
		t.Errorf("source BytesRead at the stall = %d; want <= %d", got, limit)
	}
	select {
	case err := <-wrote:
		t.Fatalf("the source's peer wrote all %d bytes though nobody reads the destination (err %v)", len(payload), err)
	default:
	}

	dstPeer.SetReadDeadline(time.Now().Add(testTimeout))
	h := sha256.New()
	n, err := io.Copy(h, dstPeer) // EOF: dst was ended after src's end
	if err != nil {
		t.Fatalf("destination's peer read: %v", err)
	}
	if n != int64(len(payload)) || !bytes.Equal(h.Sum(nil), func() []byte { s := sha256.Sum256(payload); return s[:] }()) {
		t.Errorf("destination's peer got %d bytes, checksum differs or short; want %d", n, len(payload))
	}
	if err := <-wrote; err != nil {
		t.Errorf("source's peer write: %v", err)
	}
	dstPeer.Close()
	if got, want := names(edgeWithout[DrainEvent](dr.wait())), "connect end close(false)"; got != want {
		t.Errorf("destination events = %q; want %q", got, want)
	}
}
