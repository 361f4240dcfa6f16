package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// churn is the churnK figure: k clients at once each connect, have a
// pingSize-byte message echoed and checked, and close, again and again.
// The value is connections per second, all clients together.
func churn(ctx context.Context, t target, w window, k int) (measurement, error) {
	var stop atomic.Bool
	var conns atomic.Int64
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() { errs[i] = connectLoop(t.addr, i, &stop, &conns) })
	}
	sp, err := w.run(ctx, t.pid, conns.Load)
	stop.Store(true) // each client returns within ioTimeout
	wg.Wait()
	if err != nil {
		return measurement{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return measurement{}, err
	}
	return sp.measurement(float64(sp.count)/sp.secs, float64(sp.count), conns.Load()*pingSize), nil
}

// connectLoop connects, has one message echoed and closes, once at least
// and until stop, counting the connections in conns.
func connectLoop(addr string, id int, stop *atomic.Bool, conns *atomic.Int64) error {
	msg, got := make([]byte, pingSize), make([]byte, pingSize)
	for i := range msg {
		msg[i] = byte('A' + (id+i)%26)
	}
	for first := true; first || !stop.Load(); first = false {
		c, err := dial(addr)
		if err != nil {
			return err
		}
		err = echoOnce(c, msg, got)
		c.Close()
		if err != nil {
			return err
		}
		conns.Add(1)
	}
	return nil
}
