package nodenet_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nodenet/nodenet"
)

// Node's manual's echo server: it greets each client and pipes the client's
// data back to it. The client sends a line, ends its side, and prints its
// events as they come.
func Example_echoServer() {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
		c.SendString("hello\r\n", "utf8", nil)
		c.Pipe(c)
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
	client.SetEncoding("utf8")
	var got string
	for ev := range client.Events() {
		switch ev := ev.(type) {
		case nodenet.ConnectEvent:
			fmt.Println("connected")
			client.EndString("world\r\n", "utf8")
		case nodenet.DataEvent:
			got += ev.Text
		case nodenet.EndEvent:
			fmt.Printf("received %q\n", got)
		case nodenet.CloseEvent:
			fmt.Println("closed, had error:", ev.HadError)
		}
	}
	// Output:
	// connected
	// received "hello\r\nworld\r\n"
	// closed, had error: false
}

// The same echo server on a Unix socket.
func Example_unixSocket() {
	dir, err := os.MkdirTemp("", "nodenet")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "echo.sock")

	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) { c.Pipe(c) })
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.ListenUnix(path); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	fmt.Println("listening on the path:", srv.Address().Address == path)

	client, _ := nodenet.Connect(nodenet.ConnectOptions{Path: path})
	client.EndString("over a unix socket", "")
	for ev := range client.Events() {
		if d, ok := ev.(nodenet.DataEvent); ok {
			fmt.Printf("%s\n", d.Data)
		}
	}
	// Output:
	// listening on the path: true
	// over a unix socket
}

// The manual's retry pattern: a listen that fails with EADDRINUSE is
// returned (and emitted as an ErrorEvent); the same server may listen
// again, here on another port.
func Example_addressInUse() {
	first, err := nodenet.CreateServer(nodenet.ServerOptions{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := first.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return
	}
	defer first.Close()

	second, err := nodenet.CreateServer(nodenet.ServerOptions{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = second.Listen(first.Address().Port, "127.0.0.1", 0)
	var ne *nodenet.Error
	if errors.As(err, &ne) && ne.Code == "EADDRINUSE" {
		fmt.Println("address in use, retrying:", err)
		fmt.Println("close:", second.Close())
		err = second.Listen(0, "127.0.0.1", 0)
	}
	fmt.Println("listening:", err == nil)
	second.Close()
	// Output:
	// address in use, retrying: listen EADDRINUSE
	// close: Not running
	// listening: true
}

// Port 0 lets the system choose a free port; Address reports it as soon as
// Listen returns.
func ExampleServer_Address() {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return
	}
	a := srv.Address()
	fmt.Println(a.Family, a.Address, a.Port > 0)
	srv.Close()
	fmt.Println("after close, the zero Addr:", srv.Address() == nodenet.Addr{})
	// Output:
	// IPv4 127.0.0.1 true
	// after close, the zero Addr: true
}

// Send is Node's write(): it never blocks, and its result says whether to
// wait for the DrainEvent before writing more.
func ExampleSocket_Send() {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) { c.Pipe(c) })
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.Listen(0, "127.0.0.1", 0)
	defer srv.Close()

	c, _ := nodenet.Connect(nodenet.ConnectOptions{Port: srv.Address().Port, Host: "127.0.0.1"})
	const hwm = 16 << 10 // the default Flow.HighWaterMark
	small, _ := c.Send(make([]byte, 1000), nil)
	big, _ := c.Send(make([]byte, hwm), nil)
	fmt.Println("small:", small, "big:", big)
	received := 0
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case nodenet.DrainEvent:
			fmt.Println("drained")
		case nodenet.DataEvent:
			received += len(ev.Data)
			if received == 1000+hwm {
				c.End()
			}
		}
	}
	fmt.Println("echoed:", received)
	// Output:
	// small: true big: false
	// drained
	// echoed: 17384
}
