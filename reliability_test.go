// Reliability under load: integrity of many connections, EMFILE, storms, concurrent calls.

package nodenet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// long selects the long forms of the load tests: go test -run Load -long.
var long = flag.Bool("long", false, "run the long forms of the load and fault tests")

// loadClient runs one client of TestLoadIntegrity: it streams a seeded
// random payload in random chunks through the Node-style write or Write,
// pauses and resumes its reading at random, goes idle at random (waits
// until the echo has caught up), half-closes, and checks that the echo it
// gets back is the payload, byte for byte.
func loadClient(port int, seed int64, maxSize int) error {
	rng := rand.New(rand.NewSource(seed))
	payload := make([]byte, 1+rng.Intn(maxSize))
	rng.Read(payload)
	nodeStyle := rng.Intn(2) == 0

	c, err := Connect(ConnectOptions{Port: port, Host: "127.0.0.1"})
	if err != nil {
		return err
	}
	var paused atomic.Bool
	var received, idleAt atomic.Int64 // bytes echoed back; the count an idle pause waits for
	caughtUp := make(chan struct{}, 1)
	var resumers sync.WaitGroup
	defer resumers.Wait()
	drained := make(chan struct{}, 1)
	result := make(chan error, 1)
	go func() {
		h := sha256.New()
		n := 0
		var closeEv CloseEvent
		sawEnd := false
		prng := rand.New(rand.NewSource(seed + 1))
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case DataEvent:
				h.Write(ev.Data)
				n += len(ev.Data)
				if got := received.Add(int64(len(ev.Data))); got >= idleAt.Load() && idleAt.Load() > 0 {
					select {
					case caughtUp <- struct{}{}:
					default:
					}
				}
				if prng.Intn(4) == 0 && !paused.Load() {
					// A short pause: reading stops, then goes on when
					// another goroutine resumes it, whatever the writer
					// is waiting for.
					paused.Store(true)
					c.Pause()
					resumers.Add(1)
					yields := prng.Intn(20)
					go func() {
						defer resumers.Done()
						for range yields {
							runtime.Gosched()
						}
						paused.Store(false)
						c.Resume()
					}()
				}
			case DrainEvent:
				select {
				case drained <- struct{}{}:
				default:
				}
			case EndEvent:
				sawEnd = true
			case CloseEvent:
				closeEv = ev
			case ErrorEvent:
				result <- ev.Err
				c.Destroy()
				for range c.Events() {
				}
				return
			}
		}
		switch {
		case closeEv.HadError || !sawEnd:
			result <- fmt.Errorf("seed %d: end %v, %v", seed, sawEnd, closeEv)
		case n != len(payload) || !bytes.Equal(h.Sum(nil), sum(payload)):
			result <- fmt.Errorf("seed %d: echoed %d of %d bytes, or different ones", seed, n, len(payload))
		default:
			result <- nil
		}
	}()

	for off := 0; off < len(payload); {
		end := min(off+1+rng.Intn(64<<10), len(payload))
		chunk := payload[off:end]
		off = end
		if nodeStyle {
			ok, err := c.Send(chunk, nil)
			if err != nil {
				c.Destroy()
				break
			}
			if !ok {
				// Node's loop: wait for the drain before writing more.
				select {
				case <-drained:
				case <-time.After(testTimeout):
					c.Destroy()
					return fmt.Errorf("seed %d: no drain", seed)
				}
			}
		} else if _, err := c.Write(chunk); err != nil {
			c.Destroy()
			break
		}
		if rng.Intn(16) == 0 {
			// An idle pause: wait until everything sent has come back,
			// so the connection is quiet both ways for a moment.
			idleAt.Store(int64(off))
			for received.Load() < int64(off) {
				select {
				case <-caughtUp:
				case <-time.After(testTimeout):
					c.Destroy()
					return fmt.Errorf("seed %d: the echo never caught up", seed)
				}
			}
			idleAt.Store(0)
		}
	}
	c.End()
	select {
	case err := <-result:
		return err
	case <-time.After(testTimeout):
		c.Destroy()
		return fmt.Errorf("seed %d: did not finish", seed)
	}
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestLoadIntegrity: many concurrent connections stream random payloads
// through an echo server both ways, with random chunk sizes, pauses and
// half-closes; not a byte is lost, repeated or reordered, every socket
// closes, and no goroutine or descriptor remains. Short form: 50
// connections of up to 256 KiB; -long: 500 of up to 1 MiB.
func TestLoadIntegrity(t *testing.T) {
	conns, maxSize := 50, 256<<10
	if *long {
		conns, maxSize = 500, 1<<20
	}
	before := openFDs(t)
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	if err := srv.Listen(0, "127.0.0.1", conns); err != nil {
		t.Fatal(err)
	}
	port := srv.Address().Port

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loadClient(port, int64(i), maxSize); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Fatalf("Shutdown: %v (connections left: %d)", err, srv.Connections())
	}
	if after := openFDs(t); after > before {
		t.Errorf("open descriptors: %d before, %d after", before, after)
	}
}

// TestAcceptBackoffEMFILE: out of descriptors, the accept loop reports
// the error, backs off (5 ms doubling to 1 s) instead of spinning, and
// serves again once descriptors are free.
func TestAcceptBackoffEMFILE(t *testing.T) {
	acceptBackoffEMFILE(t) // sys_unix_test.go: it lowers RLIMIT_NOFILE, which Windows lacks
}

// TestCloseDuringConnectStorm: Close and Shutdown while many clients
// connect; every socket accepted before the close is closed by Shutdown's
// end, no goroutine leaks, and no connect hangs.
func TestCloseDuringConnectStorm(t *testing.T) {
	srv := createServer(t, ServerOptions{}, func(c *Socket) { c.Pipe(c) })
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		t.Fatal(err)
	}
	port := srv.Address().Port
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Connect(ConnectOptions{Port: port, Host: "127.0.0.1"})
			if err != nil {
				t.Error(err)
				return
			}
			c.EndString("storm", "")
			for range c.Events() {
			}
		}()
		if i == 32 {
			if err := srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	}
	wg.Wait()
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("Connections() = %d after Shutdown", n)
	}
}

// TestConcurrentCalls: Destroy from many goroutines while others write,
// end, pause and resume: no panic, no deadlock, one CloseEvent.
func TestConcurrentCalls(t *testing.T) {
	for round := 0; round < 20; round++ {
		s, raw := rawPair(t, ConnectOptions{})
		go func() { raw.ReadFrom(bytes.NewReader(nil)); readAllQuiet(raw) }()
		var closes atomic.Int32
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range s.Events() {
				if _, ok := ev.(CloseEvent); ok {
					closes.Add(1)
				}
			}
		}()
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					switch (g + i) % 6 {
					case 0:
						s.Send([]byte("x"), nil)
					case 1:
						s.Write([]byte("y"))
					case 2:
						s.Pause()
					case 3:
						s.Resume()
					case 4:
						s.End()
					case 5:
						if i > 25 {
							s.Destroy()
						}
					}
				}
			}()
		}
		wg.Wait()
		s.Destroy()
		<-done
		if n := closes.Load(); n != 1 {
			t.Fatalf("round %d: %d CloseEvents; want 1", round, n)
		}
	}
}

func readAllQuiet(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// TestUnixSocketFile: the socket file is removed on Close; a live socket
// on the path gives EADDRINUSE; a stale file left by a process that died
// also gives EADDRINUSE (see the README), and listening works once it is
// removed.
func TestUnixSocketFile(t *testing.T) {
	path := sockPath(t)
	a := createServer(t, ServerOptions{}, nil)
	if err := a.ListenUnix(path); err != nil {
		t.Fatal(err)
	}
	b := createServer(t, ServerOptions{}, nil)
	err := b.ListenUnix(path)
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != "EADDRINUSE" {
		t.Errorf("ListenUnix on a live socket's path = %v; want EADDRINUSE", err)
	}
	a.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v; want it removed", err)
	}

	// A stale socket file: bound by a listener that is gone without
	// unlinking it, as after a crash.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if err := b.ListenUnix(path); !errors.As(err, &ne) || ne.Code != "EADDRINUSE" {
		t.Errorf("ListenUnix on a stale socket file = %v; want EADDRINUSE", err)
	}
	os.Remove(path)
	if err := b.ListenUnix(path); err != nil {
		t.Errorf("ListenUnix after removing the stale file: %v", err)
	}
	b.Close()
}
