package nodenet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Framing turns a socket's byte stream into frames: with it set (the
// Framing field of ServerOptions, ConnectOptions or SocketOptions), each
// DataEvent holds one whole frame, as Node's readline gives lines, Netty's
// frame decoders messages and bufio.Scanner tokens. Pause, Resume and the
// read high-water mark work frame by frame (a paused socket delivers no
// further frame), and with an encoding set (SetEncoding) each frame is
// decoded whole, so a frame's text is never split. A frame may be empty
// (a blank line).
//
// Split finds the next frame, as for bufio.Scanner: it is given the bytes
// not yet framed and whether the peer has ended, and returns how many to
// consume and the frame (nil: none yet, or bytes to skip).
//
// MaxFrame bounds the bytes one frame spans in the stream, delimiter or
// length prefix included; 0 means 64 KiB. A longer frame, or one
// that could only complete past the bound, is ErrFrameTooLong as soon as
// it is seen, so the socket holds at most MaxFrame bytes of an unfinished
// frame; a peer that ends in the middle of a frame is ErrFrameTruncated
// (Lines and Delimited deliver the last unterminated piece instead, as
// bufio.ScanLines does); an error from Split is itself. Such an error
// breaks the stream: the socket drops what it read past the last whole
// frame and reads no more. After the frames before it, it comes as an
// ErrorEvent that does not destroy the socket, and an EndEvent follows
// (no more frames will come), upon which the socket ends its side as
// after the peer's end (unless AllowHalfOpen): a reply sent while
// handling the error, "line too long", still goes out, then the
// connection closes.
//
// A framed socket's data is for its consumer: it cannot be the source of a
// Pipe (its bytes are gone into frames), and its NetConn view reads the
// frames one after another. The zero Framing frames nothing. A Framing is
// a value: one may be given to any number of sockets.
type Framing struct {
	Split    bufio.SplitFunc
	MaxFrame int

	err error // a constructor's bad argument, reported where the Framing is given
}

// defaultMaxFrame is the MaxFrame of a Framing that sets none: 64 KiB, as
// bufio.MaxScanTokenSize.
const defaultMaxFrame = 64 << 10

var (
	// ErrFrameTooLong is the ErrorEvent of a framed socket whose peer
	// sends a frame longer than the Framing's MaxFrame (see Framing).
	ErrFrameTooLong = errors.New("nodenet: frame longer than MaxFrame")
	// ErrFrameTruncated is the ErrorEvent of a framed socket whose peer
	// ends in the middle of a frame (see Framing).
	ErrFrameTruncated = errors.New("nodenet: the peer ended in the middle of a frame")
)

// Lines frames text lines, as bufio.ScanLines: a frame ends at "\n",
// which is not part of it, nor is a "\r" before it; the bytes after the
// last "\n" make a last line at the peer's end. maxFrame is the
// Framing's MaxFrame (0: defaultMaxFrame).
func Lines(maxFrame int) Framing {
	return Framing{Split: bufio.ScanLines, MaxFrame: maxFrame}
}

// Delimited frames what lies between occurrences of delim, which is not
// part of the frames; the bytes after the last delim make a last frame at
// the peer's end, if there are any. An empty delim gives a Framing that
// is refused where it is given. maxFrame is the Framing's MaxFrame.
func Delimited(delim []byte, maxFrame int) Framing {
	if len(delim) == 0 {
		return Framing{err: argError("Delimited: the delimiter is empty")}
	}
	d := bytes.Clone(delim)
	return Framing{MaxFrame: maxFrame, Split: func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, d); i >= 0 {
			return i + len(d), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}}
}

// LengthPrefixed frames messages that each start with their length: an
// unsigned big-endian integer of size bytes (1, 2, 4 or 8), followed by
// that many bytes, which are the frame. A length that takes the frame,
// prefix included, past maxFrame (0: defaultMaxFrame) is ErrFrameTooLong
// as soon as the prefix is read. Another size gives a Framing that is
// refused where it is given.
func LengthPrefixed(size, maxFrame int) Framing {
	var length func([]byte) uint64
	switch size {
	case 1:
		length = func(b []byte) uint64 { return uint64(b[0]) }
	case 2:
		length = func(b []byte) uint64 { return uint64(binary.BigEndian.Uint16(b)) }
	case 4:
		length = func(b []byte) uint64 { return uint64(binary.BigEndian.Uint32(b)) }
	case 8:
		length = binary.BigEndian.Uint64
	default:
		return Framing{err: argError("LengthPrefixed: size must be 1, 2, 4 or 8, got %d", size)}
	}
	limit := uint64(cmpOrMax(maxFrame))
	return Framing{MaxFrame: maxFrame, Split: func(data []byte, atEOF bool) (int, []byte, error) {
		if len(data) < size {
			return 0, nil, nil
		}
		n := length(data)
		if limit < uint64(size) || n > limit-uint64(size) {
			return 0, nil, ErrFrameTooLong
		}
		end := size + int(n)
		if len(data) < end {
			return 0, nil, nil
		}
		return end, data[size:end], nil
	}}
}

// cmpOrMax is MaxFrame with its default filled in.
func cmpOrMax(maxFrame int) int {
	if maxFrame == 0 {
		return defaultMaxFrame
	}
	return maxFrame
}

// check returns f checked, for a socket: nil for the zero Framing, or an
// error wrapping ErrInvalidArgument for a bad one.
func (f Framing) check() (*framing, error) {
	switch {
	case f.err != nil:
		return nil, f.err
	case f.Split == nil && f.MaxFrame == 0:
		return nil, nil
	case f.Split == nil:
		return nil, argError("Framing: MaxFrame is set but Split is nil")
	case f.MaxFrame < 0:
		return nil, argError("Framing: MaxFrame must be >= 0, got %d", f.MaxFrame)
	}
	return &framing{split: f.Split, max: cmpOrMax(f.MaxFrame)}, nil
}

// framing is a checked Framing, shared by a socket's connections.
type framing struct {
	split bufio.SplitFunc
	max   int
}

// framer is a connection's framing state: the start of a frame not yet
// whole, or the error the stream broke the framing with. It is owned by
// the conn, under the socket's lock.
type framer struct {
	*framing
	partial []byte
	err     error
}

// frameLocked frames p, just read (nil at the peer's end, with atEOF),
// queueing each whole frame as a data item. It reports false when the
// stream broke the framing: reading stops, what was read past the last
// whole frame is dropped, and once the frames before it are delivered
// (as a decoder delivers what it decoded before it fails), brokenLocked
// tells the error.
func (c *conn) frameLocked(p []byte, atEOF bool) bool {
	fr := c.fr
	if fr.err != nil {
		return false
	}
	data := p
	if len(fr.partial) > 0 {
		fr.partial = append(fr.partial, p...)
		data = fr.partial
	}
	for len(data) > 0 || atEOF {
		adv, tok, err := fr.splitRecovered(data, atEOF)
		switch {
		case err != nil:
		case adv < 0 || adv > len(data):
			err = fmt.Errorf("nodenet: Framing's Split consumed %d bytes of %d", adv, len(data))
		case adv > fr.max:
			err = ErrFrameTooLong
		case adv == 0 && tok != nil && !atEOF:
			err = errors.New("nodenet: Framing's Split returned a frame without consuming any byte")
		}
		if err != nil {
			return fr.fail(err)
		}
		if tok != nil {
			c.pushFrameLocked(tok, adv)
		}
		data = data[adv:]
		if adv == 0 {
			break // more bytes needed, or the last frame at the end is out
		}
	}
	switch {
	case len(data) == 0:
		fr.partial = fr.partial[:0]
		if cap(fr.partial) > readBufSize {
			fr.partial = nil // an idle connection keeps no large buffer
		}
	case atEOF:
		return fr.fail(ErrFrameTruncated)
	case len(data) >= fr.max:
		return fr.fail(ErrFrameTooLong)
	default:
		// data lies in fr.partial or in p's pooled buffer: keep a copy at
		// the front of fr.partial (append copies forward, so overlap is
		// safe).
		fr.partial = append(fr.partial[:0], data...)
	}
	return true
}

// fail records err, drops the unfinished frame, and returns false.
func (fr *framer) fail(err error) bool {
	fr.err, fr.partial = err, nil
	return false
}

// brokenLocked tells the error that broke the conn's framing, once the
// frames before it are delivered, and reports whether it did. The error
// does not destroy the socket: no more frames can come, so an EndEvent
// follows it, and the socket ends as after the peer's end (without
// AllowHalfOpen, once the EndEvent is received), so that a reply sent
// while handling the error still goes out.
func (c *conn) brokenLocked() bool {
	if c.fr == nil || c.fr.err == nil || c.q.data > 0 || c.readSide != readOpen {
		return false
	}
	c.pushLocked(ErrorEvent{Err: c.fr.err})
	c.queueEndLocked()
	return true
}

// pushFrameLocked queues one frame, which spanned n bytes of the stream.
// The frame gets bytes of its own, or its text when an encoding is set.
func (c *conn) pushFrameLocked(tok []byte, n int) {
	it := item{n: n, frame: true}
	if enc := c.s.encoding; enc != "" {
		it.text, it.isText = decodeWhole(enc, tok), true
	} else {
		it.data = make([]byte, len(tok))
		copy(it.data, tok)
	}
	c.q.pushFrame(it)
}

// decodeWhole decodes p, a whole frame, with the canonical encoding enc.
func decodeWhole(enc string, p []byte) string {
	d := newDecoder(enc)
	return d.write(p) + d.end()
}
