package nodenet

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// EncodingError reports an encoding name that Node does not know. It is what
// Node v0.10 throws when setEncoding or write is given such a name. The
// Error of a nil *EncodingError is "<nil>".
type EncodingError struct {
	// Encoding is the name exactly as the caller gave it.
	Encoding string
}

// Error returns Node's message, "Unknown encoding: " followed by the name.
func (e *EncodingError) Error() string {
	if e == nil {
		return "<nil>"
	}
	return "Unknown encoding: " + e.Encoding
}

// errInvalidHex is returned by encodeString for a hex string of odd length or
// with a character that is not a hex digit, where Node throws
// TypeError('Invalid hex string').
var errInvalidHex = fmt.Errorf("%w: invalid hex string", ErrInvalidArgument)

// normalizeEncoding returns the canonical name for enc: one of "utf8", "hex",
// "base64", "ascii", "binary", "ucs2". Names match case-insensitively and
// only Buffer.isEncoding's list is accepted (so "utf_8" and "utf16" are not),
// plus "latin1", which the project takes as an alias of "binary". The empty
// name is rejected too: callers decide what a missing encoding defaults to.
func normalizeEncoding(enc string) (string, error) {
	switch strings.ToLower(enc) {
	case "utf8", "utf-8":
		return "utf8", nil
	case "hex":
		return "hex", nil
	case "base64":
		return "base64", nil
	case "ascii":
		return "ascii", nil
	case "binary", "latin1", "raw":
		return "binary", nil
	case "ucs2", "ucs-2", "utf16le", "utf-16le":
		return "ucs2", nil
	}
	return "", &EncodingError{Encoding: enc}
}

// decoder turns a byte stream into text, chunk by chunk, the way Node's
// StringDecoder does: a character split across chunks comes out whole, in the
// output of the write that completes it. For every split of a stream into
// chunks, the concatenated outputs of write plus end are the same. Outputs are
// always valid UTF-8. A decoder is not safe for concurrent use.
type decoder interface {
	// write decodes p and returns the text that is complete, or "" if there
	// is none; bytes of an incomplete character are held for the next call.
	// It never keeps p.
	write(p []byte) string
	// end flushes what is held, as Node's StringDecoder.end() does, and
	// resets the decoder for a new stream.
	end() string
}

// newDecoder returns a decoder for a canonical name from normalizeEncoding.
// Any other name is a bug in the caller, so it panics.
func newDecoder(canonical string) decoder {
	switch canonical {
	case "utf8":
		return new(utf8Decoder)
	case "ucs2":
		return new(ucs2Decoder)
	case "base64":
		return new(base64Decoder)
	case "hex":
		return hexDecoder{}
	case "ascii":
		return asciiDecoder{}
	case "binary":
		return binaryDecoder{}
	}
	panic("nodenet: newDecoder: not a canonical encoding: " + canonical)
}

// utf8Decoder decodes UTF-8. Each invalid byte becomes one U+FFFD, as
// utf8.DecodeRune and Node v0.10 both do.
type utf8Decoder struct {
	held [utf8.UTFMax]byte // the start of a character the next chunk may complete
	n    int               // bytes used in held; below UTFMax between calls
}

func (d *utf8Decoder) write(p []byte) string {
	var b strings.Builder
	if d.n > 0 {
		b.Grow(utf8.UTFMax + len(p))
		p = d.completeHeld(&b, p)
		if d.n > 0 {
			return b.String() // p is used up and the character is still cut
		}
	}
	cut := utf8TailStart(p)
	body := p[:cut]
	d.n = copy(d.held[:], p[cut:])
	if b.Len() == 0 && utf8.Valid(body) {
		return string(body) // the common case: a single copy
	}
	writeUTF8(&b, body)
	return b.String()
}

// completeHeld feeds bytes of p to the held character until it, and whatever
// decodes after it within held, is written to b. It returns the rest of p.
func (d *utf8Decoder) completeHeld(b *strings.Builder, p []byte) []byte {
	for d.n > 0 {
		if !utf8.FullRune(d.held[:d.n]) {
			if len(p) == 0 {
				return p
			}
			d.held[d.n] = p[0]
			d.n++
			p = p[1:]
			continue
		}
		// The bytes after an invalid lead byte stay held and are decoded on
		// the next turn, exactly as in a one-piece decode.
		r, size := utf8.DecodeRune(d.held[:d.n])
		b.WriteRune(r)
		d.n = copy(d.held[:], d.held[size:d.n])
	}
	return p
}

// end turns each held byte into U+FFFD: a cut-off sequence is invalid, and a
// one-piece decode of the stream gives one U+FFFD per byte there too.
func (d *utf8Decoder) end() string {
	s := strings.Repeat("\uFFFD", d.n)
	d.n = 0
	return s
}

// utf8TailStart returns where an incomplete character at the end of p
// starts, or len(p) if there is none. Only a lead byte can start one, so it
// is always where a one-piece decode would arrive.
func utf8TailStart(p []byte) int {
	for i := max(0, len(p)-(utf8.UTFMax-1)); i < len(p); i++ {
		if !utf8.FullRune(p[i:]) {
			return i
		}
	}
	return len(p)
}

// writeUTF8 writes p to b with each invalid byte replaced by U+FFFD.
func writeUTF8(b *strings.Builder, p []byte) {
	for len(p) > 0 {
		if p[0] < utf8.RuneSelf {
			b.WriteByte(p[0])
			p = p[1:]
			continue
		}
		r, size := utf8.DecodeRune(p)
		b.WriteRune(r)
		p = p[size:]
	}
}

// ucs2Decoder decodes UTF-16LE. A surrogate pair is never split, and a lone
// surrogate becomes U+FFFD, since a Go string cannot carry one.
type ucs2Decoder struct {
	held [3]byte // an odd byte, a lead surrogate, or a lead surrogate and an odd byte
	n    int
}

func (d *ucs2Decoder) write(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if d.n > 0 {
		// Joining costs one copy of p, but only when a code unit or a pair
		// was cut, and it keeps the loop below simple.
		p = append(d.held[:d.n:d.n], p...)
	}
	var b strings.Builder
	b.Grow(len(p) / 2)
	i := 0
	for i+1 < len(p) {
		u := rune(p[i]) | rune(p[i+1])<<8
		switch {
		case 0xD800 <= u && u < 0xDC00:
			if i+3 >= len(p) {
				// The trail surrogate may be in the next chunk.
				d.n = copy(d.held[:], p[i:])
				return b.String()
			}
			if u2 := rune(p[i+2]) | rune(p[i+3])<<8; 0xDC00 <= u2 && u2 < 0xE000 {
				b.WriteRune(utf16.DecodeRune(u, u2))
				i += 2
			} else {
				b.WriteRune(utf8.RuneError)
			}
		case 0xDC00 <= u && u < 0xE000:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(u)
		}
		i += 2
	}
	d.n = copy(d.held[:], p[i:])
	return b.String()
}

// end drops an odd byte silently, as Node does, and turns a held lead
// surrogate into U+FFFD.
func (d *ucs2Decoder) end() string {
	s := ""
	if d.n >= 2 {
		s = "\uFFFD"
	}
	d.n = 0
	return s
}

// base64Decoder encodes bytes as standard base64 text. It holds len%3 bytes
// so that output comes in whole 4-character groups, padded only at the end.
type base64Decoder struct {
	held [2]byte
	n    int
}

func (d *base64Decoder) write(p []byte) string {
	if d.n+len(p) < 3 {
		d.n += copy(d.held[d.n:], p)
		return ""
	}
	var b strings.Builder
	b.Grow((d.n + len(p)) / 3 * 4)
	if d.n > 0 {
		var group [3]byte
		copy(group[:], d.held[:d.n])
		p = p[copy(group[d.n:], p):]
		writeBase64(&b, group[:])
	}
	whole := len(p) / 3 * 3
	writeBase64(&b, p[:whole])
	d.n = copy(d.held[:], p[whole:])
	return b.String()
}

func (d *base64Decoder) end() string {
	s := base64.StdEncoding.EncodeToString(d.held[:d.n])
	d.n = 0
	return s
}

// writeBase64 writes the base64 of p, a multiple of 3 bytes long, to b.
// It encodes through a stack buffer so the builder's is the only allocation.
func writeBase64(b *strings.Builder, p []byte) {
	var buf [1024]byte
	const step = len(buf) / 4 * 3
	for len(p) > 0 {
		n := min(len(p), step)
		base64.StdEncoding.Encode(buf[:], p[:n])
		b.Write(buf[:base64.StdEncoding.EncodedLen(n)])
		p = p[n:]
	}
}

// hexDecoder writes two lower-case hex digits per byte.
type hexDecoder struct{}

func (hexDecoder) write(p []byte) string {
	var b strings.Builder
	b.Grow(2 * len(p))
	var buf [1024]byte
	for len(p) > 0 {
		n := min(len(p), len(buf)/2)
		b.Write(buf[:hex.Encode(buf[:], p[:n])])
		p = p[n:]
	}
	return b.String()
}

func (hexDecoder) end() string { return "" }

// asciiDecoder strips the high bit of each byte, as Node v0.10 does.
type asciiDecoder struct{}

func (asciiDecoder) write(p []byte) string {
	var b strings.Builder
	b.Grow(len(p))
	for _, c := range p {
		b.WriteByte(c & 0x7F)
	}
	return b.String()
}

func (asciiDecoder) end() string { return "" }

// binaryDecoder maps byte b to U+00bb (latin-1).
type binaryDecoder struct{}

func (binaryDecoder) write(p []byte) string {
	size := len(p)
	for _, c := range p {
		if c >= utf8.RuneSelf {
			size++ // U+0080 to U+00FF take two bytes in UTF-8
		}
	}
	var b strings.Builder
	b.Grow(size)
	for _, c := range p {
		if c < utf8.RuneSelf {
			b.WriteByte(c)
		} else {
			b.WriteRune(rune(c))
		}
	}
	return b.String()
}

func (binaryDecoder) end() string { return "" }

// encodeString converts s to bytes as Node's Buffer(s, enc) does, for a
// canonical name from normalizeEncoding. Node strings are UTF-16, so each
// invalid byte of s counts as U+FFFD where code units matter (ucs2, ascii,
// binary); utf8 copies s as it is. Only hex can fail.
func encodeString(s, canonical string) ([]byte, error) {
	switch canonical {
	case "utf8":
		return []byte(s), nil
	case "ucs2":
		return encodeUCS2(s), nil
	case "ascii", "binary":
		// Node v0.10 writes the low byte of each UTF-16 code unit for both;
		// ascii does not strip the high bit on this side.
		return encodeLowBytes(s), nil
	case "hex":
		p, err := hex.DecodeString(s)
		if err != nil {
			return nil, errInvalidHex
		}
		return p, nil
	case "base64":
		return decodeBase64Lenient(s), nil
	}
	return nil, &EncodingError{Encoding: canonical}
}

// encodeUCS2 returns s as UTF-16LE.
func encodeUCS2(s string) []byte {
	p := make([]byte, 0, 2*len(s)) // no rune takes more than twice its UTF-8 size
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			p = append(p, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		p = append(p, byte(r), byte(r>>8))
	}
	return p
}

// encodeLowBytes returns the low byte of each UTF-16 code unit of s.
func encodeLowBytes(s string) []byte {
	p := make([]byte, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			p = append(p, byte(r1), byte(r2))
			continue
		}
		p = append(p, byte(r))
	}
	return p
}

// base64Values maps a byte to its 6-bit value in the standard or the URL-safe
// alphabet, or to 0xFF if it is in neither.
var base64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(std); i++ {
		t[std[i]] = byte(i)
	}
	t['-'], t['_'] = 62, 63
	return t
}()

// decodeBase64Lenient decodes s the way Node does: whitespace and any other
// byte outside both alphabets is skipped, padding is optional, and decoding
// stops at the first '='. A final group of 2 or 3 characters gives 1 or 2
// bytes; a lone final character gives nothing.
func decodeBase64Lenient(s string) []byte {
	p := make([]byte, 0, len(s)*3/4)
	var acc uint32
	n := 0 // characters in acc
	for i := 0; i < len(s) && s[i] != '='; i++ {
		v := base64Values[s[i]]
		if v == 0xFF {
			continue
		}
		acc = acc<<6 | uint32(v)
		if n++; n == 4 {
			p = append(p, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		p = append(p, byte(acc>>4))
	case 3:
		p = append(p, byte(acc>>10), byte(acc>>2))
	}
	return p
}
