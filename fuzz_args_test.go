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
		opts := ConnectOptions{Port: port, Host: host, LocalAddress: local, Path: path, HighWaterMark: hwm, MaxBufferSize: maxBuf}
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
		srv := CreateServer(ServerOptions{}, nil)
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
