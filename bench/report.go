package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// writeReport writes the run's tables in markdown: a header (the machine
// and the method), each figure's median and range, the ratios paired by
// repetition, and the servers' CPU time per operation.
func writeReport(w io.Writer, cfg config, mach machine, res *results) {
	var ran []string // the servers with samples, in cfg's order
	for _, name := range cfg.servers {
		if slices.ContainsFunc(res.samples, func(s sample) bool { return s.server == name }) {
			ran = append(ran, name)
		}
	}
	t := newTable(res)

	fmt.Fprintf(w, "Machine: %s.\n\n", mach)
	fmt.Fprintf(w, "Run: %s. %s\n\n", method(cfg), runSummary(res))

	fmt.Fprintf(w, "%s:\n\n", repsPhrase(cfg.reps))
	header := []string{"server"}
	for _, f := range cfg.figures {
		header = append(header, f.heading(cfg.idleConns))
	}
	writeRow(w, header)
	writeRule(w, len(header))
	for _, name := range ran {
		row := []string{serverCell(name)}
		for _, f := range cfg.figures {
			row = append(row, spread(t.values(name, f.name, valueOf), num))
		}
		writeRow(w, row)
	}

	var pairs [][2]string
	for _, p := range ratioPairs {
		if slices.Contains(ran, p[0]) && slices.Contains(ran, p[1]) {
			pairs = append(pairs, p)
		}
	}
	if len(pairs) > 0 && cfg.reps > 0 {
		fmt.Fprintf(w, "\nRatios, server over reference, paired by repetition: median (min–max). Above 1 is faster, or for memory larger:\n\n")
		header := []string{"server", "reference"}
		for _, f := range cfg.figures {
			header = append(header, f.name)
		}
		writeRow(w, header)
		writeRule(w, len(header))
		for _, p := range pairs {
			row := []string{serverCell(p[0]), p[1]}
			for _, f := range cfg.figures {
				row = append(row, spread(t.ratios(p[0], p[1], f.name), ratio))
			}
			writeRow(w, row)
		}
	}

	var timed []figure
	for _, f := range cfg.figures {
		if f.timed() {
			timed = append(timed, f)
		}
	}
	if len(timed) > 0 {
		fmt.Fprintf(w, "\nServer CPU time per operation (user and system, all its threads), median; lower is cheaper:\n\n")
		header := []string{"server"}
		for _, f := range timed {
			header = append(header, f.name+" "+f.cpuUnit())
		}
		writeRow(w, header)
		writeRule(w, len(header))
		for _, name := range ran {
			row := []string{serverCell(name)}
			for _, f := range timed {
				row = append(row, median(t.values(name, f.name, cpuOf), num))
			}
			writeRow(w, row)
		}
	}

	fmt.Fprintf(w, "\nServers:\n\n")
	for _, name := range ran {
		s, _ := serverByName(name)
		fmt.Fprintf(w, "- %s: %s\n", name, s.about)
	}
	for _, skipped := range res.skipped {
		fmt.Fprintf(w, "- not run: %s\n", skipped)
	}
	for _, s := range res.samples {
		if s.err != nil {
			fmt.Fprintf(w, "- failed: rep %d %s %s: %v\n", s.rep, s.fig, s.server, s.err)
		}
	}
}

// method says how cfg measured, in one sentence.
func method(cfg config) string {
	where := "each server in a process of its own, unpinned"
	if cfg.pin {
		where = fmt.Sprintf("each server in a process of its own on core %d (taskset), the load generator on core %d", serverCPU, loadCPU)
	}
	return fmt.Sprintf("%s; %s, interleaved; timed runs %v of warm-up then %v measured; idle figures with %s connections",
		where, plural(cfg.reps, "repetition"), cfg.warmup, cfg.dur, thousands(cfg.idleConns))
}

// runSummary says how long the run took and how noisy it was.
func runSummary(res *results) string {
	s := fmt.Sprintf("It took %v.", res.elapsed.Round(time.Second))
	var other []float64
	for _, smp := range res.samples {
		if smp.err == nil && !math.IsNaN(smp.m.other) {
			other = append(other, smp.m.other)
		}
	}
	if len(other) > 0 {
		s += fmt.Sprintf(" Other processes kept %.2f cores busy during the median timed run, %.2f at most;",
			medianOf(other), slices.Max(other))
		s += fmt.Sprintf(" %d of %d timed runs were run again for it, and the runs waited %v in all for a quiet machine.",
			res.redone, res.timed+res.redone, res.waited.Round(time.Second))
	}
	return s
}

// A table indexes samples by server, figure and repetition.
type table map[[2]string]map[int]measurement

// newTable indexes the samples of res that did not fail.
func newTable(res *results) table {
	t := table{}
	for _, s := range res.samples {
		if s.err != nil {
			continue
		}
		k := [2]string{s.server, s.fig}
		if t[k] == nil {
			t[k] = map[int]measurement{}
		}
		t[k][s.rep] = s.m
	}
	return t
}

// valueOf and cpuOf pick a figure out of a measurement.
func valueOf(m measurement) float64 { return m.value }

// cpuOf is the server's CPU time per operation.
func cpuOf(m measurement) float64 { return m.cpuPerOp }

// values are server's figure fig in each repetition, picked by pick.
func (t table) values(server, fig string, pick func(measurement) float64) []float64 {
	var v []float64
	for _, m := range t[[2]string{server, fig}] {
		if x := pick(m); !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	return v
}

// ratios are server's figure over ref's in each repetition both have.
func (t table) ratios(server, ref, fig string) []float64 {
	var r []float64
	refs := t[[2]string{ref, fig}]
	for rep, m := range t[[2]string{server, fig}] {
		if rm, ok := refs[rep]; ok && rm.value != 0 {
			r = append(r, m.value/rm.value)
		}
	}
	return r
}

// spread is the median of v and, with more than one value, its range.
func spread(v []float64, format func(float64) string) string {
	if len(v) < 2 {
		return median(v, format)
	}
	return fmt.Sprintf("%s (%s–%s)", format(medianOf(v)), format(slices.Min(v)), format(slices.Max(v)))
}

// median is the median of v, formatted; "—" for none.
func median(v []float64, format func(float64) string) string {
	if len(v) == 0 {
		return "—"
	}
	return format(medianOf(v))
}

// medianOf is the median of v (not empty): the mean of the middle two
// for an even count.
func medianOf(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// num formats a figure with three significant digits, or as an integer
// from 100 up.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// ratio formats a ratio.
func ratio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// serverCell is a server's name in a table, nodenet's in bold.
func serverCell(name string) string {
	if strings.HasPrefix(name, "nodenet") {
		return "**" + name + "**"
	}
	return name
}

// writeRow writes a markdown table row.
func writeRow(w io.Writer, cells []string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

// writeRule writes the rule under a markdown table's header of n columns.
func writeRule(w io.Writer, n int) {
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", n))
}

// repsPhrase introduces the table of figures.
func repsPhrase(reps int) string {
	if reps == 1 {
		return "One repetition"
	}
	return fmt.Sprintf("Medians (min–max) of %d repetitions", reps)
}

// plural is n things, with an s unless n is 1.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
