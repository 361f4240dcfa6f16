package main

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is what a figure measures.
type kind int

// The kinds of figure.
const (
	streamKind   kind = iota // MB/s of one continuous echoed stream
	pingPongKind             // round trips per second over n connections
	churnKind                // connections per second, n clients
	idleKind                 // server RSS growth per idle connection
)

// A figure is one measured scenario, named as in the report: stream,
// pp<connections>, churn<clients>, idle, idle64k.
type figure struct {
	name string
	kind kind
	n    int // pingpong: connections; churn: concurrent clients
	echo int // idle: bytes each connection has echoed once before it idles
}

// defaultFigures are BENCHMARKS.md's figures, in its order.
var defaultFigures = []string{"stream", "pp1", "pp64", "pp512", "churn32", "idle", "idle64k"}

// The sizes of the load.
const (
	streamChunk = 64 << 10 // stream: bytes per write
	pingSize    = 64       // pingpong and churn: message size
	idleBig     = 64 << 10 // idle64k: bytes echoed on each connection
)

// figuresOf parses figure names.
func figuresOf(names []string) ([]figure, error) {
	figs := make([]figure, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		f, err := parseFigure(name)
		if err != nil {
			return nil, err
		}
		if seen[f.name] {
			return nil, fmt.Errorf("figure %q given twice", name)
		}
		seen[f.name] = true
		figs = append(figs, f)
	}
	return figs, nil
}

// parseFigure parses one figure name.
func parseFigure(name string) (figure, error) {
	count := func(prefix string) (int, error) {
		n, err := strconv.Atoi(strings.TrimPrefix(name, prefix))
		if err != nil || n < 1 || n > 10000 {
			return 0, fmt.Errorf("figure %q: %s needs a count in [1, 10000], as %s64", name, prefix, prefix)
		}
		return n, nil
	}
	switch {
	case name == "stream":
		return figure{name: name, kind: streamKind}, nil
	case name == "idle":
		return figure{name: name, kind: idleKind, echo: 1}, nil
	case name == "idle64k":
		return figure{name: name, kind: idleKind, echo: idleBig}, nil
	case strings.HasPrefix(name, "pp"):
		n, err := count("pp")
		return figure{name: name, kind: pingPongKind, n: n}, err
	case strings.HasPrefix(name, "churn"):
		n, err := count("churn")
		return figure{name: name, kind: churnKind, n: n}, err
	}
	return figure{}, fmt.Errorf("unknown figure %q (stream, ppN, churnK, idle, idle64k)", name)
}

// timed tells a figure that has a measured window (and so a server CPU
// time per operation) from the idle ones.
func (f figure) timed() bool { return f.kind != idleKind }

// unit is the unit of the figure's value.
func (f figure) unit() string {
	switch f.kind {
	case streamKind:
		return "MB/s"
	case pingPongKind:
		return "rt/s"
	case churnKind:
		return "conn/s"
	}
	return "KiB/conn"
}

// cpuUnit is the unit of the server's CPU time per operation.
func (f figure) cpuUnit() string {
	switch f.kind {
	case streamKind:
		return "µs/MiB"
	case pingPongKind:
		return "µs/rt"
	}
	return "µs/conn"
}

// heading is the figure's column heading in the report; idle gives its
// number of connections.
func (f figure) heading(idleConns int) string {
	switch {
	case f.kind == idleKind && f.echo == 1:
		return fmt.Sprintf("idle KiB/conn (%s conns)", thousands(idleConns))
	case f.kind == idleKind:
		return fmt.Sprintf("after %d KiB each", f.echo>>10)
	}
	return f.name + " " + f.unit()
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
