package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// streamReadBuf is the size of the stream's reads.
const streamReadBuf = 256 << 10

// An ioResult is what one side of a stream moved, and how it ended.
type ioResult struct {
	n   int64
	err error
}

// stream is the stream figure: over one connection one goroutine writes
// streamChunk bytes at a time, without pause, while another reads the echo
// back and checks it. Byte i of the stream is byte(i). The value is MB/s
// echoed in the window. After it the writer ends its side, and the reader
// reads to the server's end: every byte sent must have come back.
func stream(ctx context.Context, t target, w window) (measurement, error) {
	c, err := dial(t.addr)
	if err != nil {
		return measurement{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(w.warmup + w.dur + drainTimeout))
	// The chunk, and the expected bytes at any offset within 256.
	pattern := make([]byte, 256+streamReadBuf)
	for i := range pattern {
		pattern[i] = byte(i)
	}

	var stop atomic.Bool
	var echoed atomic.Int64
	sent, got := make(chan ioResult, 1), make(chan ioResult, 1)
	go func() { sent <- writeStream(c, pattern[:streamChunk], &stop) }()
	go func() {
		r := readStream(c, pattern, &echoed)
		if r.err != nil {
			c.SetWriteDeadline(time.Now()) // the writer would wait for reads that will not come
		}
		got <- r
	}()
	sp, err := w.run(ctx, t.pid, echoed.Load)
	stop.Store(true)
	if err != nil {
		c.SetDeadline(time.Now()) // interrupted: the goroutines return at once
	}
	s, g := <-sent, <-got
	switch {
	case err != nil:
		return measurement{}, err
	case s.err != nil:
		return measurement{}, fmt.Errorf("writing: %w", s.err)
	case g.err != nil:
		return measurement{}, fmt.Errorf("reading the echo: %w", g.err)
	case g.n != s.n:
		return measurement{}, fmt.Errorf("%d bytes echoed of %d sent", g.n, s.n)
	}
	return sp.measurement(float64(sp.count)/1e6/sp.secs, float64(sp.count)/(1<<20), g.n), nil
}

// writeStream writes chunk to c, once at least and until stop, then ends
// c's side.
func writeStream(c *net.TCPConn, chunk []byte, stop *atomic.Bool) ioResult {
	var r ioResult
	for {
		n, err := c.Write(chunk)
		r.n += int64(n)
		if err != nil {
			r.err = err
			return r
		}
		if stop.Load() {
			break
		}
	}
	r.err = c.CloseWrite()
	return r
}

// readStream reads c to its end, checks each byte against pattern and
// adds the count to echoed as it goes.
func readStream(c net.Conn, pattern []byte, echoed *atomic.Int64) ioResult {
	buf := make([]byte, len(pattern)-256)
	var r ioResult
	for {
		n, err := c.Read(buf)
		if n > 0 {
			at := int(r.n % 256)
			if !bytes.Equal(buf[:n], pattern[at:at+n]) {
				r.err = fmt.Errorf("%w, within bytes %d to %d", errBadEcho, r.n, r.n+int64(n))
				return r
			}
			r.n += int64(n)
			echoed.Add(int64(n))
		}
		if err == io.EOF {
			return r
		}
		if err != nil {
			r.err = err
			return r
		}
	}
}
