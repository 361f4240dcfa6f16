package nodenet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The differential harness runs one scenario twice: as a Node script on
// Node's net, and in Go on nodenet. Each side records the events of its
// sockets and servers, with their salient values, as (who, event, value)
// records; the two traces are compared per "who" with go-cmp. Consecutive
// data records are merged (TCP chunking is not part of the contract), and
// the ports a run chose are replaced by "PORT".

// rec is one recorded event.
type rec struct {
	Who string `json:"who"`
	Ev  string `json:"ev"`
	Val string `json:"val"`
}

// scenario is one differential test. node is the body of a Node script
// that may use the prelude below; run does the same with nodenet. adjust,
// when set, turns the Node (v20) trace into the one v0.10 (the contract)
// gives, for the differences DESIGN.md lists ("Differences from Node v0.10"); why
// says what it changes and why.
type scenario struct {
	name   string
	node   string
	run    func(t *testing.T, tr *tracer)
	adjust func(map[string][]rec)
	why    string
}

// nodePrelude gives scenarios the same vocabulary as the Go tracer:
// rec(who, ev, val), trace(socket, who) for every socket event,
// traceServer(server, who), and finish() to print the trace and exit once
// every traced socket has closed.
const nodePrelude = `
const net = require('net');
const out = [];
function rec(who, ev, val) { out.push({who, ev, val: val === undefined || val === null ? '' : String(val)}); }
function errVal(e) { return e.code ? e.code + ' ' + (e.syscall || '') : e.message; }
let open = 0, finishing = false;
function trace(s, who) {
  open++;
  s.on('close', () => { open--; if (finishing && open === 0) setImmediate(print); });
  s.on('connect', () => rec(who, 'connect'));
  s.on('data', d => rec(who, 'data', typeof d === 'string' ? d : d.toString('latin1')));
  s.on('end', () => rec(who, 'end'));
  s.on('timeout', () => rec(who, 'timeout'));
  s.on('drain', () => rec(who, 'drain'));
  s.on('error', e => rec(who, 'error', errVal(e)));
  s.on('close', h => rec(who, 'close', h));
  return s;
}
function traceServer(srv, who) {
  srv.on('listening', () => rec(who, 'listening'));
  srv.on('connection', () => rec(who, 'connection'));
  srv.on('drop', () => rec(who, 'drop')); // v18.6+; nodenet's DropEvent
  srv.on('error', e => rec(who, 'error', errVal(e)));
  srv.on('close', () => rec(who, 'close'));
  return srv;
}
// finish prints the trace once every traced socket has closed.
function finish() {
  finishing = true;
  if (open === 0) setImmediate(print);
}
let printed = false;
function print() {
  if (printed) return;
  printed = true;
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}
setTimeout(() => { rec('harness', 'timed out'); print(); }, 15000).unref();
`

// tracer is the Go side's recorder.
type tracer struct {
	t    *testing.T
	mu   sync.Mutex
	recs []rec
	wg   sync.WaitGroup
}

func (tr *tracer) rec(who, ev, val string) {
	tr.mu.Lock()
	tr.recs = append(tr.recs, rec{who, ev, val})
	tr.mu.Unlock()
}

// errVal gives an error as the Node prelude does: code and syscall, or the
// message of an error without a code.
func errVal(err error) string {
	var ne *Error
	if errors.As(err, &ne) && ne.Code != "" {
		return ne.Code + " " + ne.Syscall
	}
	return err.Error()
}

// trace records every event of s under who. on, when not nil, runs for
// each event after it is recorded, on the reading goroutine (as a Node
// listener runs). The tracer waits for the stream to end.
func (tr *tracer) trace(s *Socket, who string, on func(Event)) {
	tr.traceSkip(s, who, on)
}

// traceSkip is trace without the records of the events named in skip (on
// still sees them).
func (tr *tracer) traceSkip(s *Socket, who string, on func(Event), skip ...string) {
	ch := s.Events()
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for ev := range ch {
			if !slices.Contains(skip, EventName(ev)) {
				tr.record(who, ev)
			}
			if on != nil {
				on(ev)
			}
		}
	}()
}

// record adds ev, with its salient value, to the trace.
func (tr *tracer) record(who string, ev Event) {
	switch ev := ev.(type) {
	case DataEvent:
		if ev.Data != nil {
			tr.rec(who, "data", latin1(ev.Data))
		} else {
			tr.rec(who, "data", ev.Text)
		}
	case ErrorEvent:
		tr.rec(who, "error", errVal(ev.Err))
	case CloseEvent:
		tr.rec(who, "close", strconv.FormatBool(ev.HadError))
	default:
		tr.rec(who, EventName(ev), "")
	}
}

// serve reads a server's events until they end, recording them under who
// (unless who is ""), and hands each accepted socket to onConn on the same
// goroutine, so the traces it starts are counted before the server's own
// ends. Scenarios start server-side traces here, never from a
// CreateServer handler, whose goroutine the tracer could not wait for.
func (tr *tracer) serve(srv *Server, who string, onConn func(*Socket), on func(Event)) {
	ch := srv.Events()
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for ev := range ch {
			switch {
			case who == "":
			case isKind[CloseEvent](ev):
				tr.rec(who, "close", "") // a server's close has no argument in Node
			default:
				tr.record(who, ev)
			}
			if ce, ok := ev.(ConnectionEvent); ok && onConn != nil {
				onConn(ce.Socket)
			}
			if on != nil {
				on(ev)
			}
		}
	}()
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// normalize splits a trace per who, merges consecutive data and replaces
// the given ports.
func normalize(recs []rec, ports ...int) map[string][]rec {
	out := map[string][]rec{}
	for _, r := range recs {
		for _, p := range ports {
			if p > 0 {
				r.Val = strings.ReplaceAll(r.Val, strconv.Itoa(p), "PORT")
			}
		}
		list := out[r.Who]
		if n := len(list); n > 0 && r.Ev == "data" && list[n-1].Ev == "data" {
			list[n-1].Val += r.Val
			continue
		}
		out[r.Who] = append(list, r)
	}
	return out
}

func runNode(t *testing.T, node, script string) map[string][]rec {
	t.Helper()
	cmd := exec.Command(node, "-e", nodePrelude+script)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var recs []rec
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	return normalize(recs)
}

// runScenarios runs each scenario on both sides and compares the traces.
func runScenarios(t *testing.T, scenarios []scenario) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the differential tests need it")
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			want := runNode(t, node, sc.node)
			if sc.adjust != nil {
				sc.adjust(want)
			}
			tr := &tracer{t: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				sc.run(t, tr)
				tr.wg.Wait()
			}()
			select {
			case <-done:
			case <-time.After(testTimeout):
				t.Fatalf("the Go side did not finish; so far %+v", tr.recs)
			}
			got := normalize(tr.recs)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("traces differ (-node +nodenet):\n%s", diff)
			}
		})
	}
}

// dropEv removes the records of one event from who's trace.
func dropEv(who, ev string) func(map[string][]rec) {
	return func(m map[string][]rec) {
		var kept []rec
		for _, r := range m[who] {
			if r.Ev != ev {
				kept = append(kept, r)
			}
		}
		m[who] = kept
	}
}

func mustListen(t *testing.T, srv *Server) int {
	t.Helper()
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatal(err)
	}
	return srv.Address().Port
}

func mustConnect(t *testing.T, opts ConnectOptions) *Socket {
	t.Helper()
	if opts.Host == "" && opts.Path == "" {
		opts.Host = "127.0.0.1"
	}
	s, err := Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closedPort(t *testing.T) int {
	t.Helper()
	srv := createServer(t, ServerOptions{}, nil)
	port := mustListen(t, srv)
	srv.Close()
	return port
}

var _ = fmt.Sprint
