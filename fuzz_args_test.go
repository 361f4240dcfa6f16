// Fuzz tests of argument validation: Connect, Listen, the flow marks, BlockList.

package nodenet

import (
	"errors"
	"testing"
)

// FuzzConnectOptions checks the validation of Connect's options: it never
// panics, every rejection wraps ErrInvalidArgument, and what must be
// refused is. It validates only: no connection is attempted, so no
// packet can go to an address the fuzzer made up.
func FuzzConnectOptions(f *testing.F) {
	f.Add(80, "localhost", "", "", 0, 0)
	f.Add(-1, "", "", "", 0, 0)
	f.Add(65536, "::1", "127.0.0.1", "", 0, 0)
	f.Add(0, "", "", "/tmp/x.sock", -5, 0)
	f.Add(1, "h", "not an ip", "", 16, -1)
	f.Fuzz(func(t *testing.T, port int, host, local, path string, hwm, maxBuf int) {
		opts := ConnectOptions{Port: port, Host: host, LocalAddress: local, Path: path, Flow: Flow{HighWaterMark: hwm, MaxBufferSize: maxBuf}}
		err := opts.validate()
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("validate(%+v) = %v; want an error wrapping ErrInvalidArgument", opts, err)
		}
		mustFail := hwm < 0 || maxBuf < 0 ||
			(path == "" && (port <= 0 || port > 65535 || (local != "" && IsIP(local) == 0)))
		if mustFail && err == nil {
			t.Fatalf("validate(%+v) = nil; want an error", opts)
		}
		if !mustFail && err != nil {
			t.Fatalf("validate(%+v) = %v; want nil", opts, err)
		}
	})
}

// FuzzListenArguments calls Listen with arbitrary ports, hosts and
// backlogs: it never panics or hangs, argument errors wrap
// ErrInvalidArgument, other failures are *Error values, and a successful
// listen closes cleanly. Names are looked up with an offline resolver,
// and binding an address sends nothing on the network.
func FuzzListenArguments(f *testing.F) {
	f.Add(0, "127.0.0.1", 0)
	f.Add(-1, "", 0)
	f.Add(65536, "::1", 5)
	f.Add(0, "no.such.host.invalid", 0)
	f.Add(0, "[::1]", -1)
	f.Add(0, "256.1.1.1", 1)
	f.Fuzz(func(t *testing.T, port int, host string, backlog int) {
		offlineDNS(t)
		if port > 0 && port < 1024 {
			port += 40000 // stay off the well-known ports of this machine
		}
		srv := createServer(t, ServerOptions{}, nil)
		err := srv.Listen(port, host, backlog)
		var ne *Error
		switch {
		case err == nil:
			if err := srv.Close(); err != nil {
				t.Fatalf("Close after a successful Listen: %v", err)
			}
		case errors.Is(err, ErrInvalidArgument):
			if port >= 0 && port <= 65535 && backlog >= 0 {
				t.Fatalf("Listen(%d, %q, %d) = %v: valid arguments refused", port, host, backlog, err)
			}
		case errors.As(err, &ne):
		default:
			t.Fatalf("Listen(%d, %q, %d) = %v (%T); want nil, ErrInvalidArgument or *Error", port, host, backlog, err, err)
		}
	})
}

// FuzzFlowMarks checks the marks of every options type and of a
// reconnect: no panic, every refusal wraps ErrInvalidArgument, and an
// accepted set of marks keeps 0 <= LowWaterMark < HighWaterMark and a
// positive read mark, the invariants the write and read paths rely on.
func FuzzFlowMarks(f *testing.F) {
	f.Add(0, 0, 0, 0, 0, 0, 0)
	f.Add(1024, 256, 0, 0, 4096, 0, 0)
	f.Add(16, 16, 0, 0, 0, 8, 0)
	f.Add(-1, 0, -1, 0, 0, 0, -1)
	f.Fuzz(func(t *testing.T, high, low, readHigh, maxBuf, reHigh, reLow, reRead int) {
		f1, err := newFlow(high, low, readHigh, maxBuf, Framing{})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("newFlow(%d, %d, %d, %d) = %v; want ErrInvalidArgument", high, low, readHigh, maxBuf, err)
			}
			return
		}
		checkFlow(t, f1)
		o := ConnectOptions{Path: "unused", Flow: Flow{HighWaterMark: reHigh, LowWaterMark: reLow, ReadHighWaterMark: reRead}}
		if o.validate() != nil && (reHigh >= 0 && reLow >= 0 && reRead >= 0) {
			t.Fatalf("validate(%+v) refused marks that are each valid", o)
		}
		if o.validate() != nil {
			return
		}
		f2, err := f1.reconnect(o)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("reconnect = %v; want ErrInvalidArgument", err)
			}
			return
		}
		checkFlow(t, f2)
	})
}

func checkFlow(t *testing.T, f flow) {
	t.Helper()
	if f.lwm < 0 || f.lwm >= f.hwm || f.rhwm <= 0 || f.maxBuffer < 0 {
		t.Fatalf("accepted marks %+v break 0 <= lwm < hwm, rhwm > 0, maxBuffer >= 0", f)
	}
}

// FuzzBlockList feeds arbitrary strings to a BlockList: no panic, every
// refusal wraps ErrInvalidArgument, and an address accepted by
// AddAddress, or the ends of an accepted range, are then blocked.
func FuzzBlockList(f *testing.F) {
	f.Add("10.0.0.1", "10.0.0.9", "10.0.0.0/8")
	f.Add("::1", "::ffff:1.2.3.4", "::ffff:0.0.0.0/96")
	f.Add("fe80::1%eth0", "1.1.1.1", "x/33")
	f.Fuzz(func(t *testing.T, a, b, cidr string) {
		var bl BlockList
		for _, err := range []error{bl.AddAddress(a), bl.AddRange(a, b), bl.AddSubnet(cidr)} {
			if err != nil && !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("BlockList refused %q/%q/%q with %v; want ErrInvalidArgument", a, b, cidr, err)
			}
		}
		var one BlockList
		if one.AddAddress(a) == nil && !one.Check(a) {
			t.Fatalf("AddAddress(%q) then Check(%q) = false", a, a)
		}
		var r BlockList
		if r.AddRange(a, b) == nil && (!r.Check(a) || !r.Check(b)) {
			t.Fatalf("AddRange(%q, %q) does not block its ends", a, b)
		}
		bl.Rules()
		bl.Check(b)
	})
}
