package nodenet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// canonicalEncodings lists every name normalizeEncoding can return.
var canonicalEncodings = []string{"utf8", "ucs2", "base64", "hex", "ascii", "binary"}

func TestNormalizeEncoding(t *testing.T) {
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
