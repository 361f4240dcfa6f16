package main

import (
	"fmt"
	"slices"
	"time"
)

// The cores of a pinned run: each server runs on serverCPU, the load
// generator on loadCPU.
const (
	serverCPU = 0
	loadCPU   = 1
)

// config is what one run of the harness measures, and how.
type config struct {
	reps      int           // repetitions of every figure on every server
	dur       time.Duration // measured window of a timed run
	warmup    time.Duration // load before the window, not counted
	servers   []string      // names of the servers, in the report's order
	figures   []figure      // in the order they run and are reported
	idleConns int           // connections held open by the idle figures
	settle    time.Duration // idle figures: longest wait for the RSS to settle
	pin       bool          // taskset the servers to serverCPU, this process to loadCPU
	noiseMax  float64       // busy cores outside server and load generator that make a run noisy
	retries   int           // most reruns of a noisy run
	quietWait time.Duration // longest wait for a quiet machine before a timed run
}

// defaultConfig is the full run that BENCHMARKS.md reports: a few minutes
// on two cores.
func defaultConfig() config {
	figs, err := figuresOf(defaultFigures)
	if err != nil {
		panic(err) // defaultFigures are valid
	}
	return config{
		reps:      5,
		dur:       time.Second,
		warmup:    500 * time.Millisecond,
		servers:   serverNames(),
		figures:   figs,
		idleConns: 10000,
		settle:    2 * time.Second,
		pin:       true,
		noiseMax:  0.3,
		retries:   2,
		quietWait: 10 * time.Second,
	}
}

// check rejects a configuration that cannot run.
func (c config) check() error {
	switch {
	case c.reps < 1:
		return fmt.Errorf("-reps %d: at least 1", c.reps)
	case c.dur <= 0 || c.dur > 10*time.Minute:
		return fmt.Errorf("-dur %v: in (0, 10m]", c.dur)
	case c.warmup < 0 || c.warmup > time.Minute:
		return fmt.Errorf("-warmup %v: in [0, 1m]", c.warmup)
	case c.idleConns < 1 || c.idleConns > 100000:
		return fmt.Errorf("-idle %d: in [1, 100000]", c.idleConns)
	case c.settle < 0 || c.settle > time.Minute:
		return fmt.Errorf("-settle %v: in [0, 1m]", c.settle)
	case c.retries < 0:
		return fmt.Errorf("-retries %d: at least 0", c.retries)
	case c.quietWait < 0:
		return fmt.Errorf("-quiet %v: at least 0", c.quietWait)
	}
	for i, s := range c.servers {
		if _, ok := serverByName(s); !ok {
			return fmt.Errorf("unknown server %q (known: %v)", s, serverNames())
		}
		if slices.Contains(c.servers[:i], s) {
			return fmt.Errorf("server %q given twice", s)
		}
	}
	return nil
}
