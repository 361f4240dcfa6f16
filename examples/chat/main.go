// Command chat is a line chat server written in Node's style: each
// connection's handler ranges over its socket's events and writes with
// Send, which never blocks.
//
//	go run ./examples/chat -demo      # the server and two clients in one process, what each client sees
//	go run ./examples/chat            # the server on port 8125 (-port); Ctrl-C says goodbye and stops
//	nc 127.0.0.1 8125                 # a client: type your name, then lines
//
// The first line a client sends is its name; every line after it goes to
// the others as "name: line". "/who" lists who is here, "/quit" leaves.
//
// What a service needs beyond the chat itself:
//
//   - Slow clients are bounded. A broadcast queues the line on every
//     other client's socket with Send; a client that does not read would
//     make its queue grow with every line anyone says. ServerOptions's
//     MaxBufferSize caps each queue (-max-queue): a Send that would pass it
//     fails with ErrBufferFull, and the server disconnects that client.
//     It disconnects rather than drops lines: a client that silently
//     misses lines shows a conversation that never happened, while a
//     disconnected one knows, and can reconnect. It does not wait for the
//     client either (pausing the speaker until every listener drains):
//     one client that stops reading would then stop the whole room. The
//     write-stall timeout (-stall) also disconnects a client whose queue
//     has not moved at all for that long, so that in a quiet room a dead
//     client does not hold its queue until the next lines fill it.
//   - Graceful Ctrl-C: the interrupt cancels a context
//     (signal.NotifyContext), and Server.Shutdown gives every connection a
//     ShutdownEvent, upon which its handler ends the socket after a
//     goodbye line; Shutdown returns once they have all closed, or
//     destroys what remains at its deadline (-grace).
//   - Shared state: every connection's handler runs in its own goroutine,
//     at the same time as the others (Node runs them one at a time on one
//     thread), so the set of clients is guarded by a mutex.
//   - Idle clients: SetTimeout (-idle) gives a TimeoutEvent when nothing
//     has moved either way for that long; the server says goodbye and
//     closes. A client that only listens in a busy room is not idle.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nodenet/nodenet"
)

// config is the server's settings, from the flags.
type config struct {
	maxQueue int           // bytes a client's write queue may hold (MaxBufferSize)
	maxLine  int           // the longest line a client may send, in bytes
	idle     time.Duration // SetTimeout: say goodbye to a client idle this long; 0: never
	stall    time.Duration // SetWriteStallTimeout: disconnect a client whose queue has not moved this long; 0: never
	grace    time.Duration // how long Shutdown waits for the goodbyes before it destroys the rest
	logf     func(format string, args ...any)
}

func main() {
	port := flag.Int("port", 8125, "TCP port to listen on")
	host := flag.String("host", "", "host to listen on (default all IPv4 addresses)")
	demo := flag.Bool("demo", false, "run the server and two clients in one process, print what each client sees, exit")
	quiet := flag.Bool("quiet", false, "print nothing per connection")
	cfg := config{}
	flag.IntVar(&cfg.maxQueue, "max-queue", 64<<10, "bytes queued for a client that does not read before it is disconnected")
	flag.IntVar(&cfg.maxLine, "max-line", 4<<10, "longest line a client may send, in bytes")
	flag.DurationVar(&cfg.idle, "idle", 10*time.Minute, "say goodbye to a client after this long with no traffic (0: never)")
	flag.DurationVar(&cfg.stall, "stall", 30*time.Second, "disconnect a client whose queued lines have not moved for this long (0: never)")
	flag.DurationVar(&cfg.grace, "grace", 5*time.Second, "on Ctrl-C, how long to wait for clients to close after the goodbye")
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
	err := serve(newRoom(cfg), *host, *port, func(a nodenet.Addr) {
		log.Printf("chat server on %s; Ctrl-C stops it", a)
	})
	if err != nil {
		log.Fatal(err)
	}
}

// serve runs the server until the process is interrupted (Ctrl-C or
// SIGTERM), then shuts it down gracefully. ready is called once it
// listens, with its address.
func serve(r *room, host string, port int, ready func(nodenet.Addr)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, r, host, port, ready)
}

// run serves until ctx is done, then shuts the server down: every client
// gets a goodbye, and run returns once they have all closed (nil), or at
// the grace deadline with Shutdown's *nodenet.ForcedError.
func run(ctx context.Context, r *room, host string, port int, ready func(nodenet.Addr)) error {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{Flow: nodenet.Flow{
		MaxBufferSize: r.cfg.maxQueue,
		// One DataEvent per line; a line of maxLine bytes may end in
		// "\r\n", and a longer one is an ErrorEvent, so that a client
		// that never sends '\n' cannot make the socket hold more.
		Framing: nodenet.Lines(r.cfg.maxLine + len("\r\n")),
	}}, r.handle)
	if err != nil {
		return err
	}
	if err := srv.Listen(port, host, 0); err != nil {
		return err
	}
	ready(srv.Address())
	<-ctx.Done()
	r.cfg.logf("shutting down: goodbye to %d client(s), waiting up to %v", srv.Connections(), r.cfg.grace)
	sctx, cancel := context.WithTimeout(context.Background(), r.cfg.grace)
	defer cancel()
	return srv.Shutdown(sctx)
}

// room is the chat: the clients that have given their name. Handlers
// run concurrently, one goroutine per connection, so everything here is
// guarded by mu.
type room struct {
	cfg     config
	mu      sync.Mutex
	clients map[string]*client // by name
}

func newRoom(cfg config) *room {
	if cfg.logf == nil {
		cfg.logf = func(string, ...any) {}
	}
	return &room{cfg: cfg, clients: make(map[string]*client)}
}

// client is a member of the room. Its fields are guarded by room.mu.
type client struct {
	name      string
	s         *nodenet.Socket
	gone      string // why it left the room ("" while in it, or when it need not be told)
	announced bool   // the others have been told that it left
}

// Why a client leaves the room, as the others are told.
const (
	leftByItself = "left"
	leftIdle     = "left (idle)"
	leftSlow     = "was disconnected (not reading)"
	leftTooLong  = "was disconnected (line too long)"
)

// sendLocked queues text on cl's socket and returns Send's bool: false
// once cl's queue is at the high-water mark (16 KiB) and a DrainEvent is
// owed. Send never blocks, so holding the room's lock across it costs a
// write(2) at most, and nobody can leave the room halfway through a
// broadcast. A Send that fails takes cl out of the room: ErrBufferFull
// means cl has left MaxBufferSize bytes unread, and it is disconnected
// (Destroy drops its queue: the memory is freed at once); any other error
// means its socket is closing already, and its handler will see it.
func (r *room) sendLocked(cl *client, text string) bool {
	ok, err := cl.s.SendString(text, "", nil)
	switch {
	case errors.Is(err, nodenet.ErrBufferFull):
		r.removeLocked(cl, leftSlow)
		cl.s.Destroy()
	case err != nil:
		r.removeLocked(cl, leftByItself)
	}
	return ok
}

// broadcastLocked sends text to every client but from (nil: to all).
func (r *room) broadcastLocked(from *client, text string) {
	for _, cl := range r.clients { // sendLocked may delete cl: allowed while ranging
		if cl != from {
			r.sendLocked(cl, text)
		}
	}
}

// removeLocked takes cl out of the room, once (a later call does
// nothing), recording why for the announcement (announceLocked).
func (r *room) removeLocked(cl *client, why string) {
	if r.clients[cl.name] != cl {
		return
	}
	delete(r.clients, cl.name)
	cl.gone = why
	if why != "" {
		r.cfg.logf("%s %s", cl.name, why)
	}
}

// announceLocked tells the others that cl has left, once. It is called
// by cl's own handler, never from within a broadcast (whose loop may
// remove clients as it goes).
func (r *room) announceLocked(cl *client) {
	if cl.announced || cl.gone == "" {
		return
	}
	cl.announced = true
	r.broadcastLocked(cl, fmt.Sprintf("* %s %s\n", cl.name, cl.gone))
}

// leave takes cl out of the room, if the room has not already taken it
// out, and tells the others why it left. why "" leaves without a word
// (the server is shutting down: everyone is leaving). Safe with cl nil
// (a connection that never gave its name).
func (r *room) leave(cl *client, why string) {
	if cl == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(cl, why)
	r.announceLocked(cl)
}

// session is one connection's state, owned by its handler's goroutine.
type session struct {
	r    *room
	c    *nodenet.Socket
	me   *client // nil until the client has given a name
	over bool    // the server has ended the conversation: ignore what comes
}

// handle is the connection handler. It receives the socket's events
// until the channel closes (after the CloseEvent), as every consumer of
// Events must, or until it calls Close, which ends the stream.
func (r *room) handle(c *nodenet.Socket) {
	s := &session{r: r, c: c}
	if r.cfg.idle > 0 {
		c.SetTimeout(r.cfg.idle)
	}
	if r.cfg.stall > 0 {
		c.SetWriteStallTimeout(r.cfg.stall)
	}
	c.SendString("* welcome; your name?\n", "", nil)
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case nodenet.DataEvent:
			// One line, without its "\n" or "\r\n": the server's Framing
			// (Lines) splits the stream.
			if !s.over { // a line after the goodbye: nobody hears it
				s.line(string(ev.Data))
			}
		case nodenet.DrainEvent:
			// Paused by s.reply while the client had a full queue of
			// replies unread: it has read them, listen to it again.
			c.Resume()
		case nodenet.TimeoutEvent:
			// Nothing moved either way for cfg.idle. Close, not End: a
			// client that does nothing may not close its side either, and
			// End would wait for it; Close sends the goodbye, then closes,
			// and ends the event stream, so the loop ends too.
			if !s.over {
				r.leave(s.me, leftIdle)
				c.SendString("* idle too long, goodbye\n", "", nil)
			}
			c.Close()
		case nodenet.WriteStallEvent:
			// Lines have waited in the queue for cfg.stall and the
			// kernel has taken none: the client does not read.
			s.drop(leftSlow)
		case nodenet.ShutdownEvent:
			// The server is going away. Leave without a word (everyone
			// is), say goodbye and End: the socket closes once the client
			// has read it and closed its side, or at Shutdown's deadline.
			if !s.over {
				r.leave(s.me, "")
				s.over = true
				c.EndString("* server shutting down, goodbye\n", "")
			}
		case nodenet.EndEvent:
			// The client has closed its side: it leaves. Without
			// AllowHalfOpen the socket ends this side itself, now.
			r.leave(s.me, leftByItself)
		case nodenet.ErrorEvent:
			if errors.Is(ev.Err, nodenet.ErrFrameTooLong) {
				// A line past -max-line: the socket has dropped it and
				// reads no more (an EndEvent follows), but a goodbye
				// sent now still goes out.
				if !s.over {
					s.end(leftTooLong, "* line too long, goodbye\n")
				}
				continue
			}
			r.cfg.logf("%s: %v", c.RemoteAddress(), ev.Err) // the CloseEvent follows
		}
	}
	r.leave(s.me, leftByItself) // a reset, a Destroy: tell the others, if nobody has
}

// line handles one complete line from the client.
func (s *session) line(text string) {
	if s.me == nil {
		s.join(strings.TrimSpace(text))
		return
	}
	r := s.r
	switch text {
	case "/quit":
		s.end(leftByItself, "* goodbye\n")
	case "/who":
		r.mu.Lock()
		names := r.namesLocked()
		r.mu.Unlock()
		s.reply("* here: " + strings.Join(names, ", ") + "\n")
	default:
		r.mu.Lock()
		if r.clients[s.me.name] == s.me { // not disconnected meanwhile
			r.broadcastLocked(s.me, s.me.name+": "+text+"\n")
		}
		r.mu.Unlock()
	}
}

// join makes the client a member of the room under name, or asks again.
func (s *session) join(name string) {
	if !validName(name) {
		s.reply("* a name is 1 to 20 letters, digits, '-' or '_'; your name?\n")
		return
	}
	r := s.r
	r.mu.Lock()
	if _, taken := r.clients[name]; taken {
		r.mu.Unlock()
		s.reply("* " + name + " is taken; your name?\n")
		return
	}
	here := "nobody else is here"
	if names := r.namesLocked(); len(names) > 0 {
		here = "here: " + strings.Join(names, ", ")
	}
	s.me = &client{name: name, s: s.c}
	r.clients[name] = s.me
	// Under the lock, so that the greeting comes before anything the
	// others say to the newcomer.
	r.sendLocked(s.me, "* hello "+name+"; "+here+"\n")
	r.broadcastLocked(s.me, "* "+name+" joined\n")
	r.mu.Unlock()
	r.cfg.logf("%s joined from %s", name, s.c.RemoteAddress())
}

// reply sends text to this client only, with Node's backpressure recipe:
// when Send returns false the client has a high-water mark of lines
// unread, so the handler stops reading its commands (Pause) until the
// DrainEvent. That bounds reading, not what one read produces: a single
// DataEvent may hold any number of "/who" lines, and their replies are
// queued at once. MaxBufferSize bounds those: past it Send fails, and the
// client is disconnected.
func (s *session) reply(text string) {
	ok, err := s.c.SendString(text, "", nil)
	switch {
	case errors.Is(err, nodenet.ErrBufferFull):
		s.drop(leftSlow)
	case err == nil && !ok:
		s.c.Pause()
	}
}

// drop disconnects the client at once: Destroy frees its queue. The
// others are told when the handler's loop ends.
func (s *session) drop(why string) {
	if s.me != nil {
		s.r.mu.Lock()
		s.r.removeLocked(s.me, why)
		s.r.mu.Unlock()
	}
	s.over = true
	s.c.Destroy()
}

// end takes the client out of the room, tells the others, and ends the
// conversation with a goodbye: End sends it, then the FIN, and the
// socket closes once the client has closed its side too, so no reset
// can destroy the goodbye before the client reads it.
func (s *session) end(why, goodbye string) {
	s.r.leave(s.me, why)
	s.over = true
	s.c.EndString(goodbye, "")
}

// namesLocked lists the room's members, sorted.
func (r *room) namesLocked() []string {
	names := make([]string, 0, len(r.clients))
	for name := range r.clients {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func validName(name string) bool {
	if len(name) == 0 || len(name) > 20 {
		return false
	}
	for _, ch := range name {
		ok := ch == '-' || ch == '_' || ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}

// runDemo runs the server and two clients, alice and bob, in one process
// over 127.0.0.1, prints each line a client sends (name>) and receives
// (name<), then shuts the server down as Ctrl-C would and prints the
// goodbyes. The clients take turns, so the output is always the same.
func runDemo(w io.Writer) error {
	r := newRoom(config{maxQueue: 64 << 10, maxLine: 4 << 10, grace: 5 * time.Second})
	ctx, interrupt := context.WithCancel(context.Background()) // stands for Ctrl-C
	defer interrupt()
	addrs := make(chan nodenet.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, r, "127.0.0.1", 0, func(a nodenet.Addr) { addrs <- a }) }()
	var addr nodenet.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		return err
	}

	var alice, bob *demoClient
	var err error
	if alice, err = dialDemo(w, "alice", addr); err != nil {
		return err
	}
	defer alice.conn.Close()
	if bob, err = dialDemo(w, "bob", addr); err != nil {
		return err
	}
	defer bob.conn.Close()
	steps := []func() error{
		alice.hear, alice.sayer("alice"), alice.hear, // welcome, name, hello
		bob.hear, bob.sayer("bob"), bob.hear, alice.hear, // bob joins; alice hears it
		alice.sayer("hi bob"), bob.hear,
		bob.sayer("/who"), bob.hear,
		bob.sayer("hello alice"), alice.hear,
		func() error { fmt.Fprintln(w, "(Ctrl-C)"); interrupt(); return nil },
		alice.hear, alice.hangUp,
		bob.hear, bob.hangUp,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	if err := <-done; err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(w, "server: shut down")
	return nil
}

// demoClient is one of the demo's clients: a plain net.Conn, as any
// client of a line protocol (nc, telnet) would be.
type demoClient struct {
	name string
	conn net.Conn
	br   *bufio.Reader
	w    io.Writer
}

func dialDemo(w io.Writer, name string, addr nodenet.Addr) (*demoClient, error) {
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // the demo never hangs
	return &demoClient{name: name, conn: conn, br: bufio.NewReader(conn), w: w}, nil
}

// sayer returns a step that sends line.
func (d *demoClient) sayer(line string) func() error {
	return func() error {
		fmt.Fprintf(d.w, "%s> %s\n", d.name, line)
		_, err := io.WriteString(d.conn, line+"\n")
		return err
	}
}

// hear reads and prints one line.
func (d *demoClient) hear() error {
	line, err := d.br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	fmt.Fprintf(d.w, "%s< %s", d.name, line)
	return nil
}

// hangUp waits for the server's end of the connection, then closes.
func (d *demoClient) hangUp() error {
	if line, err := d.br.ReadString('\n'); err != io.EOF {
		return fmt.Errorf("%s: read %q, %v; want the end of the connection", d.name, line, err)
	}
	fmt.Fprintf(d.w, "%s: the server closed the connection\n", d.name)
	return d.conn.Close()
}
