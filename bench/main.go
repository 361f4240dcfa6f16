// Command bench measures nodenet's echo server against a raw Go echo server
// and Node's, each in a process of its own, and prints the tables of
// BENCHMARKS.md.
//
//	go run ./bench                          # the full run, a few minutes; tables on stdout
//	go run ./bench -o /tmp/bench.md         # the same, also written to a file
//	go run ./bench -reps 1 -dur 1s -figures stream,pp1   # a quick look
//
// Run it from inside the repository: it builds examples/echo with the go
// command and runs bench/echo.js with node (a server whose program is
// missing, node on a machine without it, is skipped with a message).
//
// The servers (servers.go): stdecho-buf, the standard library's net with a
// goroutine per connection and a 32 KiB Read/Write loop (this program,
// started again as a server); node, Node's net running bench/echo.js
// (c.pipe(c)); nodenet, examples/echo -greet=false -quiet (c.Pipe(c)); and
// nodenet-events, examples/echo -events, whose handler ranges over the
// socket's events.
//
// The figures (figure.go): stream, the echo of one continuous stream, in
// MB/s; pp1, pp64, pp512, round trips per second of a 64-byte message over
// 1, 64 or 512 connections, each waiting for its echo before it sends
// again; churn32, connections per second, 32 clients each connecting,
// having 64 bytes echoed and closing; idle, the growth of the server's
// resident memory per connection with 10,000 connections open and idle
// after one byte echoed on each; idle64k, the same after 64 KiB echoed on
// each. The timed figures also give the server's CPU time per operation.
// The load generator (loadgen.go) checks every byte that comes back.
//
// The method (run.go): each run starts a fresh server process, pinned to
// core 0 with taskset, while this program, the load generator, runs on core
// 1. Runs are interleaved: each repetition runs every figure on every
// server in turn, so a burst of load from elsewhere on the machine lands on
// one server's run, not on all of one server's. Before each timed run the
// harness waits (up to -quiet) for other processes to keep fewer than
// -noise cores busy, and a timed run during which they kept more is run
// again (-retries times at most). The report (report.go) gives each figure's median and
// range over the repetitions, and ratios paired by repetition: each
// server's figure over the reference's figure of the same repetition.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if serving() {
		os.Exit(serveFromEnv())
	}
	cfg := defaultConfig()
	servers := flag.String("servers", strings.Join(serverNames(), ","), "the servers to measure, comma-separated")
	figures := flag.String("figures", strings.Join(defaultFigures, ","), "the figures to measure, comma-separated: stream, ppN, churnK, idle, idle64k")
	flag.IntVar(&cfg.reps, "reps", cfg.reps, "repetitions of every figure on every server")
	flag.DurationVar(&cfg.dur, "dur", cfg.dur, "measured time of each timed run")
	flag.DurationVar(&cfg.warmup, "warmup", cfg.warmup, "warm-up before each measured window, not counted")
	flag.IntVar(&cfg.idleConns, "idle", cfg.idleConns, "connections held open in the idle figures")
	flag.DurationVar(&cfg.settle, "settle", cfg.settle, "idle figures: longest wait for the server's memory to settle")
	flag.BoolVar(&cfg.pin, "pin", cfg.pin, "pin each server to core 0 (taskset) and the load generator to core 1")
	flag.Float64Var(&cfg.noiseMax, "noise", cfg.noiseMax, "busy cores outside the server and the load generator above which a timed run is run again")
	flag.IntVar(&cfg.retries, "retries", cfg.retries, "most times a noisy run is run again")
	flag.DurationVar(&cfg.quietWait, "quiet", cfg.quietWait, "longest wait, before each timed run, for other processes to keep fewer than -noise cores busy")
	out := flag.String("o", "", "also write the report to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments %q", flag.Args())
	}
	var err error
	if cfg.servers, err = splitList(*servers); err != nil {
		log.Fatal(err)
	}
	names, err := splitList(*figures)
	if err != nil {
		log.Fatal(err)
	}
	if cfg.figures, err = figuresOf(names); err != nil {
		log.Fatal(err)
	}
	if err := cfg.check(); err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *out); err != nil {
		interrupted := ctx.Err() != nil
		stop()
		if interrupted {
			log.Fatal("interrupted; the servers it started are stopped")
		}
		log.Fatal(err)
	}
}

// run prepares the servers, runs every figure and prints the report to
// stdout and, if out is not empty, to the file out.
func run(ctx context.Context, cfg config, out string) error {
	work, err := os.MkdirTemp("", "nodenet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	logw := os.Stderr
	env, err := prepare(ctx, work, cfg.servers, logw)
	if err != nil {
		return err
	}
	mach := describeMachine(env)
	if cfg.pin && !env.canPin() {
		fmt.Fprintf(logw, "bench: not pinning: %s\n", env.pinMissing())
		cfg.pin = false
	}
	if cfg.pin {
		if err := pinSelf(loadCPU); err != nil {
			return fmt.Errorf("pinning the load generator to core %d: %w", loadCPU, err)
		}
	}
	if cfg.idleConns, err = fitIdleConns(cfg.idleConns, logw); err != nil {
		return err
	}
	start := time.Now()
	res, err := runAll(ctx, cfg, env, logw)
	if err != nil {
		return err
	}
	res.elapsed = time.Since(start)

	w := io.Writer(os.Stdout)
	var f *os.File
	if out != "" {
		if f, err = os.Create(out); err != nil {
			return err
		}
		w = io.MultiWriter(os.Stdout, f)
	}
	writeReport(w, cfg, mach, res)
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
	}
	if n := res.failed(); n > 0 {
		return fmt.Errorf("%d runs failed (above, and on stderr)", n)
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) ([]string, error) {
	var l []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			l = append(l, item)
		}
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("empty list %q", s)
	}
	return l, nil
}
