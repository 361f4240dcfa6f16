package nodenet_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/nodenet/nodenet"
)

// The same handler written in the two styles: it answers each line in
// upper case, and says goodbye when the client has been idle for a
// minute or when the server shuts down. Handlers run concurrently, one
// goroutine per connection: what they share needs a lock.

// The Go style: blocking reads and writes on the socket's net.Conn view.
// The idle timeout and the shutdown reach Read as errors, once each; the
// handler says goodbye and returns, and the deferred Close sends what is
// queued, then closes. Write blocks while the peer has a high-water mark
// of replies unread.
func Example_blockingHandler() {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
		nc := c.NetConn()
		defer nc.Close()
		c.SetTimeout(time.Minute)
		sc := bufio.NewScanner(nc)
		for sc.Scan() {
			nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(nc, strings.ToUpper(sc.Text())+"\n"); err != nil {
				return // a peer that does not read, past the deadline
			}
		}
		switch err := sc.Err(); {
		case errors.Is(err, nodenet.ErrIdleTimeout):
			io.WriteString(nc, "idle, bye\n")
		case errors.Is(err, nodenet.ErrServerShutdown):
			io.WriteString(nc, "shutting down, bye\n")
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	talkThenShutdown(srv)
	// Output:
	// HELLO
	// WORLD
	// shutting down, bye
	// shutdown: <nil>
}

// Node's style: a loop over the socket's events, Send to write. A
// DataEvent is what one read returned, not a line, so the handler splits
// lines itself. Send never blocks: Node's backpressure recipe pauses
// reading while the peer has a high-water mark of replies unread, and
// MaxBufferSize bounds what one read's replies can queue (Send fails past
// it). The idle timeout and the shutdown are events; End sends the
// goodbye, then closes once the client has closed too.
func Example_eventsHandler() {
	opts := nodenet.ServerOptions{Flow: nodenet.Flow{MaxBufferSize: 1 << 20}}
	srv, err := nodenet.CreateServer(opts, func(c *nodenet.Socket) {
		c.SetTimeout(time.Minute)
		var partial []byte
		for ev := range c.Events() { // to the end: the channel closes after the CloseEvent
			switch ev := ev.(type) {
			case nodenet.DataEvent:
				partial = append(partial, ev.Data...)
				for {
					line, rest, found := bytes.Cut(partial, []byte("\n"))
					if !found {
						break
					}
					partial = rest
					ok, err := c.SendString(strings.ToUpper(string(line))+"\n", "", nil)
					if err != nil {
						c.Destroy() // ErrBufferFull: the peer reads nothing
						break
					}
					if !ok {
						c.Pause() // read no more until the peer catches up
					}
				}
			case nodenet.DrainEvent:
				c.Resume()
			case nodenet.TimeoutEvent:
				c.EndString("idle, bye\n", "")
			case nodenet.ShutdownEvent:
				c.EndString("shutting down, bye\n", "")
			}
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	talkThenShutdown(srv)
	// Output:
	// HELLO
	// WORLD
	// shutting down, bye
	// shutdown: <nil>
}

// talkThenShutdown serves srv on 127.0.0.1, sends two lines (the second
// in two pieces) and prints the answers, then shuts the server down and
// prints what the client gets until the server closes.
func talkThenShutdown(srv *nodenet.Server) {
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return
	}
	conn, err := net.Dial("tcp", srv.Address().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, piece := range []string{"hello\nwor", "ld\n"} {
		io.WriteString(conn, piece)
	}
	for range 2 {
		line, _ := br.ReadString('\n')
		fmt.Print(line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	rest, _ := io.ReadAll(br) // the goodbye, then the server's end
	fmt.Print(string(rest))
	conn.Close() // the events style waits for the client's end
	fmt.Println("shutdown:", <-done)
}
