// Zero values and nil receivers: every exported method on a zero value and on a nil
// pointer (a table checked against the methods by reflection), the zero Socket and
// Server in use, and nil contexts.

package nodenet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// zeroCallTimeout bounds each call of the zero-value table: every one of
// them returns at once, so one that does not has hung.
const zeroCallTimeout = 5 * time.Second

// resultCheck checks one result of a call itself, for the results that
// are not compared by value (a channel, a context, a net.Conn); it
// returns what is wrong, or "".
type resultCheck func(reflect.Value) string

// zeroRow is how the table calls one method: with args (nil stands for
// the parameter's zero value), and the results it wants on a zero value
// (onZero) and on a nil pointer (onNil). A wanted error is matched with
// errors.Is (nil: no error), a resultCheck runs, nil wants the zero value,
// and anything else is compared with reflect.DeepEqual. onNil left nil
// wants the documented default: every error wraps ErrInvalidArgument and
// every other result is zero.
type zeroRow struct {
	args   []any
	onZero []any
	onNil  []any
}

// zeroType is one exported type with methods, and a row per method.
// Methods of a pointer type (ptr) are called on new(T), a fresh zero value
// for each row, and on (*T)(nil); those of a value type on T's zero value
// only, since Go itself panics when a value method is called through a
// nil pointer (the wrapper it generates dereferences it), before any code
// of the package runs.
type zeroType struct {
	typ  reflect.Type
	ptr  bool
	rows map[string]zeroRow
	// done, when not nil, runs after each call on a zero value: it checks
	// that the lock is free and releases what the call started.
	done func(t *testing.T, name string, recv reflect.Value)
}

// chanClosed wants an event channel that is closed; chanOpen one that is
// not (nothing is on it).
func chanClosed(v reflect.Value) string {
	ch, _ := v.Interface().(<-chan Event)
	if ch == nil {
		return "a nil channel, want a closed one"
	}
	select {
	case ev, ok := <-ch:
		if ok {
			return fmt.Sprintf("an open channel with %v on it, want a closed one", ev)
		}
		return ""
	default:
		return "an open channel, want a closed one"
	}
}

func chanOpen(v reflect.Value) string {
	ch, _ := v.Interface().(<-chan Event)
	if ch == nil {
		return "a nil channel, want an open one"
	}
	select {
	case ev, ok := <-ch:
		return fmt.Sprintf("a channel with %v, %v on it, want an open one with nothing", ev, ok)
	default:
		return ""
	}
}

// liveCtx wants a context not done; doneCtx one done, whose cause wraps
// ErrInvalidArgument.
func liveCtx(v reflect.Value) string {
	ctx, _ := v.Interface().(context.Context)
	if ctx == nil || ctx.Err() != nil {
		return fmt.Sprintf("context %v, want one not done", ctx)
	}
	return ""
}

func doneCtx(v reflect.Value) string {
	ctx, _ := v.Interface().(context.Context)
	if ctx == nil || ctx.Err() == nil || !errors.Is(context.Cause(ctx), ErrInvalidArgument) {
		return fmt.Sprintf("context %v, want one done with a cause wrapping ErrInvalidArgument", ctx)
	}
	return ""
}

func notNil(v reflect.Value) string {
	if v.IsZero() {
		return "nil, want a value"
	}
	return ""
}

// lockIsFree fails the test if lock does not return within
// zeroCallTimeout: a call left the lock held.
func lockIsFree(t *testing.T, name string, lock, unlock func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		lock()
		unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(zeroCallTimeout):
		t.Fatalf("%s left the lock held", name)
	}
}

// zeroTypes is the table: every exported type of the package with
// exported methods (TestZeroTableCoversEveryType checks that), and every
// method of each (TestZeroValuesAndNilPointers checks that).
func zeroTypes(t *testing.T) []zeroType {
	ctx := context.Background()
	return []zeroType{{
		typ: reflect.TypeFor[Socket](), ptr: true,
		done: func(t *testing.T, name string, recv reflect.Value) {
			s := recv.Interface().(*Socket)
			lockIsFree(t, name, s.mu.Lock, s.mu.Unlock)
			s.Close() // ends the events and the socket, and what the call started
		},
		rows: map[string]zeroRow{
			"Address":               {onZero: []any{Addr{}}},
			"BufferSize":            {onZero: []any{0}},
			"BytesBeforeUnwritable": {onZero: []any{0}},
			"BytesRead":             {onZero: []any{int64(0)}},
			"BytesWritten":          {onZero: []any{int64(0)}},
			"Close":                 {onZero: []any{nil}},
			"Connect":               {args: []any{ConnectOptions{}}, onZero: []any{ErrInvalidArgument}},
			"ConnectContext":        {args: []any{ctx, ConnectOptions{}}, onZero: []any{ErrInvalidArgument}},
			"Context":               {onZero: []any{resultCheck(liveCtx)}, onNil: []any{resultCheck(doneCtx)}},
			"Destroy":               {},
			"DestroyWithError":      {args: []any{errors.New("zero")}},
			"End":                   {onZero: []any{nil}}, // a socket never connected closes
			"EndContext":            {args: []any{ctx}, onZero: []any{nil}},
			"EndString":             {args: []any{"x", ""}, onZero: []any{ErrSocketClosed}},
			"Events":                {onZero: []any{resultCheck(chanOpen)}, onNil: []any{resultCheck(chanClosed)}},
			"IsPaused":              {onZero: []any{false}},
			"LocalAddress":          {onZero: []any{""}},
			"LocalPort":             {onZero: []any{0}},
			"NetConn":               {onZero: []any{resultCheck(notNil)}},
			"Pause":                 {},
			"Pipe":                  {args: []any{new(Socket)}, onZero: []any{ErrSocketClosed}},
			"ReadyState":            {onZero: []any{"closed"}, onNil: []any{"closed"}},
			"Ref":                   {},
			"RemoteAddress":         {onZero: []any{""}},
			"RemotePort":            {onZero: []any{0}},
			"ResetAndDestroy":       {onZero: []any{ErrSocketClosed}},
			"Resume":                {},
			"Send":                  {args: []any{[]byte("x"), nil}, onZero: []any{false, ErrSocketClosed}},
			"SendString":            {args: []any{"x", "", nil}, onZero: []any{false, ErrSocketClosed}},
			"Server":                {onZero: []any{nil}},
			"SetEncoding":           {args: []any{"utf8"}, onZero: []any{nil}},
			"SetKeepAlive":          {args: []any{true, time.Duration(0)}, onZero: []any{nil}},
			"SetNoDelay":            {args: []any{true}, onZero: []any{nil}},
			"SetReadIdleTimeout":    {args: []any{time.Minute}, onZero: []any{nil}},
			"SetTimeout":            {args: []any{50 * time.Millisecond}, onZero: []any{nil}},
			"SetWriteDeadline":      {args: []any{time.Now().Add(time.Hour)}, onZero: []any{nil}},
			"SetWriteIdleTimeout":   {args: []any{time.Minute}, onZero: []any{nil}},
			"SetWriteStallTimeout":  {args: []any{time.Minute}, onZero: []any{nil}},
			"Stats":                 {onZero: []any{SocketStats{}}, onNil: []any{SocketStats{}}},
			"TLSConnectionState":    {onZero: []any{tls.ConnectionState{}, false}},
			"Unpipe":                {args: []any{nil}},
			"Unref":                 {},
			"Writable":              {onZero: []any{false}},
			"Write":                 {args: []any{[]byte("x")}, onZero: []any{0, ErrSocketClosed}},
			"WriteContext":          {args: []any{ctx, []byte("x")}, onZero: []any{0, ErrSocketClosed}},
			"WriteString":           {args: []any{"x"}, onZero: []any{0, ErrSocketClosed}},
		},
	}, {
		typ: reflect.TypeFor[Server](), ptr: true,
		done: func(t *testing.T, name string, recv reflect.Value) {
			srv := recv.Interface().(*Server)
			lockIsFree(t, name, srv.mu.Lock, srv.mu.Unlock)
			srv.Close() // stops what Listen started; ErrNotRunning otherwise
		},
		rows: map[string]zeroRow{
			"Address":           {onZero: []any{Addr{}}},
			"Close":             {onZero: []any{ErrNotRunning}},
			"Connections":       {onZero: []any{0}},
			"Events":            {onZero: []any{resultCheck(chanOpen)}, onNil: []any{resultCheck(chanClosed)}},
			"Listen":            {args: []any{0, "127.0.0.1", 0}, onZero: []any{nil}},
			"ListenContext":     {args: []any{ctx, ListenOptions{Host: "127.0.0.1"}}, onZero: []any{nil}},
			"ListenHandle":      {args: []any{"not a handle"}, onZero: []any{ErrInvalidArgument}},
			"ListenUnix":        {args: []any{sockPath(t)}, onZero: []any{nil}},
			"Ref":               {},
			"SetMaxConnections": {args: []any{1}, onZero: []any{nil}},
			"Shutdown":          {args: []any{ctx}, onZero: []any{nil}},
			"Stats":             {onZero: []any{ServerStats{}}},
			"Unref":             {},
		},
	}, {
		typ: reflect.TypeFor[BlockList](), ptr: true,
		done: func(t *testing.T, name string, recv reflect.Value) {
			b := recv.Interface().(*BlockList)
			lockIsFree(t, name, b.mu.Lock, b.mu.Unlock)
		},
		rows: map[string]zeroRow{
			"AddAddress": {args: []any{"10.0.0.1"}, onZero: []any{nil}},
			"AddRange":   {args: []any{"10.0.0.1", "10.0.0.9"}, onZero: []any{nil}},
			"AddSubnet":  {args: []any{"10.0.0.0/8"}, onZero: []any{nil}},
			"Check":      {args: []any{"10.0.0.1"}, onZero: []any{false}},
			"Rules":      {onZero: []any{nil}},
		},
	}, {
		typ: reflect.TypeFor[Error](), ptr: true,
		rows: map[string]zeroRow{
			"Error":  {onZero: []any{""}, onNil: []any{"<nil>"}},
			"Unwrap": {onZero: []any{nil}, onNil: []any{nil}},
		},
	}, {
		typ: reflect.TypeFor[ForcedError](), ptr: true,
		rows: map[string]zeroRow{
			"Error":  {onZero: []any{"nodenet: shutdown destroyed 0 connection(s), 0 handler(s) still running: <nil>"}, onNil: []any{"<nil>"}},
			"Unwrap": {onZero: []any{nil}, onNil: []any{nil}},
		},
	}, {
		typ:  reflect.TypeFor[Addr](),
		rows: map[string]zeroRow{"String": {onZero: []any{""}}},
	}, {
		typ:  reflect.TypeFor[DataEvent](),
		rows: map[string]zeroRow{"String": {onZero: []any{`data("")`}}},
	}, {
		typ:  reflect.TypeFor[ErrorEvent](),
		rows: map[string]zeroRow{"String": {onZero: []any{"error(<nil>)"}}},
	}, {
		typ:  reflect.TypeFor[CloseEvent](),
		rows: map[string]zeroRow{"String": {onZero: []any{"close(false)"}}},
	}}
}

// TestZeroValuesAndNilPointers calls every exported method of every
// exported type with methods on a zero value and on a nil pointer: none
// panics, none hangs, none leaves a lock held, and each gives its
// documented result. A method without a row fails the test, so a method
// added later needs one.
func TestZeroValuesAndNilPointers(t *testing.T) {
	t.Parallel()
	calls := 0
	for _, zt := range zeroTypes(t) {
		recvType := zt.typ
		if zt.ptr {
			recvType = reflect.PointerTo(zt.typ)
		}
		var names []string
		for i := range recvType.NumMethod() {
			names = append(names, recvType.Method(i).Name)
		}
		for name := range zt.rows {
			if !slices.Contains(names, name) {
				t.Errorf("%v has no method %s, but the table has a row for it", recvType, name)
			}
		}
		for _, name := range names {
			full := recvType.String() + "." + name
			row, ok := zt.rows[name]
			if !ok {
				t.Errorf("%s has no row in the zero-value table: add one", full)
				continue
			}
			zero := reflect.Zero(zt.typ)
			if zt.ptr {
				zero = reflect.New(zt.typ)
			}
			out, ok := callWithin(t, full+" on a zero value", zero, name, row.args)
			if ok {
				checkResults(t, full+" on a zero value", out, row.onZero, false)
			}
			if zt.done != nil {
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("after %s on a zero value: releasing it panicked: %v", full, p)
						}
					}()
					zt.done(t, full, zero)
				}()
			}
			calls++
			if !zt.ptr {
				continue
			}
			out, ok = callWithin(t, full+" on a nil pointer", reflect.Zero(recvType), name, row.args)
			if ok {
				checkResults(t, full+" on a nil pointer", out, row.onNil, true)
			}
			calls++
		}
	}
	t.Logf("%d calls", calls)
}

// callWithin calls recv's method name with args on a goroutine, and
// reports its results, or fails the test, naming what, if it panics or
// does not return within zeroCallTimeout.
func callWithin(t *testing.T, what string, recv reflect.Value, name string, args []any) ([]reflect.Value, bool) {
	t.Helper()
	m := recv.MethodByName(name)
	mt := m.Type()
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		pt := mt.In(min(i, mt.NumIn()-1))
		if mt.IsVariadic() && i >= mt.NumIn()-1 {
			pt = pt.Elem()
		}
		if a == nil {
			in[i] = reflect.Zero(pt)
		} else {
			in[i] = reflect.ValueOf(a)
		}
	}
	type result struct {
		out   []reflect.Value
		panic any
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p}
			}
		}()
		done <- result{out: m.Call(in)}
	}()
	select {
	case r := <-done:
		if r.panic != nil {
			t.Errorf("%s panicked: %v", what, r.panic)
			return nil, false
		}
		return r.out, true
	case <-time.After(zeroCallTimeout):
		t.Errorf("%s did not return within %v", what, zeroCallTimeout)
		return nil, false
	}
}

var errorType = reflect.TypeFor[error]()

// checkResults checks a call's results against want (see zeroRow); with
// want nil on a nil pointer, it checks the default.
func checkResults(t *testing.T, what string, out []reflect.Value, want []any, onNil bool) {
	t.Helper()
	if want == nil && onNil {
		for _, v := range out {
			if v.Type() == errorType {
				want = append(want, ErrInvalidArgument)
			} else {
				want = append(want, nil)
			}
		}
	}
	if len(want) != len(out) {
		t.Errorf("%s: %d results, the table wants %d", what, len(out), len(want))
		return
	}
	for i, v := range out {
		if msg := checkResult(v, want[i]); msg != "" {
			t.Errorf("%s: result %d: %s", what, i, msg)
		}
	}
}

func checkResult(v reflect.Value, want any) string {
	if v.Type() == errorType {
		err, _ := v.Interface().(error)
		w, _ := want.(error)
		switch {
		case w == nil && err != nil:
			return fmt.Sprintf("error %v, want nil", err)
		case w != nil && !errors.Is(err, w):
			return fmt.Sprintf("error %v, want one matching %v", err, w)
		}
		return ""
	}
	switch w := want.(type) {
	case resultCheck:
		return w(v)
	case nil:
		if !v.IsZero() {
			return fmt.Sprintf("%#v, want the zero %v", v.Interface(), v.Type())
		}
		return ""
	}
	if got := v.Interface(); !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("%#v, want %#v", got, want)
	}
	return ""
}

// TestZeroTableCoversEveryType checks that the zero-value table has every
// exported type of the package that has an exported method, by reading
// the package's source: a type that gains methods needs a place in it.
func TestZeroTableCoversEveryType(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || !fd.Name.IsExported() {
				continue
			}
			typ := fd.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			if id, ok := typ.(*ast.Ident); ok && id.IsExported() {
				found[id.Name] = true
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no exported method in the package's source")
	}
	var missing []string
	inTable := map[string]bool{}
	for _, zt := range zeroTypes(t) {
		inTable[zt.typ.Name()] = true
	}
	for name := range found {
		if !inTable[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("exported types with methods missing from the zero-value table: %v", missing)
	}
}

// TestZeroSocketConnectsAndEchoes proves that a zero Socket is one that
// NewSocket made: set up before Connect, it connects to a real listener
// and echoes.
func TestZeroSocketConnectsAndEchoes(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	port := listenTCP(t, srv)
	var s Socket
	for _, err := range []error{s.SetNoDelay(true), s.SetKeepAlive(true, 0), s.SetTimeout(time.Minute), s.SetEncoding("utf8")} {
		if err != nil {
			t.Fatalf("setting up a zero Socket: %v", err)
		}
	}
	s.Pause()
	s.Resume()
	if err := s.Connect(ConnectOptions{Port: port, Host: "127.0.0.1"}); err != nil {
		t.Fatalf("Connect of a zero Socket: %v", err)
	}
	r := record(t, &s)
	if _, err := s.SendString("hello", "", nil); err != nil {
		t.Fatalf("SendString: %v", err)
	}
	if got := string(r.waitData(5)); got != "hello" {
		t.Fatalf("echoed %q; want %q", got, "hello")
	}
	if err := s.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	if got, want := names(r.wait()), "connect data end close(false)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if s.BytesRead() != 5 || s.BytesWritten() != 5 {
		t.Errorf("BytesRead %d, BytesWritten %d; want 5 each way", s.BytesRead(), s.BytesWritten())
	}
}

// TestZeroServerServes proves that a zero Server is one that CreateServer
// made without a handler: it listens, its connections come as
// ConnectionEvents, and Shutdown drains it.
func TestZeroServerServes(t *testing.T) {
	t.Parallel()
	var srv Server
	sevs := newEventLog(t, "server events", srv.Events(), func(ev Event) {
		if ce, ok := ev.(ConnectionEvent); ok {
			ce.Socket.Pipe(ce.Socket)
		}
	})
	port := listenTCP(t, &srv)
	peer := dialRaw(t, port)
	peer.SetDeadline(time.Now().Add(testTimeout))
	if _, err := peer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v; want %q", buf, err, "ping")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Shutdown(ctxTimeout(t)) }()
	readAll(t, peer) // Shutdown ends the idle echo
	peer.Close()
	if err := <-errc; err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
	if got, want := names(sevs.wait()), "listening connection close(false)"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
}

// TestZeroSocketSetTimeoutFires proves that the idle timer of a zero
// Socket, once it fires, finds a socket and not a nil connection: on the
// fake clock, the TimeoutEvent is queued, and the socket still ends.
func TestZeroSocketSetTimeoutFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Socket
		if err := s.SetTimeout(50 * time.Millisecond); err != nil {
			t.Fatalf("SetTimeout: %v", err)
		}
		ch := s.Events()
		time.Sleep(60 * time.Millisecond) // the fake clock: the timer fires on the way
		synctest.Wait()                   // and its function has run
		if err := s.End(); err != nil {
			t.Fatalf("End: %v", err)
		}
		var evs []Event
		for ev := range ch {
			evs = append(evs, ev)
		}
		if got, want := names(evs), "timeout close(false)"; got != want {
			t.Errorf("events = %q; want %q", got, want)
		}
	})
}

// TestNilContexts proves that EndContext and Shutdown given a nil context
// return an error wrapping ErrInvalidArgument and do nothing, as the other
// methods that take a context do.
func TestNilContexts(t *testing.T) {
	t.Parallel()
	srv := createServer(t, ServerOptions{}, nil)
	listenTCP(t, srv)
	s, _ := rawPair(t, ConnectOptions{})
	//lint:ignore SA1012 the nil context is the point
	if err := s.EndContext(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("EndContext(nil) = %v; want ErrInvalidArgument", err)
	}
	if !s.Writable() {
		t.Error("EndContext(nil) ended the socket; want it untouched")
	}
	//lint:ignore SA1012 the nil context is the point
	if err := srv.Shutdown(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Shutdown(nil) = %v; want ErrInvalidArgument", err)
	}
	if srv.Address().Port == 0 {
		t.Error("Shutdown(nil) closed the server; want it listening")
	}
}
