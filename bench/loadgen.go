package main

import (
	"context"
	"errors"
	"math"
	"net"
	"time"
)

// The load generator's time limits.
const (
	ioTimeout    = 5 * time.Second  // a dial, or one echo outside a timed window
	drainTimeout = 10 * time.Second // for what is in flight to come back after a window
)

// errBadEcho is the failure of an echo that differs from what was sent.
var errBadEcho = errors.New("the echo differs from what was sent")

// A target is a server under load: its address on 127.0.0.1, and the
// process whose CPU time and memory are measured.
type target struct {
	addr string
	pid  int
}

// A measurement is what one run of a figure gives.
type measurement struct {
	value    float64 // MB/s, round trips/s, connections/s, or KiB per idle connection
	cpuPerOp float64 // the server's CPU µs per MiB, round trip or connection; NaN if not measured
	other    float64 // cores kept busy by other processes during the window; NaN if not measured
	load     float64 // cores the load generator used during the window; NaN if not measured
	verified int64   // bytes whose echo was checked, the warm-up's included
}

// measure runs figure f against t. idleConns and settle are the idle
// figures'.
func measure(ctx context.Context, f figure, t target, w window, idleConns int, settle time.Duration) (measurement, error) {
	switch f.kind {
	case streamKind:
		return stream(ctx, t, w)
	case pingPongKind:
		return pingPong(ctx, t, w, f.n)
	case churnKind:
		return churn(ctx, t, w, f.n)
	}
	return idle(ctx, t, idleConns, f.echo, settle)
}

// dial connects to addr on 127.0.0.1.
func dial(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// closeAll closes conns.
func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		c.Close()
	}
}

// unmeasured is a measurement with no CPU figures yet.
func unmeasured(value float64, verified int64) measurement {
	return measurement{value: value, cpuPerOp: math.NaN(), other: math.NaN(), load: math.NaN(), verified: verified}
}
