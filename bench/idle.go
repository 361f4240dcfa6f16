package main

import (
	"context"
	"fmt"
	"time"
)

// How the idle figures wait for the server's memory to settle: it is
// sampled every settleTick until two samples differ by settleSlack KiB at
// most (or the config's settle time has passed).
const (
	settleTick  = 100 * time.Millisecond
	settleSlack = 64
)

// idle is the idle and idle64k figures: the growth of the server's
// resident memory when n connections are open and idle, each having had
// echo bytes echoed once, divided by n. The value is KiB per connection.
func idle(ctx context.Context, t target, n, echo int, settle time.Duration) (measurement, error) {
	before, err := settledRSS(ctx, t.pid, settle)
	if err != nil {
		return measurement{}, err
	}
	conns, err := openConns(ctx, t.addr, n, echo)
	defer closeAll(conns)
	if err != nil {
		return measurement{}, fmt.Errorf("connection %d of %d: %w", len(conns)+1, n, err)
	}
	after, err := settledRSS(ctx, t.pid, settle)
	if err != nil {
		return measurement{}, err
	}
	return unmeasured(float64(after-before)/float64(n), int64(n)*int64(echo)), nil
}

// settledRSS is process pid's resident memory in KiB once it has settled,
// or after settle.
func settledRSS(ctx context.Context, pid int, settle time.Duration) (int64, error) {
	rss, err := processRSS(pid)
	if err != nil || settle == 0 {
		return rss, err
	}
	deadline := time.Now().Add(settle)
	tick := time.NewTicker(settleTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		next, err := processRSS(pid)
		if err != nil {
			return 0, err
		}
		if d := next - rss; (d <= settleSlack && d >= -settleSlack) || time.Now().After(deadline) {
			return next, nil
		}
		rss = next
	}
}
