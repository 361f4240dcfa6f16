package main

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// smokeConfig is a run of every kind of figure, a fraction of a second
// each, on the given servers: enough to show that the harness starts
// them, loads them, checks their echo and reports, not to measure.
func smokeConfig(t *testing.T, servers ...string) config {
	t.Helper()
	figs, err := figuresOf([]string{"stream", "pp1", "pp16", "churn4", "idle", "idle64k"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{
		reps:      1,
		dur:       20 * time.Millisecond,
		warmup:    0,
		servers:   servers,
		figures:   figs,
		idleConns: 8,
		noiseMax:  math.Inf(1),
	}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logWriter writes the harness's progress to the test's log.
type logWriter struct{ t *testing.T }

// Write logs p as one line of the test's log.
func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runSmoke runs cfg with the servers built in a temporary directory, checks
// that every run verified its echo, and returns the report.
func runSmoke(t *testing.T, cfg config) string {
	t.Helper()
	ctx := context.Background()
	e, err := prepare(ctx, t.TempDir(), cfg.servers, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cfg.servers {
		if why, ok := e.missing[name]; ok {
			t.Skipf("%s: %s", name, why)
		}
	}
	res, err := runAll(ctx, cfg, e, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.samples), len(cfg.servers)*len(cfg.figures); got != want {
		t.Fatalf("%d samples; want %d", got, want)
	}
	for _, s := range res.samples {
		f, _ := parseFigure(s.fig)
		switch {
		case s.err != nil:
			t.Errorf("%s on %s: %v", s.fig, s.server, s.err)
		case s.m.verified <= 0:
			t.Errorf("%s on %s: no echoed byte was checked", s.fig, s.server)
		case f.kind == idleKind && s.m.verified != int64(cfg.idleConns*f.echo):
			t.Errorf("%s on %s: %d echoed bytes checked; want %d", s.fig, s.server, s.m.verified, cfg.idleConns*f.echo)
		case f.timed() && !(s.m.value >= 0):
			t.Errorf("%s on %s: %v %s", s.fig, s.server, s.m.value, f.unit())
		case f.timed() && math.IsNaN(s.m.cpuPerOp):
			t.Errorf("%s on %s: the server's CPU time was not measured", s.fig, s.server)
		}
	}
	var out bytes.Buffer
	writeReport(&out, cfg, describeMachine(e), res)
	return out.String()
}

// The harness runs every kind of figure on the raw Go server and on both
// faces of nodenet's echo (built from examples/echo), each in a process
// of its own, and every echoed byte checks out.
func TestSmoke(t *testing.T) {
	cfg := smokeConfig(t, "stdecho-buf", "nodenet", "nodenet-events")
	report := runSmoke(t, cfg)
	for _, want := range []string{
		"| server | stream MB/s | pp1 rt/s | pp16 rt/s | churn4 conn/s | idle KiB/conn (8 conns) | after 64 KiB each |",
		"| stdecho-buf | ",
		"| **nodenet** | stdecho-buf | ",
		"| **nodenet-events** | stdecho-buf | ",
		"| server | stream µs/MiB | pp1 µs/rt | pp16 µs/rt | churn4 µs/conn |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "failed") {
		t.Errorf("the report has a failure:\n%s", report)
	}
}

// bench/echo.js echoes under the harness, where node is installed.
func TestNodeEcho(t *testing.T) {
	cfg := smokeConfig(t, "node")
	cfg.figures = cfg.figures[:2] // stream, pp1
	runSmoke(t, cfg)
}

// A run is stopped as soon as its context ends, its server with it.
func TestInterrupt(t *testing.T) {
	cfg := smokeConfig(t, "stdecho-buf")
	cfg.dur = time.Hour
	e, err := prepare(context.Background(), t.TempDir(), cfg.servers, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	for _, fig := range []string{"stream", "pp16", "churn4"} {
		f, _ := parseFigure(fig)
		p, err := startServer(context.Background(), e, servers[0], false)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := measure(ctx, f, target{addr: p.addr, pid: p.pid}, window{dur: cfg.dur}, 0, 0)
			done <- err
		}()
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("%s: measure returned %v; want %v", fig, err, context.Canceled)
		}
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	}
}

// Figure names parse into their load, and bad ones are refused.
func TestParseFigure(t *testing.T) {
	for name, want := range map[string]figure{
		"stream":  {name: "stream", kind: streamKind},
		"pp512":   {name: "pp512", kind: pingPongKind, n: 512},
		"churn32": {name: "churn32", kind: churnKind, n: 32},
		"idle":    {name: "idle", kind: idleKind, echo: 1},
		"idle64k": {name: "idle64k", kind: idleKind, echo: 64 << 10},
	} {
		if got, err := parseFigure(name); err != nil || got != want {
			t.Errorf("parseFigure(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "pp", "pp0", "ppx", "churn-1", "idle1k", "streams"} {
		if f, err := parseFigure(bad); err == nil {
			t.Errorf("parseFigure(%q) = %+v; want an error", bad, f)
		}
	}
	if _, err := figuresOf([]string{"pp1", "pp1"}); err == nil {
		t.Error("figuresOf accepted a figure twice")
	}
}

// Ratios pair each repetition with the reference's same repetition, and
// the tables give the median and the range.
func TestRatiosPairedByRepetition(t *testing.T) {
	res := &results{}
	add := func(server string, rep int, v float64) {
		res.samples = append(res.samples, sample{server: server, fig: "stream", rep: rep, m: unmeasured(v, 1)})
	}
	add("stdecho-buf", 1, 100)
	add("stdecho-buf", 2, 200)
	add("stdecho-buf", 3, 400)
	add("nodenet", 1, 150) // 1.5
	add("nodenet", 2, 200) // 1.0
	add("nodenet", 3, 200) // 0.5
	add("nodenet", 4, 999) // no reference: not paired
	tab := newTable(res)
	if got, want := spread(tab.ratios("nodenet", "stdecho-buf", "stream"), ratio), "1.00 (0.50–1.50)"; got != want {
		t.Errorf("ratio %s; want %s", got, want)
	}
	if got, want := spread(tab.values("stdecho-buf", "stream", valueOf), num), "200 (100–400)"; got != want {
		t.Errorf("values %s; want %s", got, want)
	}
	if got, want := median([]float64{1, 2, 3, 10}, num), "2.50"; got != want {
		t.Errorf("median %s; want %s", got, want)
	}
	if got, want := median(nil, num), "—"; got != want {
		t.Errorf("median of nothing %s; want %s", got, want)
	}
}
