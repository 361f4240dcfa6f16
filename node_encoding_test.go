// Ports of Node's tests (CONFORMANCE.md): the string decoder, setEncoding, isIP.

package nodenet

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// test-net-isip: Node's table for isIP, isIPv4 and isIPv6. (isIP() with no
// argument is the empty string here.)
func TestNode_net_isip(t *testing.T) {
	t.Parallel()
	isIP := map[string]int{
		"127.0.0.1":   4,
		"x127.0.0.1":  0,
		"example.com": 0,
		"0000:0000:0000:0000:0000:0000:0000:0000":       6,
		"0000:0000:0000:0000:0000:0000:0000:0000::0000": 0,
		"1050:0:0:0:5:600:300c:326b":                    6,
		"2001:252:0:1::2008:6":                          6,
		"2001:dead:beef:1::2008:6":                      6,
		"2001::":                                        6,
		"2001:dead::":                                   6,
		"2001:dead:beef::":                              6,
		"2001:dead:beef:1::":                            6,
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff":       6,
		":2001:252:0:1::2008:6:":                        0,
		":2001:252:0:1::2008:6":                         0,
		"2001:252:0:1::2008:6:":                         0,
		"2001:252::1::2008:6":                           0,
		"::2001:252:1:2008:6":                           6,
		"::2001:252:1:1.1.1.1":                          6,
		"::2001:252:1:255.255.255.255":                  6,
		"::2001:252:1:255.255.255.255.76":               0,
		"::anything":                                    0,
		"::1":                                           6,
		"::":                                            6,
		"0000:0000:0000:0000:0000:0000:12345:0000":      0,
		"0": 0,
		"":  0,
	}
	for s, want := range isIP {
		if got := IsIP(s); got != want {
			t.Errorf("IsIP(%q) = %d; want %d", s, got, want)
		}
	}
	for s, want := range map[string]bool{"127.0.0.1": true, "example.com": false, "2001:252:0:1::2008:6": false} {
		if got := IsIPv4(s); got != want {
			t.Errorf("IsIPv4(%q) = %v; want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{"127.0.0.1": false, "example.com": false, "2001:252:0:1::2008:6": true} {
		if got := IsIPv6(s); got != want {
			t.Errorf("IsIPv6(%q) = %v; want %v", s, got, want)
		}
	}
}

// nodeDecode feeds chunks to d and returns the output of each write.
func nodeDecode(t *testing.T, d decoder, chunks ...[]byte) []string {
	t.Helper()
	var out []string
	for _, c := range chunks {
		out = append(out, d.write(c))
	}
	return out
}

// nodeNewDecoder returns the decoder SetEncoding(enc) would use.
func nodeNewDecoder(t *testing.T, enc string) decoder {
	t.Helper()
	canon, err := normalizeEncoding(enc)
	if err != nil {
		t.Fatal(err)
	}
	return newDecoder(canon)
}

// test-string-decoder: the decoder behind SetEncoding. UTF-8 characters
// split across writes come out whole in the write that completes them;
// UCS-2 and UTF-16LE split code units and surrogate pairs likewise; the
// 10-byte mixed buffer split anywhere in three gives the same text and the
// right number of characters after the first part. (The CESU-8 cases are
// left out: CESU-8 is not an encoding of Node's net, and nodenet turns surrogates
// encoded in UTF-8 into U+FFFD.)
func TestNode_string_decoder(t *testing.T) {
	t.Parallel()
	d := nodeNewDecoder(t, "utf8")
	if got := d.write([]byte("$")); got != "$" {
		t.Errorf("utf8 write($) = %q; want $", got)
	}
	for _, ch := range []string{"¢", "€"} {
		b := []byte(ch)
		var parts []string
		for i := range b {
			parts = append(parts, d.write(b[i:i+1]))
		}
		want := make([]string, len(b))
		want[len(b)-1] = ch
		if !slices.Equal(parts, want) {
			t.Errorf("utf8 %q byte by byte = %q; want %q", ch, parts, want)
		}
	}
	s := strings.Join(nodeDecode(t, d, []byte{0xF0}, []byte{0xA4}, []byte{0xAD}, []byte{0xA2}), "")
	if s != "\U00024B62" {
		t.Errorf("utf8 F0 A4 AD A2 byte by byte = %q; want %q", s, "\U00024B62")
	}

	d = nodeNewDecoder(t, "ucs2")
	if got := d.write([]byte("a\x00b\x00")); got != "ab" {
		t.Errorf("ucs2 write(ab) = %q; want ab", got)
	}
	abc := []byte("a\x00b\x00c\x00")
	if got := nodeDecode(t, d, abc[:3], abc[3:]); !slices.Equal(got, []string{"a", "bc"}) {
		t.Errorf("ucs2 abc split 3/3 = %q; want [a bc]", got)
	}
	thumbs := []byte{0x3D, 0xD8, 0x4D, 0xDC} // U+1F44D in UTF-16LE
	for _, split := range [][]int{{1, 1, 1, 1}, {2, 2}, {3, 1}, {4}} {
		var chunks [][]byte
		off := 0
		for _, n := range split {
			chunks = append(chunks, thumbs[off:off+n])
			off += n
		}
		out := nodeDecode(t, d, chunks...)
		if got := strings.Join(out[:len(out)-1], ""); got != "" {
			t.Errorf("utf16le %v: output before the last chunk %q; want none (lead surrogate held)", split, got)
		}
		if got := strings.Join(out, ""); got != "\U0001F44D" {
			t.Errorf("utf16le %v: %q; want %q", split, got, "\U0001F44D")
		}
	}

	buf := []byte{0xCB, 0xA4, 0x64, 0xE1, 0x8B, 0xA4, 0x30, 0xE3, 0x81, 0x85}
	const expected = "\u02e4\u0064\u12e4\u0030\u3045"
	charLengths := []int{0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5, 5}
	for j := 2; j < len(buf); j++ {
		for i := 1; i < j; i++ {
			d := nodeNewDecoder(t, "utf8")
			sum := d.write(buf[:i])
			if got := utf8.RuneCountInString(sum); got != charLengths[i] {
				t.Errorf("split %d/%d: first part gave %d characters; want %d", i, j, got, charLengths[i])
			}
			sum += d.write(buf[i:j]) + d.write(buf[j:])
			if sum != expected {
				t.Errorf("split %d/%d: %q; want %q", i, j, sum, expected)
			}
		}
	}
}

// nodeToString is Buffer#toString(enc) of Node v0.10 for the inputs of
// test-string-decoder-end.
func nodeToString(enc string, b []byte) string {
	switch enc {
	case "base64":
		return base64.StdEncoding.EncodeToString(b)
	case "hex":
		return hex.EncodeToString(b)
	case "utf8":
		var sb strings.Builder
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b) // one U+FFFD per invalid byte
			sb.WriteRune(r)
			b = b[n:]
		}
		return sb.String()
	}
	units := make([]uint16, len(b)/2) // utf16le, ucs2: an odd last byte is dropped
	for i := range units {
		units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(units))
}

// test-string-decoder-end: for base64, hex, utf8, utf16le and ucs2, bytes
// written one at a time plus end(), and the whole buffer plus end(), both
// give what toString gives.
func TestNode_string_decoder_end(t *testing.T) {
	t.Parallel()
	bufs := [][]byte{[]byte("☃💩"), []byte("asdf")}
	for i := 1; i <= 16; i++ {
		var b []byte
		for j := 0; j < i; j++ {
			b = append(b, byte(j+0x78))
		}
		bufs = append(bufs, b)
	}
	for _, enc := range []string{"base64", "hex", "utf8", "utf16le", "ucs2"} {
		for _, buf := range bufs {
			want := nodeToString(enc, buf)
			d := nodeNewDecoder(t, enc)
			var res1 strings.Builder
			for i := range buf {
				res1.WriteString(d.write(buf[i : i+1]))
			}
			res1.WriteString(d.end())
			d = nodeNewDecoder(t, enc)
			res2 := d.write(buf) + d.end()
			if res1.String() != want {
				t.Errorf("%s % x one byte at a time = %q; want %q", enc, buf, res1.String(), want)
			}
			if res2 != want {
				t.Errorf("%s % x all at once = %q; want %q", enc, buf, res2, want)
			}
		}
	}
}

// test-stream2-set-encoding: 100 bytes 'a' read with an encoding set come
// out, joined, as the text of that encoding, and no chunk breaks an encoded
// unit (no mid-stream base64 padding, whole hex pairs). Node reads them
// with read(n) from a generic Readable; nodenet has no pull API, so the
// bytes come from a TCP peer in 10-byte writes, and chunk sizes are not
// compared.
func TestNode_stream2_set_encoding(t *testing.T) {
	t.Parallel()
	a100 := strings.Repeat("a", 100)
	for _, tt := range []struct{ enc, want string }{
		{"utf8", a100},
		{"hex", strings.Repeat("61", 100)},
		{"base64", base64.StdEncoding.EncodeToString([]byte(a100))},
	} {
		t.Run(tt.enc, func(t *testing.T) {
			s, raw := rawPair(t, ConnectOptions{})
			if err := s.SetEncoding(tt.enc); err != nil {
				t.Fatal(err)
			}
			r := record(t, s)
			for i := 0; i < 10; i++ {
				raw.Write([]byte(a100[:10]))
			}
			raw.CloseWrite()
			evs := r.wait()
			var chunks []string
			for _, ev := range evs {
				if d, ok := ev.(DataEvent); ok {
					chunks = append(chunks, d.Text)
				}
			}
			if got := strings.Join(chunks, ""); got != tt.want {
				t.Errorf("joined text = %q; want %q", got, tt.want)
			}
			for i, c := range chunks {
				last := i == len(chunks)-1
				switch {
				case c == "":
					t.Errorf("chunk %d is empty", i)
				case tt.enc == "hex" && len(c)%2 != 0:
					t.Errorf("hex chunk %d = %q; want whole byte pairs", i, c)
				case tt.enc == "base64" && !last && (len(c)%4 != 0 || strings.Contains(c, "=")):
					t.Errorf("base64 chunk %d = %q; want whole groups, no padding mid-stream", i, c)
				}
			}
		})
	}
}
