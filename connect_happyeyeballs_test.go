// Happy Eyeballs: the attempts over both address families, their delay, timeout and errors.

package nodenet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withoutAttempts is evs without the connection attempt events.
func withoutAttempts(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		switch ev.(type) {
		case ConnectionAttemptEvent, ConnectionAttemptFailedEvent:
		default:
			out = append(out, ev)
		}
	}
	return out
}

// isPrefix reports whether got is want or its beginning.
func isPrefix(got, want []string) bool {
	return len(got) <= len(want) && strings.Join(got, "|") == strings.Join(want[:len(got)], "|")
}

// TestBeyondHappyEyeballsFallback proves that a host with two addresses,
// the first refusing, connects to the second: with ReportAttempts the
// events are connectionAttempt, connectionAttemptFailed (ECONNREFUSED)
// for the first, connectionAttempt for the second, then connect, each
// with its address and port; without it, only connect.
func TestBeyondHappyEyeballsFallback(t *testing.T) {
	for _, tg := range dualTargets(t) {
		for _, report := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s,ReportAttempts=%v", tg.name, report), func(t *testing.T) {
				srv, port := dualPortServer(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, tg.second,
					func(port int) error { _, err := rawSocket(t, tg.first, port, false); return err })
				r := recordServer(t, srv)
				c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: report})
				rc := recordConnected(t, c)
				if got := c.RemoteAddress(); got != tg.second.String() {
					t.Errorf("RemoteAddress() = %q; want %q", got, tg.second)
				}
				r.waitConnection(1)
				evs := rc.events()
				want := "connect"
				if report {
					want = "connectionAttempt connectionAttemptFailed connectionAttempt connect"
				}
				if got := names(evs); got != want {
					t.Errorf("events = %q; want %q", got, want)
				}
				if !report {
					return
				}
				wantAttempts := []string{"attempt " + tg.first.String(), "failed " + tg.first.String() + " ECONNREFUSED", "attempt " + tg.second.String()}
				if got := attemptNames(evs); strings.Join(got, ", ") != strings.Join(wantAttempts, ", ") {
					t.Errorf("attempts = %q; want %q", got, wantAttempts)
				}
				for _, ev := range evs {
					if e, ok := ev.(ConnectionAttemptEvent); ok && e.Address.Port != port {
						t.Errorf("%+v: port %d; want %d", e, e.Address.Port, port)
					}
				}
			})
		}
	}
}

// TestBeyondHappyEyeballsAllRefused proves that when every address
// refuses, one ErrorEvent comes, after the attempt events: an *Error
// ECONNREFUSED from connect for
// host:port, for which errors.Is(err, syscall.ECONNREFUSED) holds, and
// whose cause joins both attempts' errors, each with its address.
func TestBeyondHappyEyeballsAllRefused(t *testing.T) {
	for _, tg := range dualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			port := portOnBoth(t, tg.first, tg.second, func(ip netip.Addr, p int) (int, error) { return rawSocket(t, ip, p, false) })
			c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true})
			evs := record(t, c).wait()
			// Attempt events not yet delivered when the connect fails are
			// lost (TestBeyondHappyEyeballsEventsKept): those that come
			// must be the first ones, in order.
			if got, want := names(withoutAttempts(evs)), "error(connect ECONNREFUSED) close(true)"; got != want {
				t.Errorf("events = %q; want the attempts, then %q", names(evs), want)
			}
			wantAttempts := []string{
				"attempt " + tg.first.String(), "failed " + tg.first.String() + " ECONNREFUSED",
				"attempt " + tg.second.String(), "failed " + tg.second.String() + " ECONNREFUSED",
			}
			if got := attemptNames(evs); !isPrefix(got, wantAttempts) {
				t.Errorf("attempts = %q; want %q, or its beginning", got, wantAttempts)
			}
			err := onlyError(t, evs)
			if err == nil {
				return
			}
			checkSysError(t, "the error of a connect refused everywhere", err, "ECONNREFUSED", "connect", syscall.ECONNREFUSED)
			var ne *Error
			if !errors.As(err, &ne) {
				return
			}
			if want := net.JoinHostPort(tg.host, fmt.Sprint(port)); ne.Address != want {
				t.Errorf("Address = %q; want %q", ne.Address, want)
			}
			joined, ok := ne.Err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("the cause %v (%T) does not join the attempts' errors", ne.Err, ne.Err)
			}
			var got []string
			for _, e := range joined.Unwrap() {
				var ae *Error
				if errors.As(e, &ae) {
					got = append(got, ae.Address+" "+ae.Code)
				} else {
					got = append(got, fmt.Sprintf("%T %v", e, e))
				}
			}
			want := []string{
				netip.AddrPortFrom(tg.first, uint16(port)).String() + " ECONNREFUSED",
				netip.AddrPortFrom(tg.second, uint16(port)).String() + " ECONNREFUSED",
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("joined errors = %q; want %q", got, want)
			}
		})
	}
}

// TestBeyondHappyEyeballsEventsKept proves that a failed connect keeps
// its attempt events: a consumer that reads the events only once the
// socket has closed gets every connectionAttempt and
// connectionAttemptFailed, then the error and the close.
func TestBeyondHappyEyeballsEventsKept(t *testing.T) {
	for _, tg := range dualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			port := portOnBoth(t, tg.first, tg.second, func(ip netip.Addr, p int) (int, error) { return rawSocket(t, ip, p, false) })
			c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true})
			ch := c.Events()
			waitUntil(t, "the connect to fail", func() bool { return !(c.ReadyState() == "opening") })
			evs := untilClosed(t, "the events", ch)
			if got, want := names(evs), "connectionAttempt connectionAttemptFailed connectionAttempt connectionAttemptFailed error(connect ECONNREFUSED) close(true)"; got != want {
				t.Errorf("events read after the close = %q; want %q", got, want)
			}
		})
	}
}

// TestBeyondHappyEyeballsAttemptDelay proves the attempt delay: the first
// address hangs (a full backlog), the second, on the same port, is a
// server; the second attempt starts after AttemptDelay (250 ms when 0),
// not before, the connect succeeds there without waiting for the hang,
// and the hanging attempt is abandoned without an event (nor, as the
// package's leak check tells, a goroutine).
func TestBeyondHappyEyeballsAttemptDelay(t *testing.T) {
	for _, tg := range dualTargets(t) {
		for _, delay := range []time.Duration{30 * time.Millisecond, 0} {
			t.Run(fmt.Sprintf("%s,%v", tg.name, delay), func(t *testing.T) {
				srv, port := dualPortServer(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, tg.second,
					func(port int) error { _, err := hangingListener(t, tg.first, port); return err })
				r := recordServer(t, srv)
				start := time.Now()
				c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true, AttemptDelay: delay})
				rc := recordConnected(t, c)
				elapsed := time.Since(start)
				r.waitConnection(1)
				if least := durationOr(delay, defaultAttemptDelay); elapsed < least {
					t.Errorf("connected after %v; want the second attempt no sooner than the %v attempt delay", elapsed, least)
				}
				if got, want := names(rc.events()), "connectionAttempt connectionAttempt connect"; got != want {
					t.Errorf("events = %q; want %q", got, want)
				}
				want := []string{"attempt " + tg.first.String(), "attempt " + tg.second.String()}
				if got := attemptNames(rc.events()); strings.Join(got, ", ") != strings.Join(want, ", ") {
					t.Errorf("attempts = %q; want %q", got, want)
				}
				if got := c.RemoteAddress(); got != tg.second.String() {
					t.Errorf("RemoteAddress() = %q; want %q", got, tg.second)
				}
			})
		}
	}
}

// durationOr is d, or def when d is 0.
func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestBeyondHappyEyeballsTimeout proves that Timeout bounds the whole race:
// both addresses hang, and the connect fails with ETIMEDOUT after the
// Timeout, having tried both.
func TestBeyondHappyEyeballsTimeout(t *testing.T) {
	for _, tg := range dualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			port := portOnBoth(t, tg.first, tg.second, func(ip netip.Addr, p int) (int, error) { return hangingListener(t, ip, p) })
			c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true,
				AttemptDelay: 10 * time.Millisecond, Timeout: 60 * time.Millisecond})
			evs := record(t, c).wait()
			// Attempt events not yet delivered when the connect fails are
			// lost (TestBeyondHappyEyeballsEventsKept), and failures may be
			// told (TestBeyondHappyEyeballsTimeoutNotFailed): the attempts
			// that are told must be the first ones, in order.
			if got, want := names(withoutAttempts(evs)), "error(connect ETIMEDOUT) close(true)"; got != want {
				t.Errorf("events = %q; want the attempts, then %q", names(evs), want)
			}
			var started []string
			for _, a := range attemptNames(evs) {
				if strings.HasPrefix(a, "attempt ") {
					started = append(started, a)
				}
			}
			if want := []string{"attempt " + tg.first.String(), "attempt " + tg.second.String()}; !isPrefix(started, want) {
				t.Errorf("attempts started = %q; want %q, or its beginning", started, want)
			}
			if err := onlyError(t, evs); err != nil {
				checkSysError(t, "the error of a timed-out race", err, "ETIMEDOUT", "connect", syscall.ETIMEDOUT)
			}
		})
	}
}

// TestBeyondHappyEyeballsTimeoutNotFailed proves that the attempts that
// the Timeout stops are not reported as connectionAttemptFailed, as those
// stopped by a cancelled context are not: the events are the
// connectionAttempts (two, unless the machine is so loaded that the first
// outlives the Timeout before the second starts), the ETIMEDOUT error and
// the close. It tries 10 times, since the race it guards against came
// most of the time, not always.
func TestBeyondHappyEyeballsTimeoutNotFailed(t *testing.T) {
	for _, tg := range dualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			port := portOnBoth(t, tg.first, tg.second, func(ip netip.Addr, p int) (int, error) { return hangingListener(t, ip, p) })
			for i := range 10 {
				c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true,
					AttemptDelay: 10 * time.Millisecond, Timeout: 40 * time.Millisecond})
				got := names(record(t, c).wait())
				two := "connectionAttempt connectionAttempt error(connect ETIMEDOUT) close(true)"
				one := "connectionAttempt error(connect ETIMEDOUT) close(true)"
				if got != two && got != one {
					t.Fatalf("try %d: events = %q; want %q (or, on a loaded machine, %q)", i, got, two, one)
				}
			}
		})
	}
}
