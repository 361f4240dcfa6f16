// The differential tests: the infrastructure that runs one scenario on node and on
// nodenet and compares the traces, the Test functions, and helpers of the scenarios.
//
// The differential harness runs one scenario twice: as a Node script on Node's net, and in Go
// on nodenet. Each side records the events of its sockets and servers, with their salient
// values, as (who, event, value) records; the two traces are compared per "who" with go-cmp.
// Consecutive data records are merged (TCP chunking is not part of the contract), and the
// ports a run chose are replaced by "PORT". The scenarios are in diff_*_test.go, by subject.

package nodenet

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDifferentialBeyond runs, on node v20 and on nodenet, scenarios of
// the capabilities both have beyond Node v0.10.
func TestDifferentialBeyond(t *testing.T) {
	runScenarios(t, beyondScenarios)
}

var beyondScenarios = slices.Concat(beyondEndScenarios, beyondServerScenarios)

// replaceVal rewrites who's records of ev whose value is from into to.
func replaceVal(who, ev, from, to string) func(map[string][]rec) {
	return func(m map[string][]rec) {
		for i, r := range m[who] {
			if r.Ev == ev && r.Val == from {
				m[who][i].Val = to
			}
		}
	}
}

// TestDifferentialCore runs the core scenarios against node.
func TestDifferentialCore(t *testing.T) {
	runScenarios(t, coreScenarios)
}

// TestDifferentialMore runs the second set of differential scenarios
// against node: half-open variants, destroy and reset, server address,
// close and connection limits, idle timeouts, write return values and
// backpressure, pause/resume, every encoding on both directions, byte
// counters, addresses over IPv4, IPv6 and Unix sockets, write errors, a
// large checksummed transfer and isIP.
func TestDifferentialMore(t *testing.T) {
	list := append([]scenario(nil), moreScenarios...)
	list = append(list, encodingScenarios()...)
	list = append(list, isIPScenario())
	if ipv6Loopback() {
		list = append(list, ipv6AddressScenario)
	} else {
		t.Run(ipv6AddressScenario.name, func(t *testing.T) { t.Skip("::1 is not available here") })
	}
	runScenarios(t, list)
}

// moreJS is the Node side's share of this file's helpers, put before a
// scenario's script where it needs them. traceSkip is trace without the
// records of the events named in skip; traceQuiet skips data and drain,
// for transfers whose chunking and drain count are not part of the
// contract (nodenet's writer runs concurrently with the caller, so the
// queue may empty, and owe a drain, between two Sends of one handler).
// addrStr prints an address() result with the port as a boolean (port >
// 0, or equal to the given port); orEmpty prints undefined as "".
const moreJS = `
function traceSkip(s, who, skip) {
  open++;
  s.on('close', () => { open--; if (finishing && open === 0) setImmediate(print); });
  const r = (ev, val) => { if (!skip.includes(ev)) rec(who, ev, val); };
  s.on('connect', () => r('connect'));
  s.on('data', d => r('data', typeof d === 'string' ? d : d.toString('latin1')));
  s.on('end', () => r('end'));
  s.on('timeout', () => r('timeout'));
  s.on('drain', () => r('drain'));
  s.on('error', e => r('error', errVal(e)));
  s.on('close', h => r('close', h));
  return s;
}
function traceQuiet(s, who) { return traceSkip(s, who, ['data', 'drain']); }
function addrStr(a, port) {
  if (a === null) return 'null';
  if (a.address === undefined) return '{}';
  return a.family + ' ' + a.address + ' ' + (port === undefined ? a.port > 0 : a.port === port);
}
function orEmpty(v) { return v === undefined || v === null ? '' : String(v); }
`

// whenAll returns a function that runs f on its n-th call: a server is
// closed once both ends of its connection have closed, since a Go accept
// can lag behind the client's whole life.
func whenAll(n int, f func()) func() {
	var left atomic.Int64
	left.Store(int64(n))
	return func() {
		if left.Add(-1) == 0 {
			f()
		}
	}
}

// waitGate waits for a scenario's Go side to reach a step that a
// concurrent peer must not overtake (bounded, so a broken run fails
// rather than hangs).
func waitGate(gate <-chan struct{}) {
	select {
	case <-gate:
	case <-time.After(testTimeout):
	}
}

// setVal sets the value of who's records of ev.
func setVal(who, ev, val string) func(map[string][]rec) {
	return func(m map[string][]rec) {
		for i, r := range m[who] {
			if r.Ev == ev {
				m[who][i].Val = val
			}
		}
	}
}

// addrStr is moreJS's addrStr for nodenet's Addr, whose zero value stands
// for Node's null.
func addrStr(a Addr, port int) string {
	if a == (Addr{}) {
		return "null"
	}
	ok := a.Port > 0
	if port != 0 {
		ok = a.Port == port
	}
	return a.Family + " " + a.Address + " " + strconv.FormatBool(ok)
}

func errStr(err error) string {
	if err == nil {
		return ""
	}
	return errVal(err)
}

func ipv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// closeTo rewrites who's last close record to had_error = to.
func closeTo(who, to string) func(map[string][]rec) {
	return func(m map[string][]rec) {
		for i := len(m[who]) - 1; i >= 0; i-- {
			if m[who][i].Ev == "close" {
				m[who][i].Val = to
				return
			}
		}
	}
}

// insertAfter puts r after the first record of who whose event is ev.
func insertAfter(who, ev string, r rec) func(map[string][]rec) {
	return func(m map[string][]rec) {
		for i, x := range m[who] {
			if x.Ev == ev {
				m[who] = append(m[who][:i+1], append([]rec{r}, m[who][i+1:]...)...)
				return
			}
		}
	}
}

const patternJS = `
function pattern(off, n) { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (off + i) % 251; return b; }
`

var moreScenarios = slices.Concat(moreEndScenarios, moreServerScenarios, moreSocketScenarios)

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
// says what it changes and why. Scenarios run in parallel with each other,
// except a serial one: one whose outcome depends on timing that a loaded
// machine upsets (real-time waits against timeouts), with the reason in a
// comment; it runs alone, before the parallel ones.
type scenario struct {
	name   string
	node   string
	run    func(t *testing.T, tr *tracer)
	adjust func(map[string][]rec)
	why    string
	serial bool
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

// traceQuiet is moreJS's traceQuiet: traceSkip of data and drain.
func (tr *tracer) traceQuiet(s *Socket, who string, on func(Event)) {
	tr.traceSkip(s, who, on, "data", "drain")
}

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

// serverSocket says what a scenario's server (see listen) does with the
// socket it accepts: setUp runs first, before the trace starts (as Node's
// connection handler runs before any read), then the socket is traced as
// "server socket" with on (quiet: without its data and drain records, as
// traceQuiet), then start runs, with the trace under way.
type serverSocket struct {
	setUp func(s *Socket)
	on    func(s *Socket, ev Event)
	quiet bool
	start func(s *Socket)
}

// listen starts the server of a scenario of one connection: opts, on
// 127.0.0.1, its own events recorded under who (none when who is ""), the
// socket it accepts handled as ss says. It returns the port, and closeSrv,
// which closes the server once both ends of the connection have closed
// (whenAll): the server socket's close counts one, the client's the other
// (see traceClient).
func (tr *tracer) listen(opts ServerOptions, who string, ss serverSocket) (port int, closeSrv func()) {
	srv := createServer(tr.t, opts, nil)
	closeSrv = whenAll(2, func() { srv.Close() })
	tr.serve(srv, who, func(s *Socket) {
		if ss.setUp != nil {
			ss.setUp(s)
		}
		on := func(ev Event) {
			if ss.on != nil {
				ss.on(s, ev)
			}
			if isKind[CloseEvent](ev) {
				closeSrv()
			}
		}
		if ss.quiet {
			tr.traceQuiet(s, "server socket", on)
		} else {
			tr.trace(s, "server socket", on)
		}
		if ss.start != nil {
			ss.start(s)
		}
	}, nil)
	return listenTCP(tr.t, srv), closeSrv
}

// client connects with opts (to 127.0.0.1 unless they say otherwise) and
// traces the socket with traceClient.
func (tr *tracer) client(opts ConnectOptions, closeSrv func(), on func(c *Socket, ev Event), skip ...string) {
	tr.traceClient(mustConnect(tr.t, opts), closeSrv, on, skip...)
}

// traceClient traces c as "client" with on (when not nil), less the
// records of the events named in skip, and calls closeSrv once c has
// closed. A scenario whose client acts before its trace starts connects
// with mustConnect and then calls this; others use client.
func (tr *tracer) traceClient(c *Socket, closeSrv func(), on func(c *Socket, ev Event), skip ...string) {
	tr.traceSkip(c, "client", func(ev Event) {
		if on != nil {
			on(c, ev)
		}
		if isKind[CloseEvent](ev) {
			closeSrv()
		}
	}, skip...)
}

// firstThenSecond connects a client traced as "first" with on1 (when not
// nil) and, at its first data, a second client traced as "second" with
// on2, which gets both sockets: the scripts' c1.once('data', () => { c2 =
// trace(net.connect(port, '127.0.0.1'), 'second'); ... }).
func (tr *tracer) firstThenSecond(port int, on1 func(ev Event), on2 func(c1, c2 *Socket, ev Event)) {
	c1 := mustConnect(tr.t, ConnectOptions{Port: port})
	firstData := first[DataEvent]()
	tr.trace(c1, "first", func(ev Event) {
		if firstData(ev) {
			c2 := mustConnect(tr.t, ConnectOptions{Port: port})
			tr.trace(c2, "second", func(ev Event) { on2(c1, c2, ev) })
		}
		if on1 != nil {
			on1(ev)
		}
	})
}

// first returns a function that is true for the first event of kind T it
// is given and false for any other, as a handler of Node's once(...) runs
// once.
func first[T Event]() func(Event) bool {
	seen := false
	return func(ev Event) bool {
		if seen || !isKind[T](ev) {
			return false
		}
		seen = true
		return true
	}
}

// atEndAfter returns a server socket's on that, at the peer's end, waits
// until gate is closed and then runs f (which ends the socket). A scenario
// closes gate once its client has made a step that the server's FIN and
// the close must not overtake: Go runs both ends at once, where Node runs
// one handler at a time.
func atEndAfter(gate <-chan struct{}, f func(s *Socket)) func(*Socket, Event) {
	return func(s *Socket, ev Event) {
		if isKind[EndEvent](ev) {
			waitGate(gate)
			f(s)
		}
	}
}

// pausedPeer is the serverSocket of a peer that reads nothing until the
// scenario resumes it: the socket, stored in ss, is paused before its trace
// starts; the trace is quiet and records bytesRead at the close; start
// runs after. It is the scripts' ss = s; traceQuiet(s, 'server socket');
// s.pause(); s.on('close', () => rec('server socket', 'bytesRead',
// s.bytesRead)), then what start does.
func (tr *tracer) pausedPeer(ss *atomic.Pointer[Socket], start func(s *Socket)) serverSocket {
	return serverSocket{
		setUp: func(s *Socket) {
			ss.Store(s)
			s.Pause()
		},
		on:    tr.recBytesRead,
		quiet: true,
		start: start,
	}
}

// send8MiB makes the scripts' eight writes of a 1 MiB chunk of b on the
// client c, and records their results, whether bufferSize is then above
// 0, and bytesWritten.
func (tr *tracer) send8MiB(c *Socket, b byte) {
	chunk := bytes.Repeat([]byte{b}, 1<<20)
	var r []string
	for range 8 {
		ok, _ := c.Send(chunk, nil)
		r = append(r, strconv.FormatBool(ok))
	}
	tr.rec("client", "writes", strings.Join(r, " "))
	tr.rec("client", "bufferSize > 0", strconv.FormatBool(c.BufferSize() > 0))
	tr.rec("client", "bytesWritten", strconv.FormatInt(c.BytesWritten(), 10))
}

// recBytesRead is a server socket's on that records, at its close, how
// many bytes it read: the scripts' s.on('close', () => rec('server
// socket', 'bytesRead', s.bytesRead)).
func (tr *tracer) recBytesRead(s *Socket, ev Event) {
	if isKind[CloseEvent](ev) {
		tr.rec("server socket", "bytesRead", strconv.FormatInt(s.BytesRead(), 10))
	}
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
// The scenarios run in parallel, but for the serial ones, which run first,
// each alone.
func runScenarios(t *testing.T, scenarios []scenario) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the differential tests need it")
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if !sc.serial {
				t.Parallel()
			}
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
				tr.mu.Lock() // the Go side is still recording
				defer tr.mu.Unlock()
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

// mustConnect is connectSocket with 127.0.0.1 for a host, as the Node
// scripts connect.
func mustConnect(t *testing.T, opts ConnectOptions) *Socket {
	t.Helper()
	if opts.Host == "" && opts.Path == "" {
		opts.Host = "127.0.0.1"
	}
	return connectSocket(t, opts)
}
