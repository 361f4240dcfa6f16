// Encodings: NormalizeEncoding, the decoders, EncodeString, SetEncoding on a
// socket and string writes in every encoding.

package nodenet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// canonicalEncodings lists every name normalizeEncoding can return.
var canonicalEncodings = []string{"utf8", "ucs2", "base64", "hex", "ascii", "binary"}

func TestNormalizeEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		want string
	}{
		{give: "utf8", want: "utf8"},
		{give: "utf-8", want: "utf8"},
		{give: "UTF-8", want: "utf8"},
		{give: "Utf8", want: "utf8"},
		{give: "hex", want: "hex"},
		{give: "HEX", want: "hex"},
		{give: "base64", want: "base64"},
		{give: "Base64", want: "base64"},
		{give: "ascii", want: "ascii"},
		{give: "ASCII", want: "ascii"},
		{give: "binary", want: "binary"},
		{give: "Binary", want: "binary"},
		{give: "latin1", want: "binary"},
		{give: "LATIN1", want: "binary"},
		{give: "raw", want: "binary"},
		{give: "RAW", want: "binary"},
		{give: "ucs2", want: "ucs2"},
		{give: "ucs-2", want: "ucs2"},
		{give: "UCS-2", want: "ucs2"},
		{give: "utf16le", want: "ucs2"},
		{give: "utf-16le", want: "ucs2"},
		{give: "UTF-16LE", want: "ucs2"},
	}
	for _, tt := range tests {
		got, err := normalizeEncoding(tt.give)
		if err != nil {
			t.Errorf("normalizeEncoding(%q) error = %v; want nil", tt.give, err)
			continue
		}
		if got != tt.want {
			t.Errorf("normalizeEncoding(%q) = %q; want %q", tt.give, got, tt.want)
		}
	}
}

func TestNormalizeEncodingUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		want string
	}{
		{give: "", want: "Unknown encoding: "},
		{give: "utf_8", want: "Unknown encoding: utf_8"},
		{give: "UTF_8", want: "Unknown encoding: UTF_8"},
		{give: "utf16", want: "Unknown encoding: utf16"},
		{give: "utf-16", want: "Unknown encoding: utf-16"},
		{give: "ucs_2", want: "Unknown encoding: ucs_2"},
		{give: "latin-1", want: "Unknown encoding: latin-1"},
		{give: "utf8 ", want: "Unknown encoding: utf8 "},
		{give: "base-64", want: "Unknown encoding: base-64"},
	}
	for _, tt := range tests {
		got, err := normalizeEncoding(tt.give)
		if err == nil {
			t.Errorf("normalizeEncoding(%q) = %q, nil; want an error", tt.give, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("normalizeEncoding(%q) error = %q; want %q", tt.give, err, tt.want)
		}
		checkUnknownEncoding(t, "normalizeEncoding("+tt.give+")", err, tt.give)
	}
}

// TestDecoderUTF8ThreeParts is Node's test-string-decoder.js table: the
// buffer split anywhere into three parts decodes to the same text, and the
// first part alone gives only its complete characters.
func TestDecoderUTF8ThreeParts(t *testing.T) {
	t.Parallel()
	buf := []byte{0xCB, 0xA4, 0x64, 0xE1, 0x8B, 0xA4, 0x30, 0xE3, 0x81, 0x85}
	const want = "\u02e4d\u12e40\u3045"
	wantFirst := []int{0, 0, 1, 2, 2, 2, 3, 4, 4, 4}
	for i := 0; i < len(buf); i++ {
		for j := i; j <= len(buf); j++ {
			d := newDecoder("utf8")
			first := d.write(buf[:i])
			if got := utf8.RuneCountInString(first); got != wantFirst[i] {
				t.Errorf("split %d/%d: first write gave %d chars (%q); want %d", i, j, got, first, wantFirst[i])
			}
			got := first + d.write(buf[i:j]) + d.write(buf[j:]) + d.end()
			if got != want {
				t.Errorf("split %d/%d: got %q; want %q", i, j, got, want)
			}
		}
	}
}

// TestDecoderOneByteAtATime is scenario 29 of the spec: "a€b😀c" arriving
// one byte per read gives whole characters per non-empty output.
func TestDecoderOneByteAtATime(t *testing.T) {
	t.Parallel()
	text := []byte("a€b😀c")
	ucs2 := []byte{0x61, 0x00, 0xAC, 0x20, 0x62, 0x00, 0x3D, 0xD8, 0x00, 0xDE, 0x63, 0x00}
	tests := []struct {
		enc  string
		give []byte
		want []string
	}{
		{enc: "utf8", give: text, want: []string{"a", "€", "b", "😀", "c"}},
		{enc: "ucs2", give: ucs2, want: []string{"a", "€", "b", "😀", "c"}},
		{enc: "base64", give: text, want: []string{"YeKC", "rGLw", "n5iA", "Yw=="}},
		{enc: "hex", give: text, want: []string{"61", "e2", "82", "ac", "62", "f0", "9f", "98", "80", "63"}},
		{enc: "binary", give: text, want: []string{
			"a", "\u00e2", "\u0082", "\u00ac", "b", "\u00f0", "\u009f", "\u0098", "\u0080", "c",
		}},
		{enc: "ascii", give: text, want: []string{"a", "b", "\x02", ",", "b", "p", "\x1f", "\x18", "\x00", "c"}},
	}
	for _, tt := range tests {
		d := newDecoder(tt.enc)
		var got []string
		for i := range tt.give {
			if s := d.write(tt.give[i : i+1]); s != "" {
				got = append(got, s)
			}
		}
		if s := d.end(); s != "" {
			got = append(got, s)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s one byte at a time: got %q; want %q", tt.enc, got, tt.want)
		}
	}
}

func TestDecoderEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		enc     string
		give    [][]byte
		want    []string // output of each write
		wantEnd string
	}{
		{
			name: "utf8 cut-off sequence", enc: "utf8",
			give: [][]byte{{0x61, 0xE2, 0x82}}, want: []string{"a"}, wantEnd: "\uFFFD\uFFFD",
		},
		{
			name: "utf8 cut-off lead byte", enc: "utf8",
			give: [][]byte{{0xF0}}, want: []string{""}, wantEnd: "\uFFFD",
		},
		{
			name: "utf8 complete", enc: "utf8",
			give: [][]byte{{0xE2, 0x82}, {0xAC}}, want: []string{"", "€"}, wantEnd: "",
		},
		{
			name: "utf8 held lead then invalid byte", enc: "utf8",
			give: [][]byte{{0xE2}, {0x41}}, want: []string{"", "\uFFFDA"}, wantEnd: "",
		},
		{
			name: "utf8 held pair then new lead", enc: "utf8",
			give: [][]byte{{0xE2, 0x82}, {0xE2, 0x82, 0xAC}}, want: []string{"", "\uFFFD\uFFFD€"}, wantEnd: "",
		},
		{
			name: "utf8 invalid bytes one per byte", enc: "utf8",
			give: [][]byte{{0xFF, 0x80, 0x61, 0xED, 0xA0, 0x80}}, want: []string{"\uFFFD\uFFFDa\uFFFD\uFFFD\uFFFD"}, wantEnd: "",
		},
		{
			name: "ucs2 odd byte dropped", enc: "ucs2",
			give: [][]byte{{0x61}}, want: []string{""}, wantEnd: "",
		},
		{
			name: "ucs2 odd byte after a unit", enc: "ucs2",
			give: [][]byte{{0x61, 0x00, 0x62}}, want: []string{"a"}, wantEnd: "",
		},
		{
			name: "ucs2 lone lead surrogate", enc: "ucs2",
			give: [][]byte{{0x3D, 0xD8}}, want: []string{""}, wantEnd: "\uFFFD",
		},
		{
			name: "ucs2 lone lead surrogate and odd byte", enc: "ucs2",
			give: [][]byte{{0x3D, 0xD8, 0x00}}, want: []string{""}, wantEnd: "\uFFFD",
		},
		{
			name: "ucs2 lead surrogate before a non-trail", enc: "ucs2",
			give: [][]byte{{0x3D, 0xD8}, {0x61, 0x00}}, want: []string{"", "\uFFFDa"}, wantEnd: "",
		},
		{
			name: "ucs2 lone trail surrogate", enc: "ucs2",
			give: [][]byte{{0x00, 0xDE, 0x61, 0x00}}, want: []string{"\uFFFDa"}, wantEnd: "",
		},
		{
			name: "base64 groups", enc: "base64",
			give: [][]byte{{0x61}, {0x62}, {0x63, 0x64}}, want: []string{"", "", "YWJj"}, wantEnd: "ZA==",
		},
		{
			name: "base64 two bytes", enc: "base64",
			give: [][]byte{{0x61, 0x62}}, want: []string{""}, wantEnd: "YWI=",
		},
		{
			name: "base64 whole groups", enc: "base64",
			give: [][]byte{{0x61, 0x62, 0x63}}, want: []string{"YWJj"}, wantEnd: "",
		},
		{
			name: "hex", enc: "hex",
			give: [][]byte{{0x00, 0xAB}}, want: []string{"00ab"}, wantEnd: "",
		},
		{
			name: "ascii high bit stripped", enc: "ascii",
			give: [][]byte{{0xC1, 0xFF}}, want: []string{"A\x7F"}, wantEnd: "",
		},
		{
			name: "binary", enc: "binary",
			give: [][]byte{{0x41, 0xE9, 0xFF}}, want: []string{"A\u00e9\u00ff"}, wantEnd: "",
		},
	}
	for _, tt := range tests {
		d := newDecoder(tt.enc)
		for i, p := range tt.give {
			if got := d.write(p); got != tt.want[i] {
				t.Errorf("%s: write #%d got %q; want %q", tt.name, i, got, tt.want[i])
			}
		}
		if got := d.end(); got != tt.wantEnd {
			t.Errorf("%s: end() got %q; want %q", tt.name, got, tt.wantEnd)
		}
		// end resets: the decoder starts a new stream with nothing held.
		if got := d.write([]byte{0x61, 0x00, 0x62}) + d.end(); got != referenceDecode(tt.enc, []byte{0x61, 0x00, 0x62}) {
			t.Errorf("%s: after end() got %q; want a fresh decode", tt.name, got)
		}
	}
}

// splitSamples are inputs with split characters and invalid sequences in
// every encoding's sense.
var splitSamples = [][]byte{
	[]byte("a€b😀c"),
	{0xCB, 0xA4, 0x64, 0xE1, 0x8B, 0xA4, 0x30, 0xE3, 0x81, 0x85},
	{0x61, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE, 0x3D, 0xD8, 0x61, 0x00, 0x00, 0xDE},
	{0xE2, 0x82, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xFF, 0xC0, 0x80, 0xED, 0xA0, 0x80, 0xF4, 0x90, 0x80, 0x80, 0xF0},
	{0x3D, 0xD8, 0x3D, 0xD8, 0x00, 0xDE, 0x00},
}

// TestDecoderSplitInvariant checks every two- and three-part split of the
// samples against a one-piece decode and an independent reference.
func TestDecoderSplitInvariant(t *testing.T) {
	t.Parallel()
	for _, enc := range canonicalEncodings {
		for _, p := range splitSamples {
			want := referenceDecode(enc, p)
			whole := newDecoder(enc)
			if got := whole.write(p) + whole.end(); got != want {
				t.Errorf("%s % x in one piece: got %q; want %q", enc, p, got, want)
			}
			for i := 0; i <= len(p); i++ {
				for j := i; j <= len(p); j++ {
					d := newDecoder(enc)
					got := d.write(p[:i]) + d.write(p[i:j]) + d.write(p[j:]) + d.end()
					if got != want {
						t.Errorf("%s % x split %d/%d: got %q; want %q", enc, p, i, j, got, want)
					}
				}
			}
		}
	}
}

// referenceDecode decodes p in one piece by the simplest means the standard
// library offers, to check the streaming decoders against.
func referenceDecode(enc string, p []byte) string {
	switch enc {
	case "utf8":
		var b strings.Builder
		for len(p) > 0 {
			r, size := utf8.DecodeRune(p)
			b.WriteRune(r)
			p = p[size:]
		}
		return b.String()
	case "ucs2":
		units := make([]uint16, len(p)/2)
		for i := range units {
			units[i] = uint16(p[2*i]) | uint16(p[2*i+1])<<8
		}
		return string(utf16.Decode(units))
	case "base64":
		return base64.StdEncoding.EncodeToString(p)
	case "hex":
		return hex.EncodeToString(p)
	case "ascii":
		q := make([]byte, len(p))
		for i, c := range p {
			q[i] = c & 0x7F
		}
		return string(q)
	case "binary":
		r := make([]rune, len(p))
		for i, c := range p {
			r[i] = rune(c)
		}
		return string(r)
	}
	panic("referenceDecode: unknown encoding " + enc)
}

func TestEncodeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		enc  string
		give string
		want []byte
	}{
		{enc: "utf8", give: "", want: []byte{}},
		{enc: "utf8", give: "a€😀", want: []byte{0x61, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80}},
		{enc: "ucs2", give: "aé€", want: []byte{0x61, 0x00, 0xE9, 0x00, 0xAC, 0x20}},
		{enc: "ucs2", give: "😀", want: []byte{0x3D, 0xD8, 0x00, 0xDE}},
		{enc: "ascii", give: "é€", want: []byte{0xE9, 0xAC}},
		{enc: "ascii", give: "a😀", want: []byte{0x61, 0x3D, 0x00}},
		{enc: "binary", give: "é€", want: []byte{0xE9, 0xAC}},
		{enc: "binary", give: "a😀", want: []byte{0x61, 0x3D, 0x00}},
		{enc: "hex", give: "", want: []byte{}},
		{enc: "hex", give: "00aBfF", want: []byte{0x00, 0xAB, 0xFF}},
		{enc: "base64", give: "", want: []byte{}},
		{enc: "base64", give: "YWJj", want: []byte("abc")},
		{enc: "base64", give: "YWI=", want: []byte("ab")},
		{enc: "base64", give: "YWI", want: []byte("ab")},
		{enc: "base64", give: "YQ", want: []byte("a")},
		{enc: "base64", give: "Y", want: []byte{}},
		{enc: "base64", give: " Y W\r\nJ\tj ", want: []byte("abc")},
		{enc: "base64", give: "Y.W!J*j", want: []byte("abc")},
		{enc: "base64", give: "+/8", want: []byte{0xFB, 0xFF}},
		{enc: "base64", give: "-_8", want: []byte{0xFB, 0xFF}},
		{enc: "base64", give: "YQ==YWJj", want: []byte("a")},
		{enc: "base64", give: "=YWJj", want: []byte{}},
	}
	for _, tt := range tests {
		got, err := encodeString(tt.give, tt.enc)
		if err != nil {
			t.Errorf("encodeString(%q, %q) error = %v; want nil", tt.give, tt.enc, err)
			continue
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("encodeString(%q, %q) = % x; want % x", tt.give, tt.enc, got, tt.want)
		}
	}
}

func TestEncodeStringInvalidHex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
	}{
		{give: "a"},
		{give: "abc"},
		{give: "zz"},
		{give: "0g"},
		{give: "0x00"},
		{give: " 0"},
		{give: "é0"},
	}
	for _, tt := range tests {
		got, err := encodeString(tt.give, "hex")
		if err == nil {
			t.Errorf("encodeString(%q, \"hex\") = % x, nil; want an error", tt.give, got)
			continue
		}
		if !errors.Is(err, errInvalidHex) || !strings.Contains(err.Error(), "invalid hex string") {
			t.Errorf("encodeString(%q, \"hex\") error = %v; want %v", tt.give, err, errInvalidHex)
		}
	}
}

func TestEncodeStringUnknown(t *testing.T) {
	t.Parallel()
	_, err := encodeString("x", "latin1")
	checkUnknownEncoding(t, `encodeString("x", "latin1")`, err, "latin1")
}

// checkUnknownEncoding checks that err is Node's error for the unknown
// encoding name: an *Error with Code ERR_UNKNOWN_ENCODING and the message
// "Unknown encoding: " + name, matching ErrInvalidArgument.
func checkUnknownEncoding(t *testing.T, call string, err error, name string) {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != "ERR_UNKNOWN_ENCODING" || err.Error() != "Unknown encoding: "+name ||
		!errors.Is(err, ErrInvalidArgument) {
		t.Errorf("%s error = %#v; want an *Error ERR_UNKNOWN_ENCODING %q matching ErrInvalidArgument", call, err, "Unknown encoding: "+name)
	}
}

func TestNewDecoderPanicsOnUnknown(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Errorf("newDecoder(\"UTF-8\") did not panic; want a panic for a non-canonical name")
		}
	}()
	newDecoder("UTF-8")
}

// TestDecoderUTF8Allocs holds the utf8 fast path to a single allocation.
func TestDecoderUTF8Allocs(t *testing.T) {
	p := []byte(strings.Repeat("héllo wörld ", 100) + "\xe2\x82")
	d := new(utf8Decoder)
	allocs := testing.AllocsPerRun(100, func() {
		d.write(p)
		d.n = 0 // drop the held tail without end's allocation
	})
	if allocs != 1 {
		t.Errorf("utf8 write of valid text allocated %v times; want 1", allocs)
	}
	for _, enc := range []string{"base64", "hex", "ascii", "binary"} {
		d := newDecoder(enc)
		allocs := testing.AllocsPerRun(100, func() { d.write(p) })
		if allocs != 1 {
			t.Errorf("%s write allocated %v times; want 1", enc, allocs)
		}
	}
}

// FuzzDecoderSplit feeds random bytes in random chunks to every decoder and
// compares the result with a one-piece decode and the reference decode.
// Each byte of splits is the length of the next chunk, modulo 8, so chunks
// are short and cut characters often; the last chunk takes the rest.
func FuzzDecoderSplit(f *testing.F) {
	for _, p := range splitSamples {
		f.Add(p, []byte{1})
		f.Add(p, []byte{0, 3, 2, 7})
	}
	f.Add([]byte{0x61, 0xE2, 0x82}, []byte{1, 1})
	f.Add([]byte{0x61, 0x62, 0x63, 0x64}, []byte{1, 1, 2})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		for _, enc := range canonicalEncodings {
			want := referenceDecode(enc, data)
			whole := newDecoder(enc)
			if got := whole.write(data) + whole.end(); got != want {
				t.Fatalf("%s % x in one piece: got %q; want %q", enc, data, got, want)
			}
			d := newDecoder(enc)
			var b strings.Builder
			rest := data
			for _, s := range splits {
				n := min(int(s%8), len(rest))
				// Hand the decoder a copy and clobber it afterwards, to catch
				// a decoder that keeps p.
				chunk := bytes.Clone(rest[:n])
				out := d.write(chunk)
				clear(chunk)
				if !utf8.ValidString(out) {
					t.Fatalf("%s % x: write gave invalid UTF-8 %q", enc, data, out)
				}
				b.WriteString(out)
				rest = rest[n:]
			}
			b.WriteString(d.write(bytes.Clone(rest)))
			b.WriteString(d.end())
			if got := b.String(); got != want {
				t.Fatalf("%s % x in chunks %v: got %q; want %q", enc, data, splits, got, want)
			}
		}
	})
}

// FuzzEncodeDecode checks that encodeString and the decoders undo each other
// wherever Node's encodings are lossless.
func FuzzEncodeDecode(f *testing.F) {
	f.Add("a€b😀c", []byte("a€b😀c"))
	f.Add("", []byte{})
	f.Add("0aFf", []byte{0x00, 0xFF, 0x80})
	f.Add("YQ==YWJj -_", []byte{0xFB, 0xFF})
	f.Add("\xff\xed\xa0\x80", []byte{0xE2, 0x82})
	f.Fuzz(func(t *testing.T, s string, data []byte) {
		decode := func(enc string, p []byte) string {
			d := newDecoder(enc)
			return d.write(p) + d.end()
		}
		if utf8.ValidString(s) {
			for _, enc := range []string{"utf8", "ucs2"} {
				p, err := encodeString(s, enc)
				if err != nil {
					t.Fatalf("encodeString(%q, %q) error = %v; want nil", s, enc, err)
				}
				if got := decode(enc, p); got != s {
					t.Fatalf("%s round trip of %q: got %q", enc, s, got)
				}
			}
			if isLatin1(s) {
				p, _ := encodeString(s, "binary")
				if got := decode("binary", p); got != s {
					t.Fatalf("binary round trip of %q: got %q", s, got)
				}
			}
		}
		for _, enc := range []string{"hex", "base64", "binary"} {
			text := decode(enc, data)
			got, err := encodeString(text, enc)
			if err != nil {
				t.Fatalf("encodeString(%q, %q) error = %v; want nil", text, enc, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s round trip of % x: got % x via %q", enc, data, got, text)
			}
		}
		// Arbitrary strings: base64 never fails, and hex either fails or
		// reads back as the same digits.
		if _, err := encodeString(s, "base64"); err != nil {
			t.Fatalf("encodeString(%q, \"base64\") error = %v; want nil", s, err)
		}
		if p, err := encodeString(s, "hex"); err == nil {
			if got := decode("hex", p); got != strings.ToLower(s) {
				t.Fatalf("hex round trip of %q: got %q", s, got)
			}
		} else if !errors.Is(err, errInvalidHex) {
			t.Fatalf("encodeString(%q, \"hex\") error = %v; want %v", s, err, errInvalidHex)
		}
	})
}

// isLatin1 reports whether every rune of s is below U+0100.
func isLatin1(s string) bool {
	for _, r := range s {
		if r > 0xFF {
			return false
		}
	}
	return true
}

// dataTexts returns the Text of every DataEvent in evs, and reports each
// DataEvent that carries bytes or an empty text.
func dataTexts(t *testing.T, evs []Event) []string {
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
				s, peer := pipeSocket(t, false)
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
				if diff := cmp.Diff(tt.want, dataTexts(t, evs)); diff != "" {
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
	t.Parallel()
	s, raw := rawPair(t, ConnectOptions{})
	if err := s.SetEncoding("utf8"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNoDelay(true); err != nil {
		t.Errorf("SetNoDelay(true) = %v; want nil", err)
	}
	raw.SetNoDelay(true)
	r := recordConnected(t, s)

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
	if diff := cmp.Diff([]string{"a", "€", "b", "😀", "c"}, dataTexts(t, evs)); diff != "" {
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
				s, peer := pipeSocket(t, false)
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
				s, peer := pipeSocket(t, false)
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
	t.Parallel()
	const n = 40 * 1024
	data := strings.Repeat("あ", n)
	_, port, conns := newServer(t, ServerOptions{})
	c := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	cr := record(t, c)
	if _, err := c.SendString(data, "UTF-8", nil); err != nil {
		t.Fatalf("SendString(..., \"UTF-8\") = %v; want nil", err)
	}
	if err := c.End(); err != nil {
		t.Fatal(err)
	}

	s := accept(t, conns)
	fired := destroyAfterTimeout(t, s)
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
	t.Parallel()
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
		s, peer := pipeSocket(t, false)
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
		if got := s.ReadyState(); got != "open" {
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
