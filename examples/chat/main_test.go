package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodenet/nodenet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so that a failure is reported rather
// than hung; nothing waits for it to pass.
const testTimeout = 30 * time.Second

// testConfig is the server's configuration for the tests: no idle
// timeout and no stall timeout unless a test sets them, so that nothing
// depends on how fast the machine is.
func testConfig() config {
	return config{maxQueue: 64 << 10, maxLine: 16 << 10, grace: testTimeout}
}

// server is a chat server run by a test, as main runs it, with a
// context that stands for Ctrl-C.
type server struct {
	r         *room
	addr      nodenet.Addr
	interrupt context.CancelFunc
	done      chan error
}

func startServer(t *testing.T, cfg config) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{r: newRoom(cfg), interrupt: cancel, done: make(chan error, 1)}
	addrs := make(chan nodenet.Addr, 1)
	go func() { s.done <- run(ctx, s.r, "127.0.0.1", 0, func(a nodenet.Addr) { addrs <- a }) }()
	select {
	case s.addr = <-addrs:
	case err := <-s.done:
		t.Fatalf("run: %v", err)
	}
	return s
}

// shutdown interrupts the server, checks that each client gets the
// goodbye as its last line, then the end of the connection, hangs up,
// and checks that the shutdown was clean.
func (s *server) shutdown(t *testing.T, clients ...*testClient) {
	t.Helper()
	s.interrupt()
	for _, c := range clients {
		c.waitGoodbye(t)
	}
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil (every client said goodbye)", err)
	}
}

func (s *server) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(testTimeout):
		t.Fatal("the server did not stop")
		return nil
	}
}

// has reports whether name is in the room.
func (s *server) has(name string) bool {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.r.clients[name] != nil
}

// queued is the number of bytes waiting in name's write queue on the
// server (0 once it has left).
func (s *server) queued(name string) int {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if cl := s.r.clients[name]; cl != nil {
		return cl.s.BufferSize()
	}
	return 0
}

// testClient is a chat client over a real TCP connection. A goroutine
// reads every line as it comes, so the client never holds the server
// back however slowly the test looks at what it got.
type testClient struct {
	name string
	conn net.Conn
	done chan struct{} // closed when the reader has stopped

	mu      sync.Mutex
	lines   []string      // every line received, in order
	end     error         // how reading ended: io.EOF, or an error; nil while it goes on
	changed chan struct{} // closed and replaced at each change
}

// dial connects a client and, if name is not "", joins the room and
// waits for the greeting.
func dial(t *testing.T, s *server, name string) *testClient {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{name: name, conn: conn, done: make(chan struct{}), changed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() {
		conn.Close()
		<-c.done
	})
	c.waitLine(t, "* welcome; your name?")
	if name != "" {
		c.say(t, name)
		c.waitPrefix(t, "* hello "+name+";")
	}
	return c
}

func (c *testClient) read() {
	defer close(c.done)
	br := bufio.NewReader(c.conn)
	for {
		line, err := br.ReadString('\n')
		c.mu.Lock()
		if err == nil {
			c.lines = append(c.lines, strings.TrimSuffix(line, "\n"))
		} else {
			c.end = err
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (c *testClient) say(t *testing.T, lines ...string) {
	t.Helper()
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
}

// waitFor waits until cond, given the lines so far and how reading
// ended, holds.
func (c *testClient) waitFor(t *testing.T, what string, cond func(lines []string, end error) bool) {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		c.mu.Lock()
		ok, changed := cond(c.lines, c.end), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("%s: timed out waiting for %s; received %q, end %v", c.name, what, tail(c.lines), c.end)
		}
	}
}

func (c *testClient) waitLine(t *testing.T, want string) {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("%q", want), func(lines []string, _ error) bool {
		return contains(lines, func(l string) bool { return l == want })
	})
}

func (c *testClient) waitPrefix(t *testing.T, prefix string) {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("a line starting with %q", prefix), func(lines []string, _ error) bool {
		return contains(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
	})
}

// waitGoodbye waits for the end of the connection, checks that the
// server's goodbye was the last line before it, and hangs up.
func (c *testClient) waitGoodbye(t *testing.T) {
	t.Helper()
	c.waitFor(t, "the end of the connection", func(_ []string, end error) bool { return end != nil })
	c.mu.Lock()
	lines, end := c.lines, c.end
	c.mu.Unlock()
	if len(lines) == 0 || lines[len(lines)-1] != "* server shutting down, goodbye" || end != io.EOF {
		t.Errorf("%s: last lines %q, then %v; want the goodbye, then EOF", c.name, tail(lines), end)
	}
	c.conn.Close()
}

// all returns the lines received so far.
func (c *testClient) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// said returns the lines received that someone said ("name: text"), in
// order, leaving out the server's notices ("* ...").
func (c *testClient) said() []string {
	return said(c.all())
}

func said(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "* ") {
			out = append(out, l)
		}
	}
	return out
}

// waitSaid waits until n lines said have been received.
func (c *testClient) waitSaid(t *testing.T, n int) {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("%d lines said", n), func(lines []string, _ error) bool {
		return len(said(lines)) >= n
	})
}

func contains(lines []string, match func(string) bool) bool {
	for _, l := range lines {
		if match(l) {
			return true
		}
	}
	return false
}

// tail is the end of lines, for messages.
func tail(lines []string) []string {
	if len(lines) > 5 {
		return lines[len(lines)-5:]
	}
	return lines
}

// Lines go to everyone but the speaker; joins, /who and leaving are
// announced; a taken or bad name is asked again.
func TestBroadcast(t *testing.T) {
	s := startServer(t, testConfig())
	alice := dial(t, s, "alice")
	bob := dial(t, s, "bob")
	alice.waitLine(t, "* bob joined")
	carol := dial(t, s, "")
	carol.say(t, "alice", "c a r o l", "carol")
	carol.waitLine(t, "* hello carol; here: alice, bob")
	want := []string{
		"* welcome; your name?",
		"* alice is taken; your name?",
		"* a name is 1 to 20 letters, digits, '-' or '_'; your name?",
		"* hello carol; here: alice, bob",
	}
	if got := carol.all(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("carol received %q; want %q", got, want)
	}
	alice.waitLine(t, "* carol joined")
	bob.waitLine(t, "* carol joined")

	alice.say(t, "hello all")
	bob.say(t, "hi alice")
	carol.say(t, "hey")
	bob.waitLine(t, "alice: hello all")
	bob.waitLine(t, "carol: hey")
	carol.waitLine(t, "alice: hello all")
	carol.waitLine(t, "bob: hi alice")
	alice.waitLine(t, "bob: hi alice")
	alice.waitLine(t, "carol: hey")
	for _, c := range []*testClient{alice, bob, carol} {
		for _, l := range c.said() {
			if strings.HasPrefix(l, c.name+": ") {
				t.Errorf("%s received its own line %q", c.name, l)
			}
		}
	}

	carol.say(t, "/who")
	carol.waitLine(t, "* here: alice, bob, carol")
	carol.say(t, "/quit")
	carol.waitLine(t, "* goodbye")
	carol.waitFor(t, "the end of the connection", func(_ []string, end error) bool { return end == io.EOF })
	carol.conn.Close()
	alice.waitLine(t, "* carol left")
	bob.waitLine(t, "* carol left")

	s.shutdown(t, alice, bob)
}

// A client that never reads is disconnected once its queue on the server
// reaches -max-queue, and the queue never exceeds it; the clients that
// read receive every line, before and after, and hear why it left.
//
// alice says lines in batches and waits until bob and carol have them all
// before the next batch, so that their queues never hold more than a
// batch, however slow the machine. How many batches it takes to fill the
// slow client's kernel buffers, then its queue, is not known in advance:
// alice goes on until the server has disconnected it.
func TestSlowClientIsDisconnected(t *testing.T) {
	cfg := testConfig()
	s := startServer(t, cfg)
	alice := dial(t, s, "alice")
	bob := dial(t, s, "bob")
	carol := dial(t, s, "carol")

	slow, err := net.Dial("tcp", s.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "slow\n") // and never a read, until it is disconnected
	carol.waitLine(t, "* slow joined")

	const lineLen, perBatch = 12 << 10, 2 // 24 KiB a batch, under the 64 KiB bound
	filler := strings.Repeat("x", lineLen)
	sent, maxQueued := 0, 0
	for round := 0; s.has("slow"); round++ {
		if sent > 1<<30 {
			t.Fatalf("slow is still in the room after %d MiB", sent>>20)
		}
		batch := make([]string, perBatch)
		for i := range batch {
			batch[i] = fmt.Sprintf("%d.%d %s", round, i, filler)
		}
		alice.say(t, batch...)
		sent += perBatch * lineLen
		bob.waitSaid(t, (round+1)*perBatch)
		carol.waitSaid(t, (round+1)*perBatch)
		if q := s.queued("slow"); q > cfg.maxQueue {
			t.Fatalf("slow's queue holds %d bytes; the bound is %d", q, cfg.maxQueue)
		} else {
			maxQueued = max(maxQueued, q)
		}
	}
	t.Logf("slow was disconnected after about %d KiB; its queue held at most %d bytes when looked at", sent>>10, maxQueued)

	for _, c := range []*testClient{alice, bob, carol} {
		c.waitLine(t, "* slow was disconnected (not reading)")
	}
	// The slow client finds its connection closed: what the kernel held
	// for it, then the end (or a reset).
	slow.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.Copy(io.Discard, slow); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("slow client's read ended with %v; want the end of the connection", err)
	}

	// The room goes on: every line said reached bob and carol, in order.
	alice.say(t, "still here?")
	bob.waitLine(t, "alice: still here?")
	carol.waitLine(t, "alice: still here?")
	for _, c := range []*testClient{bob, carol} {
		said := c.said()
		if got, want := len(said), sent/lineLen+1; got != want {
			t.Errorf("%s received %d lines; want %d", c.name, got, want)
		}
		for i, l := range said[:len(said)-1] {
			if want := fmt.Sprintf("alice: %d.%d ", i/perBatch, i%perBatch); !strings.HasPrefix(l, want) {
				t.Fatalf("%s's line %d starts %q; want %q", c.name, i, l[:min(len(l), 20)], want)
			}
		}
	}
	s.shutdown(t, alice, bob, carol)
}

// Many commands in one write (one read on the server, one DataEvent with
// many lines) each get their answer.
func TestPipelinedCommands(t *testing.T) {
	s := startServer(t, testConfig())
	alice := dial(t, s, "alice")
	const n = 2000 // 28 KB of replies: under the 64 KiB bound, even if the client read none yet
	alice.say(t, strings.TrimSuffix(strings.Repeat("/who\n", n), "\n"))
	alice.waitFor(t, "every answer", func(lines []string, _ error) bool {
		count := 0
		for _, l := range lines {
			if l == "* here: alice" {
				count++
			}
		}
		return count == n
	})
	s.shutdown(t, alice)
}

// A client that says nothing gets a goodbye after the idle timeout, and
// the connection closes.
func TestIdleClient(t *testing.T) {
	cfg := testConfig()
	cfg.idle = 50 * time.Millisecond
	s := startServer(t, cfg)
	idle := dial(t, s, "")
	idle.waitFor(t, "the end of the connection", func(_ []string, end error) bool { return end != nil })
	want := []string{"* welcome; your name?", "* idle too long, goodbye"}
	if got := idle.all(); strings.Join(got, "|") != strings.Join(want, "|") || idle.end != io.EOF {
		t.Errorf("idle client received %q, then %v; want %q, then EOF", got, idle.end, want)
	}
	s.interrupt()
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
}

// A client that sends more than -max-line without a newline is told, and
// the server ends the connection: its partial line cannot grow without
// bound.
func TestLineTooLong(t *testing.T) {
	cfg := testConfig()
	cfg.maxLine = 100
	s := startServer(t, cfg)
	long, err := net.Dial("tcp", s.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	long.Write(bytes.Repeat([]byte("y"), 102)) // no room left for "\r\n"
	long.SetReadDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(long)
	if want := "* welcome; your name?\n* line too long, goodbye\n"; string(got) != want || err != nil {
		t.Errorf("received %q, %v; want %q, then EOF", got, err, want)
	}
	long.Close()
	s.interrupt()
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
}

// Ctrl-C for real: serve, as main calls it, gets SIGINT; each client gets
// the goodbye, then the end of the connection, and serve returns nil once
// they have hung up. Lines said before the signal are delivered first.
func TestCtrlC(t *testing.T) {
	r := newRoom(testConfig())
	addrs := make(chan nodenet.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(r, "127.0.0.1", 0, func(a nodenet.Addr) { addrs <- a }) }()
	var s *server
	select {
	case a := <-addrs:
		s = &server{r: r, addr: a, done: done}
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	alice := dial(t, s, "alice")
	bob := dial(t, s, "bob")
	alice.say(t, "see you")
	bob.waitLine(t, "alice: see you")
	// The signal reaches serve's signal.NotifyContext, which is listening:
	// serve called ready after it.
	if err := sendCtrlC(); err != nil {
		t.Fatal(err)
	}
	alice.waitGoodbye(t)
	bob.waitGoodbye(t)
	if err := s.wait(t); err != nil {
		t.Errorf("serve after Ctrl-C = %v; want nil", err)
	}
}

// A client that does not hang up after the goodbye is destroyed at the
// shutdown's deadline, and run reports it.
func TestShutdownDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.grace = 50 * time.Millisecond
	s := startServer(t, cfg)
	dial(t, s, "alice") // alice never hangs up
	s.interrupt()
	var fe *nodenet.ForcedError
	if err := s.wait(t); !errors.As(err, &fe) || fe.Forced != 1 {
		t.Errorf("run = %v; want a *nodenet.ForcedError with one connection destroyed", err)
	}
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(&out); err != nil {
		t.Fatalf("runDemo: %v\n%s", err, &out)
	}
	want := `alice< * welcome; your name?
alice> alice
alice< * hello alice; nobody else is here
bob< * welcome; your name?
bob> bob
bob< * hello bob; here: alice
alice< * bob joined
alice> hi bob
bob< alice: hi bob
bob> /who
bob< * here: alice, bob
bob> hello alice
alice< bob: hello alice
(Ctrl-C)
alice< * server shutting down, goodbye
alice: the server closed the connection
bob< * server shutting down, goodbye
bob: the server closed the connection
server: shut down
`
	if got := out.String(); got != want {
		t.Errorf("demo printed:\n%s\nwant:\n%s", got, want)
	}
}
