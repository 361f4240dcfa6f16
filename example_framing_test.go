package nodenet_test

import (
	"bufio"
	"encoding/binary"
	"fmt"

	"github.com/nodenet/nodenet"
)

// printFrames runs a server with framing f, sends it stream from a client
// that then ends, and prints each DataEvent the server's socket gets.
func printFrames(f nodenet.Framing, stream []byte) {
	done := make(chan struct{})
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{Flow: nodenet.Flow{Framing: f}}, func(c *nodenet.Socket) {
		defer close(done)
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case nodenet.DataEvent:
				fmt.Printf("frame %q\n", ev.Data)
			case nodenet.ErrorEvent:
				fmt.Println("error:", ev.Err)
			}
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	client, err := nodenet.Connect(nodenet.ConnectOptions{Port: srv.Address().Port, Host: "127.0.0.1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	client.Send(stream, nil)
	client.End()
	<-done
}

// Lines gives one DataEvent per line, without its "\n" or "\r\n"; the
// bytes after the last newline are the last line.
func ExampleLines() {
	printFrames(nodenet.Lines(1024), []byte("GET a\r\nSET b 1\n\nQUIT"))
	// Output:
	// frame "GET a"
	// frame "SET b 1"
	// frame ""
	// frame "QUIT"
}

// Delimited splits at a delimiter of any length; MaxFrame bounds what the
// socket holds of a frame that has not ended.
func ExampleDelimited() {
	printFrames(nodenet.Delimited([]byte{0}, 16), []byte("first\x00second\x00this one is far too long\x00"))
	// Output:
	// frame "first"
	// frame "second"
	// error: nodenet: frame longer than MaxFrame
}

// LengthPrefixed reads a big-endian length, then that many bytes.
func ExampleLengthPrefixed() {
	var stream []byte
	for _, msg := range []string{"hello", "", "binary\x00safe"} {
		stream = binary.BigEndian.AppendUint16(stream, uint16(len(msg)))
		stream = append(stream, msg...)
	}
	printFrames(nodenet.LengthPrefixed(2, 0), stream)
	// Output:
	// frame "hello"
	// frame ""
	// frame "binary\x00safe"
}

// Any bufio.SplitFunc frames: here bufio.ScanWords.
func ExampleFraming() {
	printFrames(nodenet.Framing{Split: bufio.ScanWords, MaxFrame: 64}, []byte("  one two\tthree\n"))
	// Output:
	// frame "one"
	// frame "two"
	// frame "three"
}
