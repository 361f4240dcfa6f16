package nodenet_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nodenet/nodenet"
)

// A staged shutdown: the connection whose events are read gets a
// ShutdownEvent and says goodbye; Shutdown returns once it has closed.
func ExampleServer_Shutdown() {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case nodenet.DataEvent:
				c.Send(ev.Data, nil) // echo
			case nodenet.ShutdownEvent:
				c.EndString("bye\n", "")
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
	client, _ := nodenet.Connect(nodenet.ConnectOptions{Port: srv.Address().Port, Host: "127.0.0.1"})
	client.SetEncoding("utf8")
	client.SendString("hi\n", "", nil)
	events := client.Events()
	for ev := range events {
		if d, ok := ev.(nodenet.DataEvent); ok {
			fmt.Printf("client got %q\n", d.Text) // the server is serving it
			break
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	for ev := range events {
		switch ev := ev.(type) {
		case nodenet.DataEvent:
			fmt.Printf("client got %q\n", ev.Text)
		case nodenet.CloseEvent:
			fmt.Println("client closed")
		}
	}
	fmt.Println("shutdown:", <-done)
	fmt.Printf("%+v\n", srv.Stats())
	// Output:
	// client got "hi\n"
	// client got "bye\n"
	// client closed
	// shutdown: <nil>
	// {Accepted:1 Dropped:0 Handshaking:0 Forced:0}
}

// A block list refuses a subnet, on the server's side and on the
// client's.
func ExampleBlockList() {
	block := new(nodenet.BlockList)
	block.AddSubnet("127.0.0.0/8")
	fmt.Println(block.Check("127.0.0.1"), block.Check("::ffff:127.0.0.2"), block.Check("10.0.0.1"))

	c, _ := nodenet.Connect(nodenet.ConnectOptions{Port: 9, Host: "127.0.0.1", BlockList: block})
	for ev := range c.Events() {
		if e, ok := ev.(nodenet.ErrorEvent); ok {
			var ne *nodenet.Error
			errors.As(e.Err, &ne)
			fmt.Println(ne.Code, e.Err)
		}
	}
	// Output:
	// true true false
	// ERR_IP_BLOCKED IP(127.0.0.1) is blocked by net.BlockList
}

// Flow control with two marks: Send returns false at the high-water mark,
// and the socket is writable again once the queue is down to the low one.
func ExampleSocket_Writable() {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) { c.Pipe(c) })
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	c, _ := nodenet.Connect(nodenet.ConnectOptions{
		Port: srv.Address().Port,
		Host: "127.0.0.1",
		Flow: nodenet.Flow{HighWaterMark: 1024, LowWaterMark: 256},
	})
	fmt.Println("writable:", c.Writable(), "room:", c.BytesBeforeUnwritable())
	// Send returns false at the mark, and Writable is false from then on
	// until the queue falls to the low mark (the DrainEvent).
	ok, _ := c.Send(make([]byte, 1024), nil)
	fmt.Println("send:", ok)
	received, drained := 0, false
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case nodenet.DrainEvent:
			drained = true
			fmt.Println("drain, writable:", c.Writable())
		case nodenet.DataEvent:
			received += len(ev.Data)
		default:
			continue
		}
		// The echo may come before the DrainEvent: end after both.
		if drained && received == 1024 {
			c.End()
		}
	}
	// Output:
	// writable: true room: 1024
	// send: false
	// drain, writable: true
}
