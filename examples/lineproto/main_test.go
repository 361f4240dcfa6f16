package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
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
// timeout and no write timeout unless a test sets them, so that nothing
// depends on how fast the machine is.
func testConfig() config {
	return config{maxLine: 64 << 10, grace: testTimeout}
}

// testServer is the server run by a test, as main runs it, with a
// context that stands for Ctrl-C. Every error a handler ends with (the
// error of its log line) is sent on ended.
type testServer struct {
	kv        *server
	addr      nodenet.Addr
	interrupt context.CancelFunc
	done      chan error
	ended     chan error
}

func startServer(t *testing.T, cfg config) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{interrupt: cancel, done: make(chan error, 1), ended: make(chan error, 100)}
	cfg.logf = func(_ string, args ...any) {
		for _, a := range args {
			if err, ok := a.(error); ok {
				select {
				case s.ended <- err:
				default: // a test that does not look: never block a handler
				}
			}
		}
	}
	s.kv = newServer(cfg)
	addrs := make(chan nodenet.Addr, 1)
	go func() { s.done <- run(ctx, s.kv, "127.0.0.1", 0, func(a nodenet.Addr) { addrs <- a }) }()
	select {
	case s.addr = <-addrs:
	case err := <-s.done:
		t.Fatalf("run: %v", err)
	}
	return s
}

// stop interrupts the server and checks that the shutdown was clean.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	s.interrupt()
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
}

func (s *testServer) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(testTimeout):
		t.Fatal("the server did not stop")
		return nil
	}
}

// waitEnded waits until a handler ends with an error that is target.
func (s *testServer) waitEnded(t *testing.T, target error) {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case err := <-s.ended:
			if errors.Is(err, target) {
				return
			}
		case <-timeout:
			t.Fatalf("no handler ended with %v", target)
		}
	}
}

// client is a client of the line protocol over a real TCP connection.
type client struct {
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, s *testServer) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(testTimeout)) // fail, never hang
	return &client{conn: conn, br: bufio.NewReader(conn)}
}

// send writes the lines in one write: pipelined commands.
func (c *client) send(t *testing.T, lines ...string) {
	t.Helper()
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
}

// expect reads len(want) lines and compares them with want.
func (c *client) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		line, err := c.br.ReadString('\n')
		if line != w+"\n" || err != nil {
			t.Fatalf("read %q, %v; want %q", line, err, w)
		}
	}
}

// expectEOF checks that the server has closed the connection.
func (c *client) expectEOF(t *testing.T) {
	t.Helper()
	if line, err := c.br.ReadString('\n'); err != io.EOF {
		t.Fatalf("read %q, %v; want the end of the connection", line, err)
	}
}

func TestCommands(t *testing.T) {
	s := startServer(t, testConfig())
	a, b := dial(t, s), dial(t, s)
	a.send(t, "SET color blue green")
	a.expect(t, "OK")
	b.send(t, "GET color") // another connection, the same store
	b.expect(t, "VALUE blue green")
	b.send(t, "get missing", "DEL color", "DEL color", "GET color")
	b.expect(t, "NOT_FOUND", "DELETED", "NOT_FOUND", "NOT_FOUND")
	a.send(t, "SET onlykey", "GET", "GET a b", "FLY", "", "set x\r")
	a.expect(t, "ERR usage: SET key value", "ERR usage: GET key", "ERR usage: GET key",
		"ERR unknown command FLY", "ERR empty command", "ERR usage: SET key value")
	a.send(t, "QUIT", "GET never answered")
	a.expect(t, "BYE")
	a.expectEOF(t)
	s.waitEnded(t, errQuit)
	b.send(t, "SET crlf yes\r", "GET crlf")
	b.expect(t, "OK", "VALUE yes")
	s.interrupt()
	b.expect(t, "BYE server shutting down")
	b.expectEOF(t)
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
}

// 300 GETs of a 64 KiB value in one write (one read on the server) ask
// for 19 MiB of replies. Write blocks at the high-water mark, so they go
// out as the client reads them, and every one arrives whole.
func TestPipelinedLargeReplies(t *testing.T) {
	s := startServer(t, testConfig())
	c := dial(t, s)
	value := strings.Repeat("v", 64<<10-len("SET big ")) // the longest line allowed
	c.send(t, "SET big "+value)
	c.expect(t, "OK")
	const n = 300
	c.send(t, strings.TrimSuffix(strings.Repeat("GET big\n", n), "\n"))
	for i := range n {
		line, err := c.br.ReadString('\n')
		if err != nil || line != "VALUE "+value+"\n" {
			t.Fatalf("reply %d: %d bytes, %v; want the value", i, len(line), err)
		}
	}
	s.stop(t)
}

// A client that sends GETs and never reads the replies holds a handler's
// Write blocked at the high-water mark until the write deadline, and is
// dropped; the server goes on serving the others.
func TestClientThatDoesNotRead(t *testing.T) {
	cfg := testConfig()
	cfg.writeTimeout = 100 * time.Millisecond // only Writes that block can reach it
	s := startServer(t, cfg)
	slow := dial(t, s)
	slow.send(t, "SET big "+strings.Repeat("v", 32<<10))
	slow.expect(t, "OK")
	wrote := make(chan error, 1)
	go func() {
		gets := []byte(strings.Repeat("GET big\n", 512))
		for {
			if _, err := slow.conn.Write(gets); err != nil {
				wrote <- err // the server dropped the connection
				return
			}
		}
	}()
	s.waitEnded(t, os.ErrDeadlineExceeded)
	select {
	case <-wrote:
	case <-time.After(testTimeout):
		t.Fatal("the client that does not read was not disconnected")
	}
	other := dial(t, s)
	other.send(t, "GET big")
	other.expect(t, "VALUE "+strings.Repeat("v", 32<<10))
	s.interrupt()
	other.expect(t, "BYE server shutting down")
	other.expectEOF(t)
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
}

// A client that says nothing for the idle timeout gets BYE and the
// connection closes.
func TestIdleTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.idle = 50 * time.Millisecond
	s := startServer(t, cfg)
	c := dial(t, s)
	c.expect(t, "BYE idle timeout")
	c.expectEOF(t)
	s.waitEnded(t, nodenet.ErrIdleTimeout)
	s.stop(t)
}

func TestLineTooLong(t *testing.T) {
	cfg := testConfig()
	cfg.maxLine = 100
	s := startServer(t, cfg)
	ok := dial(t, s)
	ok.send(t, "SET k "+strings.Repeat("x", 94)) // 100 bytes: allowed
	ok.expect(t, "OK")
	long := dial(t, s)
	long.conn.Write(bytes.Repeat([]byte("x"), 101)) // no newline yet, already too long
	long.expect(t, "ERR line too long")
	long.expectEOF(t)
	s.stop(t) // ok says BYE at the shutdown
}

// Shutdown while clients are connected: an idle one gets BYE at once; one
// in the middle of a command gets it answered first, then BYE.
func TestShutdownFinishesTheCommand(t *testing.T) {
	s := startServer(t, testConfig())
	idle, busy := dial(t, s), dial(t, s)
	idle.send(t, "SET a 1")
	idle.expect(t, "OK")
	// One write, so one read on the server: once GET x is answered, the
	// handler holds the beginning of the SET and waits for the rest.
	io.WriteString(busy.conn, "GET x\nSET k v")
	busy.expect(t, "NOT_FOUND")

	s.interrupt()
	idle.expect(t, "BYE server shutting down")
	idle.expectEOF(t)
	io.WriteString(busy.conn, "alue\n")
	busy.expect(t, "OK", "BYE server shutting down")
	busy.expectEOF(t)
	if err := s.wait(t); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
	if got, _ := s.kv.exec("GET k"); got != "VALUE value\n" {
		t.Errorf("GET k = %q; want the value the finished command set", got)
	}
}

// Ctrl-C for real: serve, as main calls it, gets SIGINT; the connected
// client gets BYE, and serve returns nil once its handler has closed.
func TestCtrlC(t *testing.T) {
	kv := newServer(testConfig())
	addrs := make(chan nodenet.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(kv, "127.0.0.1", 0, func(a nodenet.Addr) { addrs <- a }) }()
	s := &testServer{kv: kv, done: done}
	select {
	case s.addr = <-addrs:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	c := dial(t, s)
	c.send(t, "SET k v")
	c.expect(t, "OK")
	// serve's signal.NotifyContext is listening: serve called ready after it.
	if err := sendCtrlC(); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "BYE server shutting down")
	c.expectEOF(t)
	if err := s.wait(t); err != nil {
		t.Errorf("serve after Ctrl-C = %v; want nil", err)
	}
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(&out); err != nil {
		t.Fatalf("runDemo: %v\n%s", err, &out)
	}
	want := strings.Join([]string{
		"> SET greeting hello, world", "< OK",
		"> GET greeting", "< VALUE hello, world",
		"> GET nothing", "< NOT_FOUND",
		"> DEL greeting", "< DELETED",
		"> SET a 1", "> SET b 2", "> GET a", "> GET b", "< OK", "< OK", "< VALUE 1", "< VALUE 2",
		"> FLY away", "< ERR unknown command FLY",
		"(Ctrl-C)", "< BYE server shutting down",
		"the server closed the connection",
		"server: shut down",
	}, "\n") + "\n"
	if got := out.String(); got != want {
		t.Errorf("demo printed:\n%s\nwant:\n%s", got, want)
	}
}

// exec alone: the replies of the protocol.
func TestExec(t *testing.T) {
	kv := newServer(testConfig())
	for _, tc := range []struct{ line, reply string }{
		{"SET k two words", "OK\n"},
		{"GET k", "VALUE two words\n"},
		{"set k", "ERR usage: SET key value\n"},
		{"QUIT", "BYE\n"},
	} {
		if got, _ := kv.exec(tc.line); got != tc.reply {
			t.Errorf("exec(%q) = %q; want %q", tc.line, got, tc.reply)
		}
	}
	if _, quit := kv.exec("quit"); !quit {
		t.Error("quit does not end the session")
	}
}
