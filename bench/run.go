package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// A sample is one run of one figure on one server.
type sample struct {
	server string
	fig    string
	rep    int
	m      measurement
	err    error
}

// results are the samples of a run of the harness.
type results struct {
	samples []sample
	timed   int           // timed runs kept
	redone  int           // timed runs run again because the machine was busy
	waited  time.Duration // waiting for the machine to quiet down before timed runs
	skipped []string      // servers left out, each with why
	elapsed time.Duration
}

// failed is the number of runs that ended in an error.
func (r *results) failed() int {
	n := 0
	for _, s := range r.samples {
		if s.err != nil {
			n++
		}
	}
	return n
}

// runAll runs every figure of cfg on every server of cfg that e can start,
// repetition by repetition, and in each repetition figure by figure, every
// server in turn, in an order that rotates by one server each repetition.
// It reports each run on logw as it ends.
func runAll(ctx context.Context, cfg config, e *env, logw io.Writer) (*results, error) {
	res := &results{}
	var run []server
	for _, name := range cfg.servers {
		if why, ok := e.missing[name]; ok {
			res.skipped = append(res.skipped, name+" ("+why+")")
			continue
		}
		s, _ := serverByName(name)
		run = append(run, s)
	}
	if len(run) == 0 {
		return nil, errors.New("no server to measure")
	}
	total, i := cfg.reps*len(cfg.figures)*len(run), 0
	for rep := 1; rep <= cfg.reps; rep++ {
		for _, f := range cfg.figures {
			for k := range run {
				// Each repetition starts one server later, so that no
				// server always runs first or last: the machine drifts.
				s := run[(k+rep-1)%len(run)]
				i++
				smp := runOne(ctx, cfg, e, s, f, rep, res, logw)
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				fmt.Fprintf(logw, "bench: [%d/%d] rep %d %-8s %-15s %s\n", i, total, rep, f.name, s.name, describe(f, smp))
				res.samples = append(res.samples, smp)
			}
		}
	}
	return res, nil
}

// runOne runs figure f on server s, again while the run was noisy (at
// most cfg.retries times), and counts the runs in res.
func runOne(ctx context.Context, cfg config, e *env, s server, f figure, rep int, res *results, logw io.Writer) sample {
	for attempt := 0; ; attempt++ {
		if f.timed() {
			res.waited += waitQuiet(ctx, cfg.noiseMax, cfg.quietWait)
		}
		m, err := runOnce(ctx, cfg, e, s, f)
		if err == nil && f.timed() && m.other > cfg.noiseMax && attempt < cfg.retries && ctx.Err() == nil {
			fmt.Fprintf(logw, "bench: rep %d %s %s: other processes kept %.2f cores busy: running it again\n",
				rep, f.name, s.name, m.other)
			res.redone++
			continue
		}
		if f.timed() {
			res.timed++
		}
		return sample{server: s.name, fig: f.name, rep: rep, m: m, err: err}
	}
}

// runOnce starts a fresh server, measures f on it and stops it.
func runOnce(ctx context.Context, cfg config, e *env, s server, f figure) (measurement, error) {
	p, err := startServer(ctx, e, s, cfg.pin)
	if err != nil {
		return measurement{}, err
	}
	m, err := measure(ctx, f, target{addr: p.addr, pid: p.pid}, window{warmup: cfg.warmup, dur: cfg.dur}, cfg.idleConns, cfg.settle)
	if serr := p.stop(); err == nil {
		err = serr
	}
	return m, err
}

// describe is one line about a sample, for the log.
func describe(f figure, s sample) string {
	if s.err != nil {
		return "FAILED: " + s.err.Error()
	}
	line := fmt.Sprintf("%s %s", num(s.m.value), f.unit())
	if !math.IsNaN(s.m.cpuPerOp) {
		line += fmt.Sprintf(", server CPU %s %s", num(s.m.cpuPerOp), f.cpuUnit())
	}
	if !math.IsNaN(s.m.load) {
		line += fmt.Sprintf(", load generator %.2f cores", s.m.load)
	}
	if !math.IsNaN(s.m.other) {
		line += fmt.Sprintf(", other load %.2f cores", s.m.other)
	}
	return line
}

// quietTick is the window over which waitQuiet measures the machine's load.
const quietTick = 250 * time.Millisecond

// waitQuiet waits until the other processes on the machine keep fewer than
// max cores busy (measured over quietTick), or for limit at most, and
// returns how long it waited.
func waitQuiet(ctx context.Context, max float64, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		b0, s0, t0 := machineBusy(), selfCPU(), time.Now()
		if b0 < 0 || wait(ctx, quietTick) != nil {
			break
		}
		busy := machineBusy() - b0 - (selfCPU() - s0)
		if busy.Seconds()/time.Since(t0).Seconds() < max {
			break
		}
	}
	return time.Since(start)
}
