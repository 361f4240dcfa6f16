package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pingPong is the ppN figure: over n connections, each sends a
// pingSize-byte message, waits for its whole echo and checks it, then sends
// the next. The value is round trips per second, all connections
// together: with n connections a server has up to n messages to answer at
// once.
func pingPong(ctx context.Context, t target, w window, n int) (measurement, error) {
	conns, err := openConns(ctx, t.addr, n, 0)
	defer closeAll(conns)
	if err != nil {
		return measurement{}, err
	}
	deadline := time.Now().Add(w.warmup + w.dur + drainTimeout)
	var stop atomic.Bool
	var trips atomic.Int64
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		c.SetDeadline(deadline)
		wg.Go(func() { errs[i] = roundTrips(c, i, &stop, &trips) })
	}
	sp, err := w.run(ctx, t.pid, trips.Load)
	stop.Store(true)
	if err != nil {
		for _, c := range conns {
			c.SetDeadline(time.Now()) // interrupted: the goroutines return at once
		}
	}
	wg.Wait()
	if err != nil {
		return measurement{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return measurement{}, err
	}
	return sp.measurement(float64(sp.count)/sp.secs, float64(sp.count), trips.Load()*pingSize), nil
}

// roundTrips runs round trips on c, one at least and until stop, counting
// them in trips. Each message starts with its sequence number, so an echo
// of an earlier one does not pass.
func roundTrips(c net.Conn, id int, stop *atomic.Bool, trips *atomic.Int64) error {
	msg, got := make([]byte, pingSize), make([]byte, pingSize)
	for i := range msg {
		msg[i] = byte(id + i)
	}
	for seq := uint64(1); seq == 1 || !stop.Load(); seq++ {
		binary.LittleEndian.PutUint64(msg, seq)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return errBadEcho
		}
		trips.Add(1)
	}
	return nil
}

// dialers is how many connections openConns opens at once.
const dialers = 64

// openConns opens n connections to addr, dialers at a time, and has echo
// bytes echoed and checked once on each if echo > 0. On an error it
// returns it with the connections it opened.
func openConns(ctx context.Context, addr string, n, echo int) ([]*net.TCPConn, error) {
	var (
		mu    sync.Mutex
		conns = make([]*net.TCPConn, 0, n)
		errs  []error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	msg := bytes.Repeat([]byte{'i'}, echo)
	for range min(dialers, n) {
		wg.Go(func() {
			got := make([]byte, echo)
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				c, err := dial(addr)
				if err == nil && echo > 0 {
					if err = echoOnce(c, msg, got); err != nil {
						c.Close()
					}
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					next.Store(int64(n)) // the others stop too
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return conns, errs[0]
	}
	return conns, ctx.Err()
}

// echoOnce writes msg on c and reads its echo into got (as long as msg)
// within ioTimeout, and checks it.
func echoOnce(c net.Conn, msg, got []byte) error {
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errBadEcho
	}
	return c.SetDeadline(time.Time{})
}
