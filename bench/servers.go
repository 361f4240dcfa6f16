package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// A server is one of the echo servers measured: how to start it on a port.
type server struct {
	name  string
	about string // what it is, for the report
	needs string // "node" or "echo" (examples/echo, built): what env must have
	// command is the program and its arguments, and the environment it
	// needs beyond this process's, to serve on 127.0.0.1:port.
	command func(e *env, port int) (args, environ []string)
}

// servers are the echo servers the harness knows, in the report's order.
// The first is the reference of the ratios.
var servers = []server{{
	name:  "stdecho-buf",
	about: "the standard library's net: a goroutine per connection, Read and Write with a 32 KiB buffer (bench/stdecho.go)",
	command: func(e *env, port int) ([]string, []string) {
		return []string{e.self}, []string{serveEnv + "=stdecho-buf", portEnv + "=" + strconv.Itoa(port)}
	},
}, {
	name:  "node",
	about: "Node's net: `c.pipe(c)` (bench/echo.js)",
	needs: "node",
	command: func(e *env, port int) ([]string, []string) {
		return []string{e.node, e.script, strconv.Itoa(port)}, nil
	},
}, {
	name:  "nodenet",
	about: "examples/echo -greet=false -quiet: `c.Pipe(c)`",
	needs: "echo",
	command: func(e *env, port int) ([]string, []string) {
		return []string{e.echo, "-greet=false", "-quiet", "-host", "127.0.0.1", "-port", strconv.Itoa(port)}, nil
	},
}, {
	name:  "nodenet-events",
	about: "examples/echo -greet=false -quiet -events: a loop over the socket's events (Send, Pause when it returns false, Resume on drain, End on end)",
	needs: "echo",
	command: func(e *env, port int) ([]string, []string) {
		return []string{e.echo, "-greet=false", "-quiet", "-events", "-host", "127.0.0.1", "-port", strconv.Itoa(port)}, nil
	},
}}

// ratioPairs are the ratios the report gives, server over reference,
// each where both ran.
var ratioPairs = [][2]string{
	{"node", "stdecho-buf"},
	{"nodenet", "stdecho-buf"},
	{"nodenet-events", "stdecho-buf"},
	{"nodenet", "node"},
	{"nodenet-events", "node"},
}

// serverNames are the names of servers.
func serverNames() []string {
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.name
	}
	return names
}

// serverByName finds a server by its name.
func serverByName(name string) (server, bool) {
	for _, s := range servers {
		if s.name == name {
			return s, true
		}
	}
	return server{}, false
}

// env is what the servers need on this machine, found or built once per
// run of the harness.
type env struct {
	self        string            // this program, which serves stdecho-buf
	root        string            // the repository
	echo        string            // examples/echo, built; "" if not needed
	node        string            // the node program; "" if missing
	nodeVersion string            // its --version
	script      string            // bench/echo.js
	taskset     string            // the taskset program; "" if missing
	missing     map[string]string // server name → why it cannot run here
}

// prepare finds the programs the named servers need and builds
// examples/echo into dir. A server whose program is missing is left out
// of the run, with a message on logw.
func prepare(ctx context.Context, dir string, names []string, logw io.Writer) (*env, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	e := &env{self: self, root: root, script: filepath.Join(root, "bench", "echo.js"), missing: map[string]string{}}
	e.taskset, _ = exec.LookPath("taskset")
	if p, err := exec.LookPath("node"); err == nil {
		if out, err := exec.CommandContext(ctx, p, "--version").Output(); err == nil {
			e.node, e.nodeVersion = p, strings.TrimSpace(string(out))
		}
	}
	needEcho := false
	for _, name := range names {
		s, _ := serverByName(name)
		switch {
		case s.needs == "node" && e.node == "":
			e.missing[name] = "node is not installed (or `node --version` failed)"
			fmt.Fprintf(logw, "bench: skipping %s: %s\n", name, e.missing[name])
		case s.needs == "echo":
			needEcho = true
		}
	}
	if needEcho {
		e.echo = filepath.Join(dir, "nodenet-echo")
		if err := goCommand(ctx, root, "build", "-o", e.echo, "./examples/echo"); err != nil {
			return nil, fmt.Errorf("building examples/echo: %w", err)
		}
	}
	return e, nil
}

// moduleRoot is the directory of this repository's go.mod, found from the
// working directory.
func moduleRoot(ctx context.Context) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (the harness needs the go command)", err)
	}
	gomod := strings.TrimSpace(out.String())
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the harness from inside the nodenet repository")
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	if !bytes.HasPrefix(data, []byte("module github.com/nodenet/nodenet\n")) {
		return "", fmt.Errorf("%s is not nodenet's: run the harness from inside the nodenet repository", gomod)
	}
	return filepath.Dir(gomod), nil
}

// goCommand runs the go command in dir, its output going to the error.
func goCommand(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// canPin tells whether servers and load generator can have a core each.
func (e *env) canPin() bool { return e.taskset != "" && runtime.NumCPU() >= 2 }

// pinMissing says why canPin is false.
func (e *env) pinMissing() string {
	if e.taskset == "" {
		return "taskset is not installed"
	}
	return fmt.Sprintf("%d core: server and load generator share it", runtime.NumCPU())
}
