package nodenet_test

import (
	"fmt"
	"time"

	"github.com/nodenet/nodenet"
)

// serveOnce starts a server with handler on 127.0.0.1, connects a client
// to it, and returns the client; stop closes the server. A failure is
// printed and gives a nil client.
func serveOnce(opts nodenet.ServerOptions, handler func(*nodenet.Socket)) (client *nodenet.Socket, stop func()) {
	srv, err := nodenet.CreateServer(opts, handler)
	if err != nil {
		fmt.Println(err)
		return nil, nil
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return nil, nil
	}
	client, err = nodenet.Connect(nodenet.ConnectOptions{Host: "127.0.0.1", Port: srv.Address().Port})
	if err != nil {
		fmt.Println(err)
		srv.Close()
		return nil, nil
	}
	return client, func() { srv.Close() }
}

// Pause stops the DataEvents, and reading from the kernel once the socket
// holds its read mark, so that TCP makes the peer wait: here while each
// chunk is worked on by another goroutine, which resumes the socket when
// it is done. Other events are not held back.
func ExampleSocket_Pause() {
	result := make(chan string, 1)
	client, stop := serveOnce(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
		var got []byte
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case nodenet.DataEvent:
				c.Pause() // no DataEvent until Resume
				go func(chunk []byte) {
					// ... work on chunk, then ask for more ...
					c.Resume()
				}(ev.Data)
				got = append(got, ev.Data...)
			case nodenet.EndEvent:
				result <- string(got)
			}
		}
	})
	if client == nil {
		return
	}
	defer stop()
	client.SendString("one ", "", nil)
	client.SendString("two ", "", nil)
	client.EndString("three", "")
	for range client.Events() {
	}
	fmt.Printf("the server got %q\n", <-result)
	// Output:
	// the server got "one two three"
}

// SetTimeout is Node's idle timeout: a TimeoutEvent after that long
// without a read or a write. The socket stays open; this server says
// goodbye and ends it.
func ExampleSocket_SetTimeout() {
	client, stop := serveOnce(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
		c.SetTimeout(50 * time.Millisecond)
		for ev := range c.Events() {
			if _, ok := ev.(nodenet.TimeoutEvent); ok {
				c.EndString("idle too long, bye\n", "")
			}
		}
	})
	if client == nil {
		return
	}
	defer stop()
	client.SetEncoding("utf8")
	for ev := range client.Events() { // the client sends nothing
		switch ev := ev.(type) {
		case nodenet.DataEvent:
			fmt.Print("server: ", ev.Text)
		case nodenet.EndEvent:
			fmt.Println("end")
		}
	}
	// Output:
	// server: idle too long, bye
	// end
}

// End is a half-close: the client sends its question and its FIN, and
// still reads. With AllowHalfOpen the server stays writable after the
// client's end and answers before ending its own side (without it, the
// server would end its side as soon as its consumer has the EndEvent).
func ExampleSocket_End() {
	client, stop := serveOnce(nodenet.ServerOptions{AllowHalfOpen: true}, func(c *nodenet.Socket) {
		c.SetEncoding("utf8")
		var question string
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case nodenet.DataEvent:
				question += ev.Text
			case nodenet.EndEvent:
				fmt.Println("server: the client has ended; ready state:", c.ReadyState())
				c.EndString("the answer to "+question, "")
			}
		}
	})
	if client == nil {
		return
	}
	defer stop()
	client.SetEncoding("utf8")
	client.EndString("everything", "") // the question, then the FIN
	var answer string
	for ev := range client.Events() {
		switch ev := ev.(type) {
		case nodenet.DataEvent:
			answer += ev.Text
		case nodenet.CloseEvent:
			fmt.Printf("client: %q, had error: %v\n", answer, ev.HadError)
		}
	}
	// Output:
	// server: the client has ended; ready state: writeOnly
	// client: "the answer to everything", had error: false
}
