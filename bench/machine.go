package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the figures were measured.
type machine struct {
	cpu    string // the CPU's model name
	cores  int
	memGiB float64 // 0 if unknown
	kernel string
	goVer  string
	node   string // node's version, or "" without node
}

// describeMachine describes this machine, and the node e found.
func describeMachine(e *env) machine {
	m := machine{
		cpu:    cpuInfo("model name"),
		cores:  runtime.NumCPU(),
		kernel: runtime.GOOS + " " + kernelRelease(),
		goVer:  runtime.Version(),
		node:   e.nodeVersion,
	}
	if m.cpu == "" {
		m.cpu = runtime.GOARCH
	}
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(memInfo("MemTotal"), " kB"), 64); err == nil {
		m.memGiB = kb / (1 << 20)
	}
	return m
}

// String is the machine in one line.
func (m machine) String() string {
	s := fmt.Sprintf("%s, %d cores", m.cpu, m.cores)
	if m.memGiB > 0 {
		s += fmt.Sprintf(", %.0f GiB", m.memGiB)
	}
	s += fmt.Sprintf("; %s; Go %s", m.kernel, strings.TrimPrefix(m.goVer, "go"))
	if m.node != "" {
		s += "; node " + m.node
	} else {
		s += "; no node"
	}
	return s
}

// cpuInfo is the first value of key in /proc/cpuinfo, or "".
func cpuInfo(key string) string { return procValue("/proc/cpuinfo", key) }

// memInfo is the value of key in /proc/meminfo, or "".
func memInfo(key string) string { return procValue("/proc/meminfo", key) }

// procValue is the first value of "key: value" in the file, or "".
func procValue(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
