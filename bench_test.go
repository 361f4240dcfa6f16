package nodenet

// Benchmarks of nodenet's echo server against a goroutine-per-connection
// echo server on the standard library, side by side in one run:
//
//	go test -run '^$' -bench . -benchtime=1x .        # smoke test
//	go test -run '^$' -bench . -benchmem -count=3 .   # figures
//
// Every benchmark has the sub-benchmarks std (the baseline: a Read/Write
// loop with a 32 KiB buffer per connection, as the harness's stdecho-buf,
// bench/stdecho.go), nodenet-pipe (the handler is c.Pipe(c)) and, where it
// applies, nodenet-events (the handler ranges over c.Events(): Send each
// DataEvent, Pause when Send returns false, Resume on the DrainEvent, End
// on the EndEvent). The clients are plain net.Conns on 127.0.0.1 in the
// same process, the same in every sub-benchmark: only the server differs.
//
// Every goroutine a benchmark starts, the server's included, has ended
// when the benchmark returns: the clients close first, then the server
// shuts down and the benchmark waits for its handlers (and, for Pipe, for
// each socket's CloseEvent, which comes after its I/O goroutines ended).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchStreamChunk = 64 << 10        // EchoStream: bytes per client write (one op)
	benchPingSize    = 64              // EchoPingPong: message size
	benchStdBuf      = 32 << 10        // std server: buffer per connection
	benchIOTimeout   = 5 * time.Minute // deadline of every client conn: a wedged server fails, not hangs
	benchStopTimeout = 20 * time.Second
)

// benchKinds are the servers compared; std is the baseline.
var benchKinds = []string{"std", "nodenet-pipe", "nodenet-events"}

// benchServer is an echo server on 127.0.0.1: the standard library's
// (ln != nil) or nodenet's (srv != nil).
type benchServer struct {
	addr string

	// std
	ln         net.Listener
	acceptDone chan struct{}
	wg         sync.WaitGroup // the accept loop and the connection goroutines
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	acceptErr  error

	// nodenet
	srv     *Server
	pipe    bool
	hmu     sync.Mutex
	hcond   *sync.Cond
	running int       // handlers running
	socks   []*Socket // every accepted socket
}

// benchListen starts an echo server of the given kind; sizeHint is the
// number of connections expected, so the bookkeeping of the benchmark
// (not of the server) is allocated up front.
func benchListen(tb testing.TB, kind string, sizeHint int) *benchServer {
	tb.Helper()
	switch kind {
	case "std":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		s := &benchServer{
			addr:       ln.Addr().String(),
			ln:         ln,
			acceptDone: make(chan struct{}),
			conns:      make(map[net.Conn]struct{}),
		}
		s.wg.Add(1)
		go s.stdAccept()
		return s
	case "nodenet-pipe", "nodenet-events":
		s := &benchServer{pipe: kind == "nodenet-pipe", socks: make([]*Socket, 0, sizeHint)}
		s.hcond = sync.NewCond(&s.hmu)
		s.srv = createServer(tb, ServerOptions{}, s.handle)
		if err := s.srv.Listen(0, "127.0.0.1", 0); err != nil {
			tb.Fatal(err)
		}
		s.addr = s.srv.Address().String()
		return s
	}
	tb.Fatalf("unknown server kind %q", kind)
	return nil
}

// benchServe is benchListen with the server's shutdown registered as a
// cleanup: register the clients' cleanups after it, so they close first.
func benchServe(tb testing.TB, kind string, sizeHint int) *benchServer {
	tb.Helper()
	s := benchListen(tb, kind, sizeHint)
	tb.Cleanup(func() { s.close(tb) })
	return s
}

func (s *benchServer) stdAccept() {
	defer s.wg.Done()
	defer close(s.acceptDone)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.acceptErr = err
				s.ln.Close() // clients then fail at once instead of waiting
			}
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.stdEcho(c)
	}
}

// stdEcho is the harness's stdecho-buf (bench/stdecho.go), in this process.
func (s *benchServer) stdEcho(c net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, benchStdBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// handle is nodenet's connection handler.
func (s *benchServer) handle(c *Socket) {
	s.hmu.Lock()
	s.socks = append(s.socks, c)
	s.running++
	s.hmu.Unlock()
	defer func() {
		s.hmu.Lock()
		if s.running--; s.running == 0 {
			s.hcond.Broadcast()
		}
		s.hmu.Unlock()
	}()
	if s.pipe {
		c.Pipe(c)
		return
	}
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case DataEvent:
			if ok, err := c.Send(ev.Data, nil); err == nil && !ok {
				c.Pause()
			}
		case DrainEvent:
			c.Resume()
		case EndEvent:
			c.End()
		}
	}
}

// close shuts the server down once its clients have closed, and returns
// when every goroutine of the server has ended.
func (s *benchServer) close(tb testing.TB) {
	tb.Helper()
	if s.ln != nil {
		s.ln.Close()
		<-s.acceptDone
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		if s.acceptErr != nil {
			tb.Errorf("std server: accept: %v", s.acceptErr)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchStopTimeout)
	err := s.srv.Shutdown(ctx)
	cancel()
	if err != nil {
		tb.Errorf("nodenet: %d server sockets still open %v after their clients closed; destroying them",
			s.srv.Connections(), benchStopTimeout)
		s.hmu.Lock()
		socks := append([]*Socket(nil), s.socks...)
		s.hmu.Unlock()
		for _, c := range socks {
			c.Destroy()
		}
		ctx, cancel := context.WithTimeout(context.Background(), benchStopTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			tb.Fatalf("nodenet: Shutdown after Destroy: %v", err)
		}
	}
	// Close returned after the accept loop: every handler goroutine has
	// been started. (Every one has even run, since each connection echoed
	// something, which needs its handler.)
	s.hmu.Lock()
	for s.running > 0 {
		s.hcond.Wait()
	}
	socks := s.socks
	s.socks = nil
	s.hmu.Unlock()
	if s.pipe {
		// A piped socket's events were never read: its CloseEvent, queued
		// once its reader and writer goroutines ended, tells they are gone.
		for _, c := range socks {
			for range c.Events() {
			}
		}
	}
}

// benchDial connects a plain client to addr.
func benchDial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(benchIOTimeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// benchClient dials addr; a cleanup closes the conn (before the server's
// shutdown, when the server was started first).
func benchClient(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := benchDial(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// benchRoundTrip writes msg and reads its echo into buf (len(buf) ==
// len(msg)); it allocates nothing.
func benchRoundTrip(c net.Conn, msg, buf []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}

// BenchmarkEchoStream is bulk echo over one connection: the client writes
// 64 KiB chunks and reads the echo back concurrently. One op is one chunk
// echoed, so MB/s is the echo throughput one way (as much goes back).
func BenchmarkEchoStream(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) { benchStream(b, kind) })
	}
}

func benchStream(b *testing.B, kind string) {
	srv := benchServe(b, kind, 1)
	c := benchClient(b, srv.addr)
	chunk := make([]byte, benchStreamChunk)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	buf := make([]byte, benchStreamChunk)
	if err := benchRoundTrip(c, chunk, buf); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(buf, chunk) {
		b.Fatal("the echo differs from what was sent")
	}

	b.SetBytes(benchStreamChunk)
	b.ReportAllocs()
	start := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		<-start
		for range b.N {
			if _, err := c.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	b.ResetTimer()
	close(start)
	want := int64(b.N) * benchStreamChunk
	var got int64
	var rerr error
	for got < want && rerr == nil {
		var n int
		n, rerr = c.Read(buf)
		got += int64(n)
	}
	b.StopTimer()
	if rerr != nil {
		c.Close() // the writer returns
		<-werr
		b.Fatalf("read %d of %d bytes: %v", got, want, rerr)
	}
	if err := <-werr; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEchoPingPong is round trips of a 64-byte message on 1 and 64
// concurrent connections, each client waiting for its echo before it sends
// again. One op is one round trip (on any connection). allocs/op counts the
// whole process, the clients' included: they allocate nothing per round
// trip (compare the std sub-benchmark).
func BenchmarkEchoPingPong(b *testing.B) {
	for _, conns := range []int{1, 64} {
		for _, kind := range benchKinds {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, kind), func(b *testing.B) { benchPingPong(b, kind, conns) })
		}
	}
}

func benchPingPong(b *testing.B, kind string, conns int) {
	srv := benchServe(b, kind, conns)
	type client struct {
		c        net.Conn
		msg, buf []byte
	}
	clients := make([]client, conns)
	for i := range clients {
		cl := client{c: benchClient(b, srv.addr), msg: make([]byte, benchPingSize), buf: make([]byte, benchPingSize)}
		for j := range cl.msg {
			cl.msg[j] = byte(i + j)
		}
		if err := benchRoundTrip(cl.c, cl.msg, cl.buf); err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(cl.buf, cl.msg) {
			b.Fatal("the echo differs from what was sent")
		}
		clients[i] = cl
	}

	b.ReportAllocs()
	var next atomic.Int64 // ops claimed
	start := make(chan struct{})
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for next.Add(1) <= int64(b.N) {
				if err := benchRoundTrip(cl.c, cl.msg, cl.buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAllocsPerRoundTrip is the allocations of one 64-byte round trip
// on one connection. The client runs in this goroutine and reuses its
// buffers, and nothing is subtracted: allocs/op includes the client's,
// which is ~0 (the std sub-benchmark, whose server allocates nothing per
// round trip either, shows the floor).
func BenchmarkAllocsPerRoundTrip(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			srv := benchServe(b, kind, 1)
			c := benchClient(b, srv.addr)
			msg := bytes.Repeat([]byte{'p'}, benchPingSize)
			buf := make([]byte, benchPingSize)
			for range 100 { // warm up: buffers and queues reach their steady size
				if err := benchRoundTrip(c, msg, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := benchRoundTrip(c, msg, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
		})
	}
}

// BenchmarkIdleMemory is the memory an idle connection holds: N clients
// connect and have one byte echoed each (so every server-side connection
// is fully set up), then stay idle. B/conn is the growth of live heap
// objects plus goroutine stacks (runtime/metrics after runtime.GC) divided
// by N, minus the clients' own cost; stackB/conn is the stacks' part.
//
// The clients are plain net.Conns held in a slice, the same in every
// sub-benchmark; their cost is estimated as half the cost of N bare
// connection pairs (a dialled conn and an accepted one, the same objects,
// held without goroutines), measured once per N and reported as
// clientB/conn. Whatever error remains in that estimate is the same in
// every sub-benchmark, so std is the baseline to compare with. The
// benchmark's own bookkeeping (the slices of conns and sockets) is
// allocated before the first measurement.
//
// The runtime never frees a goroutine's descriptor (g, a few hundred
// bytes) and reuses those of dead goroutines, so whether they were counted
// would depend on what ran before; enough goroutines are made and ended
// beforehand that none is counted in any sub-benchmark. Add a few hundred
// bytes per goroutine (goroutines/conn) for them. The figures are heap bytes, not
// RSS: a buffer that was allocated but never touched counts in full.
//
// ns/op is the time to open, measure and close the N connections.
// conns=10000 needs 20,000+ descriptors (both ends are in this process):
// it raises the soft limit up to the hard one, and skips when the hard
// limit (ulimit -Hn) is too low.
func BenchmarkIdleMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, echoed := range []int{1, 64 << 10} {
			for _, kind := range benchKinds {
				name := fmt.Sprintf("conns=%d/echoed=%s/%s", n, benchSize(echoed), kind)
				b.Run(name, func(b *testing.B) { benchIdle(b, kind, n, echoed) })
			}
		}
	}
}

// benchSize names a byte count the way the benchmarks' names do.
func benchSize(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// benchIdle measures n connections left idle after each echoed a message
// of the given size once: what a connection holds between bursts.
func benchIdle(b *testing.B, kind string, n, echoed int) {
	benchEnsureFDs(b, n)
	benchWarmGoroutines(4*n + 64) // nodenet-events: 4 goroutines per connection
	client := benchClientCost(b, n)
	b.ResetTimer()
	var sum benchIdleFigures
	for range b.N {
		f := benchIdleOnce(b, kind, n, echoed)
		sum.bytes += f.bytes
		sum.stacks += f.stacks
		sum.goroutines += f.goroutines
	}
	b.StopTimer()
	runs := float64(b.N)
	b.ReportMetric(sum.bytes/runs-client, "B/conn")
	b.ReportMetric(sum.stacks/runs, "stackB/conn")
	b.ReportMetric(client, "clientB/conn")
	b.ReportMetric(sum.goroutines/runs, "goroutines/conn")
}

// benchIdleFigures are per connection: live heap objects plus stacks,
// stacks alone, goroutines.
type benchIdleFigures struct{ bytes, stacks, goroutines float64 }

// benchIdleOnce opens n idle connections to a new server of the given kind
// and returns the growth of live memory and goroutines per connection.
func benchIdleOnce(b *testing.B, kind string, n, echoed int) benchIdleFigures {
	srv := benchListen(b, kind, n)
	clients := make([]net.Conn, 0, n)
	finish := func() {
		for _, c := range clients {
			c.Close()
		}
		srv.close(b)
	}
	msg, rb := bytes.Repeat([]byte{'i'}, echoed), make([]byte, echoed)

	g0 := runtime.NumGoroutine()
	h0, st0 := benchLive()
	for range n {
		c, err := benchDial(srv.addr)
		if err == nil {
			clients = append(clients, c)
			err = benchRoundTrip(c, msg, rb)
		}
		if err != nil {
			finish()
			b.Fatalf("connection %d of %d: %v", len(clients), n, err)
		}
	}
	h1, st1 := benchLive()
	g1 := runtime.NumGoroutine()
	finish()
	perConn := func(d int64) float64 { return float64(d) / float64(n) }
	return benchIdleFigures{
		bytes:      perConn(h1 + st1 - h0 - st0),
		stacks:     perConn(st1 - st0),
		goroutines: perConn(int64(g1 - g0)),
	}
}

// benchLive is the bytes of live heap objects and of goroutine stacks,
// after a full collection (two: the first frees the stacks of dead
// goroutines).
func benchLive() (heap, stacks int64) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	metrics.Read(s)
	return int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
}

// benchLiveBytes is benchLive's sum.
func benchLiveBytes() int64 {
	h, st := benchLive()
	return h + st
}

var benchClientCosts = map[int]float64{} // by number of connections

// benchClientCost estimates the live memory of one idle client conn: half
// that of a bare pair (dialled + accepted, held in slices, no goroutine).
func benchClientCost(b *testing.B, n int) float64 {
	if c, ok := benchClientCosts[n]; ok {
		return c
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	held := make([]net.Conn, 0, n)
	clients := make([]net.Conn, 0, n)
	accepted := make(chan error, 1)
	go func() {
		for len(held) < n {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			held = append(held, c)
		}
		accepted <- nil
	}()
	m0 := benchLiveBytes()
	var derr error
	for range n {
		c, err := benchDial(ln.Addr().String())
		if err != nil {
			derr = err
			break
		}
		clients = append(clients, c)
	}
	if derr != nil {
		ln.Close() // the accept loop returns
	}
	aerr := <-accepted
	m1 := benchLiveBytes()
	ln.Close()
	for _, c := range clients {
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	if err := errors.Join(derr, aerr); err != nil {
		b.Fatalf("bare connections: %v", err)
	}
	c := float64(m1-m0) / float64(n) / 2
	benchClientCosts[n] = c
	return c
}

var benchWarmed int // dead goroutine descriptors known to be available

// benchWarmGoroutines makes k goroutines exist at once and end, so the
// runtime has k descriptors to reuse and later goroutines allocate none.
func benchWarmGoroutines(k int) {
	if k <= benchWarmed {
		return
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(k)
	for range k {
		go func() {
			defer wg.Done()
			<-release
		}()
	}
	close(release)
	wg.Wait()
	benchWarmed = k
}

// BenchmarkConnects is connections per second: each op dials, has one
// byte echoed, and closes. 4×GOMAXPROCS clients dial in parallel. Each
// client close leaves a TIME_WAIT socket for 60 s: long runs rely on
// Linux reusing them for loopback (net.ipv4.tcp_tw_reuse, 2 by default),
// and connect(2) slows as they pile up, for both servers alike. The
// nodenet server keeps every socket it accepted until the end (to wait
// for its CloseEvent), a little live heap the std server does not have.
func BenchmarkConnects(b *testing.B) {
	for _, kind := range benchKinds[:2] { // std, nodenet-pipe
		b.Run(kind, func(b *testing.B) {
			srv := benchServe(b, kind, 0)
			b.ReportAllocs()
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				one, rb := []byte{'c'}, make([]byte, 1)
				for pb.Next() {
					c, err := benchDial(srv.addr)
					if err != nil {
						b.Error(err)
						return
					}
					err = benchRoundTrip(c, one, rb)
					c.Close()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
		})
	}
}

// benchProxyBytes is what one op of BenchmarkTLSProxy moves.
const benchProxyBytes = 100 << 20

// BenchmarkTLSProxy is a TLS-terminating proxy moving 100 MB between a Go
// TLS client and a plain TCP backend. up: the client writes 100 MB (64
// KiB writes), which the proxy decrypts and sends to a backend that reads
// and discards it (64 KiB reads); down: the backend writes 100 MB, which
// the proxy encrypts for the client, which reads it to the end. One op is
// one new connection carrying the 100 MB, timed until the last byte is
// read; MB/s is the proxy's throughput. cpu-us/MB is the process's CPU
// time (user and system, getrusage) per MB moved: client, proxy and
// backend together, a figure that other processes on the machine disturb
// less than MB/s. The client and the backend are the same in both
// sub-benchmarks of a direction; only the proxy differs:
//
//   - std: tls.Listen, and for each connection a net.Dial to the backend
//     and io.Copy both ways (the baseline);
//   - nodenet: a Server with ServerOptions.TLSConfig whose handler
//     connects a plain Socket to the backend and joins the two with Proxy.
func BenchmarkTLSProxy(b *testing.B) {
	for _, dir := range []string{"up", "down"} {
		for _, kind := range []string{"std", "nodenet"} {
			b.Run(dir+"/"+kind, func(b *testing.B) { benchTLSProxy(b, kind, dir == "down") })
		}
	}
}

func benchTLSProxy(b *testing.B, kind string, down bool) {
	backend := benchBackendListen(b, down)
	var addr string
	if kind == "std" {
		addr = benchStdTLSProxy(b, backend.port)
	} else {
		addr = benchNodenetTLSProxy(b, backend.port)
	}
	chunk := make([]byte, 64<<10)
	rand.Read(chunk)
	cfg := clientTLS(b)
	b.SetBytes(benchProxyBytes)
	b.ReportAllocs()
	cpu0 := benchCPU(b)
	b.ResetTimer()
	for range b.N {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(benchIOTimeout))
		var got int64
		if down {
			got, err = benchDrain(c, chunk) // to close_notify, the proxy's end
		} else {
			for sent := 0; sent < benchProxyBytes && err == nil; sent += len(chunk) {
				_, err = c.Write(chunk)
			}
			c.CloseWrite() // close_notify: the proxy ends the backend's side
			got = <-backend.got
		}
		c.Close()
		if err != nil || got != benchProxyBytes {
			b.Fatalf("%d bytes arrived, %v; want %d", got, err, benchProxyBytes)
		}
	}
	b.StopTimer()
	cpu := benchCPU(b) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/(float64(b.N)*benchProxyBytes/1e6), "cpu-us/MB")
}

// benchDrain reads c to its end into buf and returns how much it read.
func benchDrain(c net.Conn, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// benchBackend is the plain TCP backend: a sink that reads each
// connection to its end with a 64 KiB buffer and reports the count on got,
// or (down) a source that writes benchProxyBytes in 64 KiB writes; either
// closes the connection then.
type benchBackend struct {
	port int
	got  chan int64
}

func benchBackendListen(b *testing.B, source bool) *benchBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	be := &benchBackend{port: ln.Addr().(*net.TCPAddr).Port, got: make(chan int64, 1)}
	chunk := make([]byte, 64<<10)
	rand.Read(chunk)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(benchIOTimeout))
				if !source {
					n, _ := benchDrain(c, make([]byte, 64<<10))
					be.got <- n
					return
				}
				for sent := 0; sent < benchProxyBytes; sent += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return be
}

// benchStdTLSProxy is the baseline proxy; it returns its address. Cleanup
// closes it and waits for its goroutines.
func benchStdTLSProxy(b *testing.B, backend int) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS(b))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			front, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer front.Close()
				back, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", backend))
				if err != nil {
					b.Error(err)
					return
				}
				defer back.Close()
				up := make(chan struct{})
				go func() {
					io.Copy(back, front)
					back.(*net.TCPConn).CloseWrite()
					close(up)
				}()
				io.Copy(front, back)
				front.(*tls.Conn).CloseWrite()
				<-up
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// benchNodenetTLSProxy is nodenet's proxy; it returns its address.
// Cleanup shuts it down, which waits for its connections.
func benchNodenetTLSProxy(b *testing.B, backend int) string {
	srv := createServer(b, ServerOptions{TLSConfig: serverTLS(b)}, func(front *Socket) {
		back, err := Connect(ConnectOptions{Host: "127.0.0.1", Port: backend})
		if err != nil {
			b.Error(err)
			front.Destroy()
			return
		}
		if err := Proxy(front, back); err != nil {
			b.Error(err)
			front.Destroy()
			back.Destroy()
		}
	})
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), benchStopTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("nodenet proxy: Shutdown: %v", err)
		}
	})
	return srv.Address().String()
}
