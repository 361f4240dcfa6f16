// Command lineproto is a small key-value server with a line protocol,
// written in the Go style: each connection's handler reads its commands
// with bufio from the socket's blocking net.Conn view (Socket.NetConn)
// and writes each reply with Write, which blocks while the socket's write
// queue is full, as a net.Conn's does.
//
//	go run ./examples/lineproto -demo   # the server and a client in one process, the session printed
//	go run ./examples/lineproto         # the server on port 8126 (-port); Ctrl-C says BYE and stops
//	nc 127.0.0.1 8126                   # a client: type commands
//
// Commands, one a line (a trailing "\r" is ignored):
//
//	SET key value   → OK            (the value is the rest of the line)
//	GET key         → VALUE value, or NOT_FOUND
//	DEL key         → DELETED, or NOT_FOUND
//	QUIT            → BYE, then the server closes
//
// anything else gets "ERR ...". Commands may be pipelined: several sent
// at once are answered in order.
//
// How the handler ends:
//
//   - Idle clients: SetTimeout (-idle) makes the view's Read return
//     nodenet.ErrIdleTimeout when nothing has moved for that long; the
//     handler says "BYE idle timeout" and closes.
//   - Graceful Ctrl-C: the interrupt cancels a context
//     (signal.NotifyContext) and Server.Shutdown tells every connection;
//     the view's Read returns nodenet.ErrServerShutdown. The handler
//     finishes the command it is reading (a line begun is read to its
//     end and answered), says "BYE server shutting down" and closes.
//     Shutdown waits for that, up to -grace, then destroys what remains.
//     Commands the client sent that the handler had not begun to read
//     are not answered: like any server going away, it tells the client,
//     which retries them elsewhere.
//   - Clients that do not read their replies: Write blocks once the
//     socket's queue holds its high-water mark (16 KiB), so the server
//     holds at most that much for a client however many replies its
//     commands ask for (300 pipelined GETs of a large value arrive in one
//     read, but their replies go out one Write at a time). A write
//     deadline (-write-timeout) ends a Write that stays blocked, and the
//     handler drops the client.
//   - Every handler runs in its own goroutine, at the same time as the
//     others, so the store is guarded by a mutex.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nodenet/nodenet"
)

// config is the server's settings, from the flags.
type config struct {
	idle         time.Duration // SetTimeout: BYE to a client idle this long; 0: never
	writeTimeout time.Duration // how long one reply may wait for the client to read; 0: forever
	maxLine      int           // the longest command line, in bytes
	grace        time.Duration // how long Shutdown waits for the handlers before it destroys what remains
	logf         func(format string, args ...any)
}

func main() {
	port := flag.Int("port", 8126, "TCP port to listen on")
	host := flag.String("host", "", "host to listen on (default all IPv4 addresses)")
	demo := flag.Bool("demo", false, "run the server and a client in one process, print the session, exit")
	quiet := flag.Bool("quiet", false, "print nothing per connection")
	cfg := config{}
	flag.DurationVar(&cfg.idle, "idle", 5*time.Minute, "say BYE to a client after this long with no traffic (0: never)")
	flag.DurationVar(&cfg.writeTimeout, "write-timeout", 30*time.Second, "drop a client that has not read a reply for this long (0: never)")
	flag.IntVar(&cfg.maxLine, "max-line", 64<<10, "longest command line, in bytes")
	flag.DurationVar(&cfg.grace, "grace", 5*time.Second, "on Ctrl-C, how long to wait for the handlers to finish")
	flag.Parse()
	log.SetFlags(0)
	cfg.logf = log.Printf
	if *quiet {
		cfg.logf = func(string, ...any) {}
	}

	if *demo {
		if err := runDemo(os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	err := serve(newServer(cfg), *host, *port, func(a nodenet.Addr) {
		log.Printf("key-value server on %s; Ctrl-C stops it", a)
	})
	if err != nil {
		log.Fatal(err)
	}
}

// serve runs the server until the process is interrupted (Ctrl-C or
// SIGTERM), then shuts it down gracefully. ready is called once it
// listens, with its address.
func serve(kv *server, host string, port int, ready func(nodenet.Addr)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, kv, host, port, ready)
}

// run serves until ctx is done, then shuts the server down: it returns
// once every handler has said BYE and closed (nil), or at the grace
// deadline with Shutdown's *nodenet.ForcedError.
func run(ctx context.Context, kv *server, host string, port int, ready func(nodenet.Addr)) error {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, kv.handle)
	if err != nil {
		return err
	}
	if err := srv.Listen(port, host, 0); err != nil {
		return err
	}
	ready(srv.Address())
	<-ctx.Done()
	kv.cfg.logf("shutting down: %d connection(s), waiting up to %v", srv.Connections(), kv.cfg.grace)
	sctx, cancel := context.WithTimeout(context.Background(), kv.cfg.grace)
	defer cancel()
	return srv.Shutdown(sctx)
}

// server is the key-value store and its settings. Handlers run
// concurrently, one goroutine per connection, so the map is guarded by
// mu.
type server struct {
	cfg  config
	mu   sync.RWMutex
	data map[string]string
}

func newServer(cfg config) *server {
	if cfg.logf == nil {
		cfg.logf = func(string, ...any) {}
	}
	return &server{cfg: cfg, data: make(map[string]string)}
}

// Why a connection ends: a handler's errors, for its log line.
var (
	errQuit        = errors.New("QUIT")
	errShutdown    = errors.New("server shutting down")
	errLineTooLong = errors.New("line too long")
)

// handle is the connection handler: a loop of read a line, run it, write
// the reply, in the blocking style. It returns when the connection is
// over; the deferred Close sends what is still queued, then closes.
func (kv *server) handle(c *nodenet.Socket) {
	nc := c.NetConn() // Read takes the socket's events: nothing else may receive them
	defer nc.Close()
	if kv.cfg.idle > 0 {
		c.SetTimeout(kv.cfg.idle)
	}
	h := &conn{kv: kv, nc: nc}
	err := h.serve()
	switch {
	case h.broken:
		// A reply could not be written: the client does not read, or
		// the connection is gone. A goodbye would not get through.
	case errors.Is(err, nodenet.ErrIdleTimeout):
		h.write("BYE idle timeout\n")
	case errors.Is(err, errShutdown):
		h.write("BYE server shutting down\n")
	case errors.Is(err, errLineTooLong):
		h.write("ERR line too long\n")
	}
	kv.cfg.logf("%s: %v", c.RemoteAddress(), err)
}

// conn is one connection's state, owned by its handler's goroutine.
type conn struct {
	kv       *server
	nc       net.Conn
	shutdown bool // the server is shutting down: stop after the command in progress
	broken   bool // a write failed: nothing more can be said to the client
}

// serve reads and runs commands until one of them is QUIT, the client
// goes away or stays idle, a reply cannot be written, or the server
// shuts down. It returns why.
func (h *conn) serve() error {
	// ReadSlice returns at the buffer's size without a '\n', so a line
	// too long is seen by the time maxLine+1 bytes of it have come, or
	// by the next 4 KiB: the memory a client can make the handler hold.
	br := bufio.NewReaderSize(h.nc, min(h.kv.cfg.maxLine+1, 4096))
	var line []byte // the command being read: a line may take several reads
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if n := len(line); n > h.kv.cfg.maxLine && (err != nil || n-1 > h.kv.cfg.maxLine) {
			return errLineTooLong // counted without the '\n'
		}
		switch {
		case err == nil: // a whole line
			reply, quit := h.kv.exec(string(bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))))
			line = line[:0]
			if err := h.write(reply); err != nil {
				return err
			}
			switch {
			case quit:
				return errQuit
			case h.shutdown:
				return errShutdown // the command in progress is done
			}
		case errors.Is(err, bufio.ErrBufferFull):
			// A line longer than bufio's buffer: read on (maxLine bounds it).
		case errors.Is(err, nodenet.ErrServerShutdown):
			// Once, at the ShutdownEvent; the connection stays open. A
			// line begun is read to its end and answered first.
			h.shutdown = true
			if len(line) == 0 {
				return errShutdown
			}
		default:
			// io.EOF (the client closed), nodenet.ErrIdleTimeout (once,
			// at the TimeoutEvent), or an error that closed the socket.
			return err
		}
	}
}

// write writes a reply. Write blocks while the socket's queue is at its
// high-water mark: the client is not reading. The write deadline bounds
// that wait, and the error drops the client. A Write blocked when the
// server starts shutting down returns ErrServerShutdown, having queued
// part of the reply: the rest is written, so the reply is whole.
func (h *conn) write(reply string) error {
	if h.kv.cfg.writeTimeout > 0 {
		h.nc.SetWriteDeadline(time.Now().Add(h.kv.cfg.writeTimeout))
	}
	p := []byte(reply)
	for {
		n, err := h.nc.Write(p)
		p = p[n:]
		switch {
		case err == nil:
			return nil
		case errors.Is(err, nodenet.ErrServerShutdown):
			h.shutdown = true // once; the rest of the reply still goes out
			if len(p) == 0 {
				return nil
			}
		default: // the deadline, ErrIdleTimeout, or the socket has closed
			h.broken = true
			return fmt.Errorf("write: %w", err)
		}
	}
}

// exec runs one command and returns its reply, and whether it is QUIT.
// It touches the store under its lock: other handlers run at the same
// time.
func (kv *server) exec(line string) (reply string, quit bool) {
	cmd, args, _ := strings.Cut(line, " ")
	switch strings.ToUpper(cmd) {
	case "SET":
		key, value, ok := strings.Cut(args, " ")
		if !ok || key == "" {
			return "ERR usage: SET key value\n", false
		}
		kv.mu.Lock()
		kv.data[key] = value
		kv.mu.Unlock()
		return "OK\n", false
	case "GET":
		if args == "" || strings.Contains(args, " ") {
			return "ERR usage: GET key\n", false
		}
		kv.mu.RLock()
		value, ok := kv.data[args]
		kv.mu.RUnlock()
		if !ok {
			return "NOT_FOUND\n", false
		}
		return "VALUE " + value + "\n", false
	case "DEL":
		if args == "" || strings.Contains(args, " ") {
			return "ERR usage: DEL key\n", false
		}
		kv.mu.Lock()
		_, ok := kv.data[args]
		delete(kv.data, args)
		kv.mu.Unlock()
		if !ok {
			return "NOT_FOUND\n", false
		}
		return "DELETED\n", false
	case "QUIT":
		return "BYE\n", true
	case "":
		return "ERR empty command\n", false
	}
	return "ERR unknown command " + cmd + "\n", false
}

// runDemo runs the server and one client in one process over 127.0.0.1,
// prints what the client sends (>) and receives (<), then shuts the
// server down as Ctrl-C would. The client waits for each reply, so the
// output is always the same.
func runDemo(w io.Writer) error {
	kv := newServer(config{maxLine: 64 << 10, writeTimeout: 10 * time.Second, grace: 5 * time.Second})
	ctx, interrupt := context.WithCancel(context.Background()) // stands for Ctrl-C
	defer interrupt()
	addrs := make(chan nodenet.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, kv, "127.0.0.1", 0, func(a nodenet.Addr) { addrs <- a }) }()
	var addr nodenet.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		return err
	}
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // the demo never hangs
	br := bufio.NewReader(conn)
	hear := func(n int) error {
		for range n {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "< %s", line)
		}
		return nil
	}
	say := func(lines ...string) error {
		for _, l := range lines {
			fmt.Fprintf(w, "> %s\n", l)
		}
		// One write: pipelined commands arrive together.
		_, err := io.WriteString(conn, strings.Join(lines, "\n")+"\n")
		return err
	}
	for _, step := range [][]string{
		{"SET greeting hello, world"},
		{"GET greeting"},
		{"GET nothing"},
		{"DEL greeting"},
		{"SET a 1", "SET b 2", "GET a", "GET b"},
		{"FLY away"},
	} {
		if err := say(step...); err != nil {
			return err
		}
		if err := hear(len(step)); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "(Ctrl-C)")
	interrupt()
	if err := hear(1); err != nil {
		return err
	}
	if line, err := br.ReadString('\n'); err != io.EOF {
		return fmt.Errorf("read %q, %v; want the end of the connection", line, err)
	}
	fmt.Fprintln(w, "the server closed the connection")
	if err := <-done; err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(w, "server: shut down")
	return nil
}
