package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// The environment that makes this program (or its test binary) serve
// instead of measuring: the harness starts itself so to run stdecho-buf in
// a process of its own.
const (
	serveEnv = "NODENET_BENCH_SERVE" // the server to run: stdecho-buf
	portEnv  = "NODENET_BENCH_PORT"  // its port on 127.0.0.1
)

// stdEchoBuf is the buffer of each of stdecho-buf's connections: what
// io.Copy would use.
const stdEchoBuf = 32 << 10

// serving tells whether the environment asks this process to serve.
func serving() bool { return os.Getenv(serveEnv) != "" }

// serveFromEnv runs the server the environment names until the process is
// killed, and returns the exit code.
func serveFromEnv() int {
	name, port := os.Getenv(serveEnv), os.Getenv(portEnv)
	if name != "stdecho-buf" {
		fmt.Fprintf(os.Stderr, "%s=%q: the only server is stdecho-buf\n", serveEnv, name)
		return 2
	}
	if _, err := strconv.Atoi(port); err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: not a port\n", portEnv, port)
		return 2
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := stdEcho(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// stdEcho is the raw Go echo server: it accepts on ln until ln is closed,
// and echoes each connection in a goroutine of its own.
func stdEcho(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		go echoConn(c)
	}
}

// echoConn writes back what it reads from c, through a buffer of its own,
// until the peer ends or an error; then it closes c.
func echoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, stdEchoBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
