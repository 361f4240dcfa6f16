package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// How long a server has to start listening, and to exit once told to.
const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
	readyPoll    = 5 * time.Millisecond // between connection attempts while it starts
)

// A proc is a server process the harness started, listening on addr.
type proc struct {
	name   string
	addr   string
	pid    int
	cmd    *exec.Cmd
	stderr *tail
	done   chan struct{} // closed when the process has exited
	err    error         // how it exited, once done is closed
}

// startServer starts s in a process of its own, pinned to serverCPU if pin,
// and returns once it accepts connections on 127.0.0.1. A port another
// program takes meanwhile makes it try again with another.
func startServer(ctx context.Context, e *env, s server, pin bool) (*proc, error) {
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		var p *proc
		if p, err = startOn(ctx, e, s, pin, port); err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, err
}

// freePort is a port of 127.0.0.1 free at the time of the call.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startOn starts s on port and waits until it accepts a connection.
func startOn(ctx context.Context, e *env, s server, pin bool, port int) (*proc, error) {
	args, environ := s.command(e, port)
	if pin {
		// taskset execs the server: the PID is the server's.
		args = append([]string{e.taskset, "-c", strconv.Itoa(serverCPU)}, args...)
	}
	p := &proc{
		name:   s.name,
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:    exec.Command(args[0], args[1:]...),
		stderr: &tail{},
		done:   make(chan struct{}),
	}
	p.cmd.Env = append(os.Environ(), environ...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// waitReady returns once the server accepts a connection, or with an error
// if it exits first or takes longer than startTimeout. It tries to connect
// every readyPoll: with -quiet, nodenet's echo says nothing when it
// listens.
func (p *proc) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it listened on %s: %v%s", p.name, p.addr, p.err, p.stderr.suffix())
		case <-deadline.C:
			return fmt.Errorf("%s did not listen on %s within %v: %v%s", p.name, p.addr, startTimeout, err, p.stderr.suffix())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stop ends the process (SIGTERM, then SIGKILL after stopTimeout) and
// waits for it. It returns an error if the server had exited by itself:
// a run that lost its server is no measurement.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited during the run: %v%s", p.name, p.err, p.stderr.suffix())
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// tail keeps the last tailMax bytes written to it: a server's stderr, for
// the error that reports its failure.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

// tailMax is how much of a server's stderr a tail keeps.
const tailMax = 4 << 10

// Write keeps the end of p.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

// suffix is what the server wrote to stderr, as the end of an error
// message, or "" if nothing.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "; its stderr: " + s
}
