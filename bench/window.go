package main

import (
	"context"
	"time"
)

// A window is a timed run's warm-up, not counted, and its measured time.
type window struct {
	warmup, dur time.Duration
}

// An edge is what is sampled at each end of a measured window.
type edge struct {
	at     time.Time
	count  int64         // operations completed so far (bytes for stream)
	server time.Duration // the server's CPU time; -1 if unknown
	self   time.Duration // this process's CPU time
	busy   time.Duration // the machine's busy time; -1 if unknown
}

// A span is what happened between a window's edges.
type span struct {
	secs   float64
	count  int64
	server time.Duration // -1 if unknown
	self   time.Duration
	busy   time.Duration // -1 if unknown
}

// run waits out the warm-up, then measures for dur while the load runs,
// and on past it until at least one operation has completed in the
// window: a short window on a busy machine may count none, and a figure
// of no operations is no figure (a server that completes none in ten
// windows, or 10 s, is measured as doing none). count is read at each
// edge, and the CPU time of the server (process pid) and of the machine.
func (w window) run(ctx context.Context, pid int, count func() int64) (span, error) {
	if err := wait(ctx, w.warmup); err != nil {
		return span{}, err
	}
	a := sampleEdge(pid, count)
	if err := wait(ctx, w.dur); err != nil {
		return span{}, err
	}
	for giveUp := time.Now().Add(max(10*w.dur, 10*time.Second)); count() == a.count && time.Now().Before(giveUp); {
		if err := wait(ctx, time.Millisecond); err != nil {
			return span{}, err
		}
	}
	b := sampleEdge(pid, count)
	s := span{
		secs:   b.at.Sub(a.at).Seconds(),
		count:  b.count - a.count,
		server: -1,
		self:   b.self - a.self,
		busy:   -1,
	}
	if a.server >= 0 && b.server >= 0 {
		s.server = b.server - a.server
	}
	if a.busy >= 0 && b.busy >= 0 {
		s.busy = b.busy - a.busy
	}
	return s, nil
}

// sampleEdge takes an edge.
func sampleEdge(pid int, count func() int64) edge {
	e := edge{at: time.Now(), count: count(), server: -1, self: selfCPU(), busy: machineBusy()}
	if cpu, err := processCPU(pid); err == nil {
		e.server = cpu
	}
	return e
}

// measurement is the span's: value, and the server's CPU time per op
// (ops in the figure's CPU unit: MiB, round trips, connections).
func (s span) measurement(value, ops float64, verified int64) measurement {
	m := unmeasured(value, verified)
	if s.server >= 0 && ops > 0 {
		m.cpuPerOp = float64(s.server.Microseconds()) / ops
	}
	if s.secs > 0 {
		m.load = s.self.Seconds() / s.secs
	}
	if s.server >= 0 && s.busy >= 0 && s.secs > 0 {
		m.other = (s.busy - s.server - s.self).Seconds() / s.secs
	}
	return m
}

// wait returns after d, or at once with ctx's error when ctx ends first.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
