// Framing: one DataEvent per frame (lines, length prefixes), errors and marks.

package nodenet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// framesOf returns the DataEvents among evs as strings (Data, or Text
// with an encoding), one per frame.
func framesOf(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		if d, ok := ev.(DataEvent); ok {
			if d.Data != nil {
				out = append(out, string(d.Data))
			} else {
				out = append(out, d.Text)
			}
		}
	}
	return out
}

// sendByteByByte writes b to peer a byte at a time, each only once s has
// read everything before it, so that every byte comes in a read of its
// own: frames are then split at every byte.
func sendByteByByte(t *testing.T, s *Socket, peer interface{ Write([]byte) (int, error) }, b []byte) {
	t.Helper()
	base := s.BytesRead()
	for i := range b {
		if _, err := peer.Write(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
		want := base + int64(i) + 1
		waitUntil(t, "the byte read", func() bool { return s.BytesRead() == want })
	}
}

func lengthPrefixed(size int, frames ...string) []byte {
	var b []byte
	for _, f := range frames {
		switch size {
		case 1:
			b = append(b, byte(len(f)))
		case 2:
			b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		case 4:
			b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		case 8:
			b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		}
		b = append(b, f...)
	}
	return b
}

// Each framing mode, fed a byte per read and then the peer's end, gives
// one DataEvent per frame, then the EndEvent.
func TestFramingModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		framing Framing
		stream  []byte
		want    []string
	}{
		{"lines", Lines(0), []byte("one\ntwo\r\n\nthree é\nlast"), []string{"one", "two", "", "three é", "last"}},
		{"delimited", Delimited([]byte("||"), 0), []byte("a||bc|d||||tail"), []string{"a", "bc|d", "", "tail"}},
		{"length 1", LengthPrefixed(1, 0), lengthPrefixed(1, "x", "", "hello"), []string{"x", "", "hello"}},
		{"length 2", LengthPrefixed(2, 0), lengthPrefixed(2, "ab", "cde"), []string{"ab", "cde"}},
		{"length 4", LengthPrefixed(4, 0), lengthPrefixed(4, "four", "x"), []string{"four", "x"}},
		{"length 8", LengthPrefixed(8, 0), lengthPrefixed(8, "eight"), []string{"eight"}},
		{"split func", Framing{Split: bufio.ScanWords}, []byte("  alpha beta\tgamma "), []string{"alpha", "beta", "gamma"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, peer, r := connectedRawPair(t, ConnectOptions{Flow: Flow{Framing: tt.framing}})
			sendByteByByte(t, s, peer, tt.stream)
			peer.CloseWrite()
			evs := r.wait()
			if got := strings.Join(framesOf(evs), "|"); got != strings.Join(tt.want, "|") {
				t.Errorf("frames = %q; want %q", framesOf(evs), tt.want)
			}
			if n := len(evs); n < 3 || !isKind[EndEvent](evs[n-2]) || !isKind[CloseEvent](evs[n-1]) {
				t.Errorf("events = %s; want the frames, then end and close", names(evs))
			}
		})
	}
}

// A server's Framing frames what its sockets read before the handler
// subscribes as well as after; an encoding decodes each frame whole.
func TestFramingServerAndEncoding(t *testing.T) {
	t.Parallel()
	_, port, conns := newServer(t, ServerOptions{Flow: Flow{Framing: Lines(0)}, PauseOnConnect: true})
	peer := dialRaw(t, port)
	s := accept(t, conns)
	if err := s.SetEncoding("hex"); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("ab\ncd\n")); err != nil {
		t.Fatal(err)
	}
	s.Resume()
	r := record(t, s)
	r.waitFor("two frames", func(Event) bool { return len(framesOf(r.events())) == 2 })
	if err := s.SetEncoding("utf8"); err != nil {
		t.Fatal(err)
	}
	sendByteByByte(t, s, peer, []byte("é!\n"))
	peer.CloseWrite()
	if got, want := framesOf(r.wait()), []string{"6162", "6364", "é!"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frames = %q; want %q", got, want)
	}
}

// A frame longer than MaxFrame is ErrFrameTooLong as soon as it is seen,
// without waiting for its end: a line that has not ended by MaxFrame
// bytes, a complete line longer than the bound, and a length prefix that
// announces too much. A peer that ends in the middle of a frame gives
// ErrFrameTruncated, and Split's error is itself. Each comes after the
// frames before it, as an ErrorEvent that does not destroy the socket;
// an EndEvent follows, and a reply sent on the error reaches the peer,
// then its FIN.
func TestFramingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		framing Framing
		send    []byte
		end     bool
		want    error
		frames  []string
	}{
		{"line never ends", Lines(16), []byte("ok\n" + strings.Repeat("x", 40)), false, ErrFrameTooLong, []string{"ok"}},
		{"whole line too long", Lines(16), []byte("ok\n" + strings.Repeat("x", 20) + "\n"), false, ErrFrameTooLong, []string{"ok"}},
		{"length prefix too long", LengthPrefixed(4, 100), binary.BigEndian.AppendUint32(nil, 97), false, ErrFrameTooLong, nil},
		{"truncated", LengthPrefixed(2, 0), append(lengthPrefixed(2, "ab"), 0, 5, 'x'), true, ErrFrameTruncated, []string{"ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, reply, err := brokenFrame(t, tt.framing, tt.send, tt.end)
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v; want %v", err, tt.want)
			}
			if got := strings.Join(framesOf(evs), "|"); got != strings.Join(tt.frames, "|") {
				t.Errorf("frames before the error = %q; want %q", framesOf(evs), tt.frames)
			}
			if reply != "bad frame, bye\n" {
				t.Errorf("the peer read %q, then EOF; want the reply sent on the error", reply)
			}
		})
	}
	t.Run("Split's error", func(t *testing.T) {
		bad := errors.New("bad frame")
		split := func(data []byte, atEOF bool) (int, []byte, error) {
			adv, tok, err := bufio.ScanLines(data, atEOF)
			if strings.Contains(string(tok), "!") {
				return 0, nil, bad
			}
			return adv, tok, err
		}
		evs, _, err := brokenFrame(t, Framing{Split: split}, []byte("fine\nno!\n"), false)
		if !errors.Is(err, bad) {
			t.Errorf("error = %v; want Split's", err)
		}
		if got := framesOf(evs); len(got) != 1 || got[0] != "fine" {
			t.Errorf("frames = %q; want [fine]", got)
		}
	})
}

// brokenFrame sends send (then the end, if end) to a socket with framing
// f, which replies "bad frame, bye" to its ErrorEvent. It checks that the
// events after the data are the error, the end and a close without
// error, and returns them, what the peer read until EOF, and the error.
func brokenFrame(t *testing.T, f Framing, send []byte, end bool) ([]Event, string, error) {
	t.Helper()
	s, peer := rawPair(t, ConnectOptions{Flow: Flow{Framing: f}})
	l := newEventLog(t, "events", s.Events(), func(ev Event) {
		if _, ok := ev.(ErrorEvent); ok {
			s.SendString("bad frame, bye\n", "", nil)
		}
	})
	if _, err := peer.Write(send); err != nil {
		t.Fatal(err)
	}
	if end {
		peer.CloseWrite()
	}
	reply := string(readAll(t, peer))
	evs := l.wait()
	var rest []Event
	for _, ev := range evs {
		if !isKind[DataEvent](ev) && !isKind[ConnectEvent](ev) {
			rest = append(rest, ev)
		}
	}
	if got := names(rest); len(rest) != 3 || !strings.HasPrefix(got, "error(") || !strings.HasSuffix(got, " end close(false)") {
		t.Fatalf("events after the data = %s; want error, end, close(false)", got)
	}
	return evs, reply, rest[0].(ErrorEvent).Err
}

// Pause holds back the next frame, not the next read: frames read in one
// chunk come one at a time, and a paused socket delivers none of them
// while other events pass. A frame longer than the read high-water mark
// still completes: the part of a frame counts only once it is whole.
func TestFramingPauseAndMarks(t *testing.T) {
	s, peer := rawPair(t, ConnectOptions{Flow: Flow{Framing: Lines(0), ReadHighWaterMark: 8}})
	ch := s.Events()
	if ev := <-ch; !isKind[ConnectEvent](ev) {
		t.Fatalf("first event = %s", names([]Event{ev}))
	}
	long := strings.Repeat("y", 1000)
	peer.Write([]byte("1\n2\n3\n" + long + "\n"))
	if got := framesOf([]Event{<-ch}); len(got) != 1 || got[0] != "1" {
		t.Fatalf("first frame = %q; want 1", got)
	}
	s.Pause()
	s.SetTimeout(10 * time.Millisecond)
	if ev := <-ch; !isKind[TimeoutEvent](ev) {
		t.Fatalf("event while paused = %s; want the timeout, no frame", names([]Event{ev}))
	}
	s.SetTimeout(0)
	s.Resume()
	var got []string
	for len(got) < 3 {
		got = append(got, framesOf([]Event{<-ch})...)
	}
	if strings.Join(got, "|") != "2|3|"+long {
		t.Errorf("frames after Resume = %q", got)
	}
	s.Destroy()
	untilClosed(t, "the events", ch)
}

// A bad Framing is refused where it is given, with ErrInvalidArgument; a
// framed socket cannot be a Pipe's source.
func TestFramingBadArguments(t *testing.T) {
	t.Parallel()
	for _, f := range []Framing{
		Delimited(nil, 0),
		LengthPrefixed(3, 0),
		{MaxFrame: 10},
		{Split: bufio.ScanLines, MaxFrame: -1},
	} {
		if _, err := NewSocket(SocketOptions{Flow: Flow{Framing: f}}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewSocket with Framing{MaxFrame: %d, Split nil: %v} = %v; want ErrInvalidArgument", f.MaxFrame, f.Split == nil, err)
		}
		if _, err := Connect(ConnectOptions{Port: 1, Flow: Flow{Framing: f}}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Connect with a bad Framing = %v; want ErrInvalidArgument", err)
		}
		if srv, err := CreateServer(ServerOptions{Flow: Flow{Framing: f}}, nil); !errors.Is(err, ErrInvalidArgument) || srv != nil {
			t.Errorf("CreateServer with a bad Framing = %v, %v; want nil, ErrInvalidArgument", srv, err)
		}
	}
	s, err := NewSocket(SocketOptions{Flow: Flow{Framing: Lines(0)}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	d, _ := NewSocket(SocketOptions{})
	defer d.Destroy()
	if err := s.Pipe(d); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Pipe from a framed socket = %v; want ErrInvalidArgument", err)
	}
}
