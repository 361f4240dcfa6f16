// Command echo is the echo server of Node's manual, and a client, on nodenet.
//
//	go run ./examples/echo -demo             # server and client in one process, events printed
//	go run ./examples/echo                   # server on port 8124 (-port, -unix PATH)
//	go run ./examples/echo -client           # client: stdin to the server, replies to stdout
//	go run ./examples/echo -events           # server that ranges over events instead of Pipe
//	go run ./examples/echo -greet=false      # a plain echo, as the benchmark harness (./bench) runs it
//
// The server greets each client with "hello\r\n" and echoes what it sends,
// as Node's c.write('hello\r\n'); c.pipe(c).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"

	"github.com/nodenet/nodenet"
)

func main() {
	port := flag.Int("port", 8124, "TCP port to listen on or connect to")
	host := flag.String("host", "", "host to listen on (default all IPv4 addresses) or connect to (default localhost)")
	unix := flag.String("unix", "", "Unix socket path instead of TCP")
	client := flag.Bool("client", false, "run the client: send stdin, print what comes back")
	demo := flag.Bool("demo", false, "run server and client in one process, print their events, exit")
	events := flag.Bool("events", false, "server echoes by ranging over events instead of Pipe")
	quiet := flag.Bool("quiet", false, "server prints nothing per connection")
	greet := flag.Bool("greet", true, `server greets each client with "hello\r\n" (off: a plain echo, as the benchmark harness ./bench runs it)`)
	flag.Parse()
	log.SetFlags(0)

	switch {
	case *demo:
		runDemo(os.Stdout)
	case *client:
		if err := runClient(*port, *host, *unix, os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
	default:
		runServer(*port, *host, *unix, *events, *quiet, *greet)
	}
}

// handler returns the server's connection handler.
func handler(events, quiet, greet bool) func(*nodenet.Socket) {
	if !events {
		return func(c *nodenet.Socket) {
			if !quiet {
				log.Println("server connected")
			}
			if greet {
				c.SendString("hello\r\n", "", nil)
			}
			c.Pipe(c)
		}
	}
	// The same echo written against the events: Node's data handler with
	// its backpressure (pause when write returns false, resume on drain).
	return func(c *nodenet.Socket) {
		if greet {
			c.SendString("hello\r\n", "", nil)
		}
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case nodenet.DataEvent:
				if ok, _ := c.Send(ev.Data, nil); !ok {
					c.Pause()
				}
			case nodenet.DrainEvent:
				c.Resume()
			case nodenet.EndEvent:
				c.End()
			}
		}
	}
}

func listen(srv *nodenet.Server, port int, host, unix string) error {
	if unix != "" {
		return srv.ListenUnix(unix)
	}
	return srv.Listen(port, host, 0)
}

func runServer(port int, host, unix string, events, quiet, greet bool) {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, handler(events, quiet, greet))
	if err != nil {
		log.Fatal(err)
	}
	if err := listen(srv, port, host, unix); err != nil {
		log.Fatal(err)
	}
	if !quiet {
		log.Printf("server bound to %s", srv.Address())
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	srv.Close()
}

func connect(port int, host, unix string) (*nodenet.Socket, error) {
	if unix != "" {
		return nodenet.Connect(nodenet.ConnectOptions{Path: unix})
	}
	return nodenet.Connect(nodenet.ConnectOptions{Port: port, Host: host})
}

// runClient is the telnet-like client: lines from in go to the server,
// what the server sends goes to out. It returns when the connection has
// closed, with the error that closed it, if any.
func runClient(port int, host, unix string, in io.Reader, out io.Writer) error {
	c, err := connect(port, host, unix)
	if err != nil {
		return err
	}
	// The copier ends when in does, or at its next Write once the socket
	// has closed; a terminal's stdin may keep it until the process exits.
	go func() {
		io.Copy(c, in) // Write blocks at the high-water mark
		c.End()
	}()
	var failure error
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case nodenet.DataEvent:
			out.Write(ev.Data)
		case nodenet.ErrorEvent:
			failure = ev.Err
		}
	}
	c.Destroy() // a Write still blocked in io.Copy returns
	return failure
}

// runDemo runs the echo server and a client in one process and prints
// each side's events, then exits once everything has closed.
func runDemo(w io.Writer) {
	var mu sync.Mutex // three goroutines print
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format, args...)
	}
	var handlers sync.WaitGroup
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, func(c *nodenet.Socket) {
		defer handlers.Done()
		c.SendString("hello\r\n", "", nil)
		c.Pipe(c)
		for ev := range c.Events() {
			printf("server socket: %s\n", describe(ev))
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	handlers.Add(1) // the demo makes one connection
	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		for ev := range srv.Events() {
			printf("server: %s\n", describe(ev))
		}
	}()
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		log.Fatal(err)
	}

	c, err := nodenet.Connect(nodenet.ConnectOptions{Port: srv.Address().Port, Host: "127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	c.SetEncoding("utf8")
	sent := false
	for ev := range c.Events() {
		printf("client: %s\n", describe(ev))
		if _, ok := ev.(nodenet.DataEvent); ok && !sent {
			sent = true // answer the greeting, then end this side
			c.EndString("I am the client\r\n", "")
		}
	}
	handlers.Wait()
	srv.Close()
	<-serverDone
}

func describe(ev nodenet.Event) string {
	switch ev := ev.(type) {
	case nodenet.DataEvent:
		if ev.Data != nil {
			return fmt.Sprintf("data %q", ev.Data)
		}
		return fmt.Sprintf("data %q", ev.Text)
	case nodenet.ErrorEvent:
		return fmt.Sprintf("error %v", ev.Err)
	case nodenet.CloseEvent:
		return fmt.Sprintf("close (had error: %v)", ev.HadError)
	}
	return nodenet.EventName(ev)
}
